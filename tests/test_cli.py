"""The command line: thin, explicit, exit codes 0, 1 and 2."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from scolpass import csvfile
from scolpass.cli import cli, main

from .conftest import ROOT, SAMPLES, csv_text, row

CONFIG = str(SAMPLES / "scolpass.toml")
ENROLMENT = str(SAMPLES / "enrolment.csv")


def test_generate_reports_and_announces_a_new_registry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["generate", ENROLMENT, "--config", CONFIG, "--registry", str(tmp_path / "r.sqlite3")]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    out, err = capsys.readouterr()
    assert "SCOL'PASS 2026/2027: 11 new, 0 returning" in out
    assert f"Output folder: {tmp_path / 'a'}" in out
    assert "11 accounts" in out
    assert f"created a new registry at {tmp_path / 'r.sqlite3'}" in err

    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    out, err = capsys.readouterr()
    assert "0 new, 11 returning" in out
    assert "created a new registry" not in err


def test_bad_input_exits_1_with_located_message_and_writes_nothing(
    tmp_path: Path, write_csv: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write_csv([row("1"), row("2", birth_date="31/02/2008")])
    code = main(
        ["generate", str(bad), "--config", CONFIG, "--out", str(tmp_path / "o"), "--registry", str(tmp_path / "r")]
    )
    out, err = capsys.readouterr()
    assert code == 1
    assert err == "Error: enrolment.csv:3: column 'birth_date': '31/02/2008': is not a valid date (DD/MM/YYYY)\n"
    assert out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["enrolment.csv"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["generate", "missing.csv", "--config", CONFIG], "missing.csv: cannot be read"),
        (["generate", ENROLMENT, "--config", "missing.toml"], "missing.toml: configuration file not found"),
        (["generate", ENROLMENT, "--config", CONFIG, "--year", "2025"], "contradicts --year 2025"),
    ],
    ids=["missing-enrolment", "missing-config", "year-contradicts-file"],
)
def test_errors_exit_1_without_traceback(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(args) == 1
    err = capsys.readouterr().err
    assert message in err
    assert err.startswith("Error: ")
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_no_config_hints_at_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["generate", ENROLMENT]) == 1
    assert "run 'scolpass init'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ["generate"],
        ["generate", ENROLMENT, "--year", "soon"],
        ["generate", ENROLMENT, "--colour", "red"],
        ["frobnicate"],
    ],
    ids=["no-file", "bad-year", "unknown-option", "unknown-command"],
)
def test_usage_errors_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    assert "Usage:" in capsys.readouterr().err


def test_init_into_a_missing_folder_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", str(tmp_path / "nodir" / "x.toml")]) == 1
    err = capsys.readouterr().err
    assert "cannot write the configuration" in err
    assert "Traceback" not in err


def test_init_writes_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    assert "[university]" in (tmp_path / "scolpass.toml").read_text()
    assert main(["init"]) == 1
    assert "never overwrites" in capsys.readouterr().err
    # The unedited template is refused, naming what to fill in.
    assert main(["generate", ENROLMENT]) == 1
    assert "[university] name is empty" in capsys.readouterr().err


COMMANDS = [[], *[[name] for name in cli.commands], *[["registry", name] for name in ("import", "purge")]]


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) or "scolpass" for c in COMMANDS])
def test_every_command_explains_itself_with_an_example(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Example:" in out
    assert "scolpass" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("scolpass, version ")


def test_unwritable_output_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("")
    args = ["generate", ENROLMENT, "--config", CONFIG, "--out", str(tmp_path / "file" / "out")]
    assert main([*args, "--registry", str(tmp_path / "r.sqlite3")]) == 1
    err = capsys.readouterr().err
    assert "cannot write the output" in err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_unused_columns_are_named(
    tmp_path: Path, write_csv: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from .conftest import HEADER

    path = write_csv([{**row(), "LIB_NOM_USU": "DURAND"}], header=(*HEADER, "LIB_NOM_USU"))
    args = ["generate", str(path), "--config", CONFIG, "--year", "2026", "--out", str(tmp_path / "o")]
    assert main([*args, "--registry", str(tmp_path / "r.sqlite3")]) == 0
    assert "columns not used: LIB_NOM_USU" in capsys.readouterr().err


def test_check_prints_a_summary_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["check", ENROLMENT, "--config", CONFIG]) == 0
    out = capsys.readouterr().out
    assert "enrolment.csv: UTF-8 with BOM, separator ';'" in out
    assert "12 rows, 11 students, 12 programme steps, 4 faculties; academic year 2026/2027" in out
    assert "No problem found." in out
    assert list(tmp_path.iterdir()) == []


def test_check_json_on_a_good_and_a_bad_file(
    tmp_path: Path, write_csv: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", ENROLMENT, "--config", CONFIG, "--json"]) == 0
    good = json.loads(capsys.readouterr().out)
    assert good["ok"] is True
    assert (good["students"], good["encoding"], good["separator"]) == (11, "UTF-8 with BOM", ";")
    bad = write_csv([row("1"), row("2", birth_date="31/02/2008"), row("3", sex="X")])
    assert main(["check", str(bad), "--config", CONFIG, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert [(p["line"], p["column"]) for p in report["problems"]] == [(3, "birth_date"), (4, "sex")]


def test_check_without_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["check", ENROLMENT]) == 0
    assert "No configuration: the sheet's layout and [columns] were not checked." in capsys.readouterr().out


def test_forced_encoding_and_separator(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "e.txt"
    path.write_bytes(csv_text([row(first_name="Zoé")], separator="\t").encode("utf-16"))
    assert main(["check", str(path), "--config", CONFIG, "--encoding", "UTF-16", "--separator", "tab", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["encoding"] == "UTF-16"


def test_generate_skip_invalid(
    tmp_path: Path, write_csv: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write_csv([row("1"), row("2", birth_date="31/02/2008")])
    args = ["generate", str(bad), "--config", CONFIG, "--year", "2026", "--out", str(tmp_path / "o")]
    # 3: done, with students set aside, which a nightly job tells from a clean run (0).
    assert main([*args, "--registry", str(tmp_path / "r.sqlite3"), "--skip-invalid"]) == 3
    out, err = capsys.readouterr()
    assert "1 new, 0 returning, 1 skipped" in out
    assert "rejected.csv" in out
    assert "skipped: enrolment.csv:3: column 'birth_date'" in err


def test_registry_import_reserves_logins(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    staff = tmp_path / "staff.csv"
    staff.write_text("uid;mail\njean.martin;jean.martin@umontpellier.fr\nadmin-ent;ent@umontpellier.fr\n")
    registry = str(tmp_path / "r.sqlite3")
    assert main(["registry", "import", str(staff), "--registry", registry]) == 0
    out, err = capsys.readouterr()
    assert "staff.csv: 3 logins read, 3 newly reserved; 3 reserved in all" in out
    assert "created a new registry" in err
    args = ["generate", ENROLMENT, "--config", CONFIG, "--registry", registry, "--out", str(tmp_path / "o")]
    assert main(args) == 0
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    ids = {s["student_number"]: s["identifier"] for s in manifest["students"]}
    assert (ids["00012345"], ids["00012346"]) == ("jean.martin2", "jean.martin3")


def test_plaintext_credentials_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["generate", ENROLMENT, "--config", CONFIG, "--registry", str(tmp_path / "r"), "--out", str(tmp_path / "o")]
    assert main([*args, "--plaintext-credentials", "--csv-excel"]) == 0
    assert "credentials.csv will hold every provisional password in clear" in capsys.readouterr().err
    header = (tmp_path / "o" / "credentials.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.endswith(";password_hash;password")


def test_check_shows_the_password_entropy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", ENROLMENT, "--config", CONFIG]) == 0
    assert "Provisional passwords: 87.0 bits of entropy" in capsys.readouterr().out


@pytest.mark.parametrize("language", ["fr", "en"])
def test_preview_writes_one_sample_sheet(tmp_path: Path, capsys: pytest.CaptureFixture[str], language: str) -> None:
    from .conftest import page_texts

    out = tmp_path / "p.pdf"
    assert main(["preview", "--config", CONFIG, "--lang", language, "--out", str(out)]) == 0
    (text,) = page_texts(out)
    assert ("Mot de passe provisoire" if language == "fr" else "Temporary password") in text
    assert "KERGUELEN" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.pdf"]  # no registry, no output folder
    assert main(["preview", "--config", CONFIG, "--lang", "xx", "--out", str(out)]) == 1
    assert "template not found for language 'xx'" in capsys.readouterr().err


def test_language_column_chooses_per_student(
    tmp_path: Path, write_csv: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from .conftest import HEADER, sheet_texts

    rows = [row("1", language="en"), row("2", birth_date="02/02/2006", language="FR")]
    args = ["generate", str(write_csv(rows, header=(*HEADER, "language"))), "--config", CONFIG, "--year", "2026"]
    assert main([*args, "--out", str(tmp_path / "o"), "--registry", str(tmp_path / "r")]) == 0
    languages = {"en" if "Temporary password" in t else "fr" for t in sheet_texts(tmp_path / "o").values()}
    assert languages == {"en", "fr"}
    bad = write_csv([row("3", language="de")], name="bad.csv", header=(*HEADER, "language"))
    assert main(["check", str(bad), "--config", CONFIG]) == 1
    assert "column 'language': 'de': is not a language of the sheet templates (en, fr)" in capsys.readouterr().err


def test_encrypt_pdf_asks_the_password_twice_without_echo(tmp_path: Path) -> None:
    import pikepdf
    from click.testing import CliRunner

    args = ["generate", ENROLMENT, "--config", CONFIG, "--registry", str(tmp_path / "r"), "--encrypt-pdf"]
    secret = "print shop 2026, box 4"
    mismatch = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "a")], input=f"{secret}\nother one here\n" * 3)
    assert mismatch.exit_code != 0
    assert not (tmp_path / "a").exists()
    result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "b")], input=f"{secret}\n{secret}\n")
    assert result.exit_code == 0, result.output
    assert secret not in result.output  # asked without echo
    with pikepdf.open(tmp_path / "b" / "sheets-droit.pdf", password=secret) as pdf:
        assert pdf.encryption.bits == 256


def test_encrypt_pdf_from_a_private_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pikepdf

    secret_file = tmp_path / "pdf-password"
    secret_file.write_text("print shop 2026, box 4\n")
    args = ["generate", ENROLMENT, "--config", CONFIG, "--registry", str(tmp_path / "r"), "--out", str(tmp_path / "o")]
    secret_file.chmod(0o644)
    assert main([*args, "--pdf-password-file", str(secret_file)]) == 1
    assert "other users may read this PDF password file (mode 0644); run 'chmod 600" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    secret_file.chmod(0o600)
    assert main([*args, "--pdf-password-file", str(secret_file)]) == 0
    with pytest.raises(pikepdf.PasswordError):
        pikepdf.open(tmp_path / "o" / "sheets-droit.pdf")
    with pikepdf.open(tmp_path / "o" / "sheets-droit.pdf", password="print shop 2026, box 4") as pdf:
        assert len(pdf.pages) > 1


def _sparse(path: Path) -> None:
    with path.open("wb") as file:
        file.truncate(csvfile.MAX_FILE_BYTES + 1)


LIMITS = [
    (_sparse, "e.csv: is 536,870,913 bytes (512 MiB); scolpass reads at most 536,870,912 bytes (512 MiB): "),
    (  # a blank line and Excel's ";;;" are no rows
        lambda p: p.write_text(
            csv_text([row("1"), row("2")]) + "\r\n;;;\r\n" + csv_text([row("3")]).split("\r\n", 1)[1]
        ),
        "e.csv:6: is row 3; scolpass reads at most 2 rows: check that this is the enrolment export",
    ),
    (
        lambda p: p.write_text(csv_text([row("1")]) + '2;"MARTIN;' + "Jean;17/04/2007;ECO;E1;L1\n" * 10_000),
        "e.csv:3: a quoted value starts in this record and runs over 5,041 lines and 131,072 characters: "
        'its closing quote (") is missing',
    ),
    (lambda p: p.write_text("x" * (2**20 + 1)), "e.csv:1: is a line of 1,048,577 characters;"),
    (lambda p: p.write_text(";" * 1000 + "\n"), "e.csv:1: has 1,001 fields; scolpass reads at most 1,000 columns"),
    (
        lambda p: p.write_text(csv_text([row("1", birth_place="X" * 10_000)])),
        "e.csv:2: column 'birth_place': '" + "X" * 57 + "...': is 10000 characters long (at most 100)",
    ),
]


@pytest.mark.parametrize(
    ("write", "message"), LIMITS, ids=["file-size", "rows", "open-quote", "line", "columns", "value"]
)
def test_check_refuses_a_file_beyond_the_limits(
    write: Callable[[Path], object],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(csvfile, "MAX_ROWS", 2)  # the real limit is tested in test_csvfile.py
    path = tmp_path / "e.csv"
    write(path)
    assert main(["check", str(path), "--config", CONFIG]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("Error: " + message)
    assert len(err) < 400  # one line, never the value that broke the limit
    assert "Traceback" not in err


# Runs the command given as its child and prints the child's peak RSS (KiB on Linux) last: the test
# process's own memory is not counted, nor any other child's.
PEAK_RSS = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:], check=False).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, flush=True)
sys.exit(code)
"""


@pytest.mark.slow
def test_check_200000_rows_in_bounded_memory(tmp_path: Path) -> None:
    # The benchmark's export (benchmarks/bench_check.py), written by a process of its own.
    export = tmp_path / "export.csv"
    write = "import sys; from pathlib import Path; from bench_check import write_export; write_export(Path(sys.argv[1]), 200_000)"
    subprocess.run([sys.executable, "-c", write, str(export)], cwd=ROOT / "benchmarks", check=True)
    command = [sys.executable, "-m", "scolpass", "check", str(export), "--config", CONFIG]
    result = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, *command], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    *out, peak = result.stdout.splitlines()
    assert "200000 rows, 133333 students, 200000 programme steps" in "\n".join(out)
    # Measured 363 MiB (527 MiB before issue 11's memory work); the bound leaves room for other changes.
    assert int(peak) < 512 * 1024, f"peak RSS {int(peak) / 1024:.0f} MiB"


def test_the_commands_that_print_sheets_share_one_set_of_sheet_options() -> None:
    import click

    from scolpass.cli import _OUTPUT_OPTIONS

    def flags(name: str) -> set[str]:
        command = cli.commands[name]
        return {opt for p in command.params if isinstance(p, click.Option) for opt in p.opts}

    shared = {"--duplex", "--one-pdf-per-student", "--csv-excel", "--plaintext-credentials", "--encrypt-pdf",
              "--pdf-password-file"}  # fmt: skip
    assert len(_OUTPUT_OPTIONS) == len(shared)
    assert shared <= flags("generate")
    assert shared <= flags("reissue")


def test_registry_search_finds_a_student_by_name_and_runs_say_who_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from scolpass import RunOptions, load_settings, reissue_now

    registry = str(tmp_path / "r.sqlite3")
    assert main(["generate", ENROLMENT, "--config", CONFIG, "--registry", registry, "--out", str(tmp_path / "a")]) == 0
    capsys.readouterr()
    assert main(["registry", "search", "helene marie", "--registry", registry]) == 0
    out = capsys.readouterr().out
    assert out.startswith("00012347  marie-helene.de-la-fontaine")
    assert "Marie-Hélène DE LA FONTAINE  (LETTRES)" in out
    assert main(["registry", "search", "jean martin", "--faculty", "DRT", "--registry", registry]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["00012346"]
    assert main(["registry", "search", "nobody", "--registry", registry]) == 1
    assert "no student matches 'nobody'" in capsys.readouterr().err

    reissue_now("00012347", load_settings(CONFIG), RunOptions(registry=registry, actor="agent.x"))
    assert main(["registry", "runs", "--registry", registry]) == 0
    handed = capsys.readouterr().out.splitlines()[-1]
    assert " for agent.x " in handed
    assert handed.endswith("(handed out)")
    assert "1 reissued" in handed
    assert main(["registry", "show", "00012347", "--registry", registry]) == 0
    shown = capsys.readouterr().out
    assert "issued by:      run 1 (" in shown
    assert "(run 2, agent.x)" in shown
