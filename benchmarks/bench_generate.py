"""The whole pipeline at university scale, stage by stage, against the floor.

    python benchmarks/bench_generate.py                      # N = 1,000, 10,000 and 50,000
    python benchmarks/bench_generate.py --students 2000 --schemes
    python benchmarks/bench_generate.py --students 50000 --before-after
    python benchmarks/bench_generate.py --students 5000 --before-after hashing
    python benchmarks/bench_generate.py --students 50000 --engines

For each N it generates a realistic export (Apogée columns, every student a
different person, many homonyms, 1 to 3 programme steps, 20 faculties), runs
the real `generate` end to end into a temporary folder, and prints the seconds
of each stage, sheets per second, peak RSS of the largest process and bytes
per sheet. It also measures the floor (ReportLab pages holding only each
student's variable strings, same fonts) and the ratio of a sheet to it.
With --schemes it prints the whole run for each hash scheme.
With --before-after it prints instead, for each N, the median of three whole runs
with sha512_crypt by libpass (before) and by the system's libxcrypt (after),
interleaved so that a busy moment of the machine weighs on both; with
"--before-after hashing", the median of three hash_passwords of N passwords.
With --engines it prints instead, for each N, the median of three runs on a fresh SQLite file and
on a fresh database of a PostgreSQL server it starts itself (tests/postgres.py: initdb in a
temporary folder, 127.0.0.1, fsync on), interleaved, and PostgreSQL's time over SQLite's: the first run
(every student new), a rerun of the same export (every student returning) and a reissue of
one student in ten.
Timings vary on shared machines: run it more than once.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from functools import partial
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from scolpass import RunOptions, generate, hashers, load_settings, passwords, pipeline, reissue
from scolpass.fonts import MONO_BOLD, SANS, SANS_BOLD, register_fonts
from scolpass.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FIRST = ["Jean", "Marie", "Anne-Sophie", "Łukasz", "Aïssatou", "Seán", "Élodie", "Ελένη", "Анастасия", "Noël",
         "Mohamed", "Léa", "Nguyễn Thị", "Chloé", "Hugo", "Inès", "Jürgen", "Zoé", "Karim", "Camille"]  # fmt: skip
LAST = ["MARTIN", "DE LA FONTAINE", "N'DIAYE", "LE GOFF", "WAŁĘSA", "O'BRIEN", "ΠΑΠΑΔΟΠΟΥΛΟΥ", "ИВАНОВА", "DUPONT",
        "BERNARD", "PETIT", "DURAND", "LEROY", "MOREAU", "SIMON", "LAURENT", "MICHEL", "GARCIA", "DAVID", "BERTRAND"]  # fmt: skip
FACULTIES = [f"FACULTÉ {name}" for name in (
    "DE DROIT", "D'ÉCONOMIE", "DES SCIENCES", "DE MÉDECINE", "DE PHARMACIE", "DES LETTRES", "DES LANGUES",
    "D'HISTOIRE", "DE PHILOSOPHIE", "DES ARTS", "DE SOCIOLOGIE", "DE PSYCHOLOGIE", "D'ODONTOLOGIE", "DU SPORT",
    "D'INFORMATIQUE", "DE MATHÉMATIQUES", "DE CHIMIE", "DE PHYSIQUE", "DE BIOLOGIE", "D'ÉDUCATION",
)]  # fmt: skip


def write_enrolment(path: Path, count: int) -> None:
    """``count`` students, each a different person (name and birth date), with many homonyms."""
    lines = ["COD_ANU;COD_ETU;LIB_NOM_PAT_IND;LIB_PR1_IND;DATE_NAI_IND;LIB_VIL_NAI_ETU;COD_SEX_ETU;COD_CMP;LIB_CMP;"
             "COD_ETP;COD_VRS_VET;LIB_ETP"]  # fmt: skip
    pairs = len(FIRST) * len(LAST)
    for n in range(count):
        first, last = FIRST[n % len(FIRST)], LAST[(n // len(FIRST)) % len(LAST)]
        born = date(1996, 1, 1) + timedelta(days=(n // pairs) % 3650)  # injective below 400 x 3,650 students
        faculty = n * 7 % len(FACULTIES)
        for step in range(1 + n % 3):
            lines.append(
                f"2026;{n:08d};{last};{first};{born:%d/%m/%Y};MONTPELLIER;{'MF'[n % 2]};F{faculty:02d};"
                f"{FACULTIES[faculty]};E{faculty:02d}{step};1;Licence {step + 1} parcours {faculty}"
            )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def peak_rss_mb() -> float:
    """The largest RSS of this process and of the finished workers, in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def floor(count: int, path: Path) -> float:
    """Seconds to write ``count`` pages holding only a sheet's variable strings (same fonts)."""
    register_fonts()
    start = time.perf_counter()
    c = Canvas(str(path), pagesize=A4, pageCompression=1, initialFontName=SANS)  # type: ignore[arg-type]
    for n in range(min(count, 10_000)):
        c.setFont(SANS_BOLD, 10.5)
        for i, text in enumerate(("Mme DE LA FONTAINE", "Marie-Hélène", f"{n:08d}", "17/04/2007 à MONTPELLIER",
                                  "FACULTÉ DES LETTRES", "E011 Licence 1 parcours 1", "Étudiant")):  # fmt: skip
            c.drawString(150, 700 - i * 17, text)
        c.setFont(MONO_BOLD, 12.5)
        c.drawString(50, 480, f"marie-helene.de-la-fontaine{n}@etu.umontpellier.fr")
        c.drawString(50, 450, f"marie-helene.de-la-fontaine{n}@etu.umontpellier.fr")
        c.setFont(MONO_BOLD, 17)
        c.drawString(50, 420, "Xk7pQ2mZr9TnWc4")
        c.showPage()
    c.save()
    return (time.perf_counter() - start) * count / min(count, 10_000)


def one_core_ratio(settings: Settings, folder: Path, per_student_qr: bool, count: int = 2000) -> float:
    """A sheet's render cost on one core over the floor's, with the QR code shared or per student."""
    from scolpass.sheet import Sheet, SheetRenderer, activation_link
    from scolpass.student import Step, Student

    url = settings.university.activation_url + ("/activation?login={identifier}" if per_student_qr else "")
    chosen = dataclasses.replace(settings, university=dataclasses.replace(settings.university, activation_url=url))
    renderer = SheetRenderer(chosen, "2026/2027")
    sheets = []
    for n in range(count):
        student = Student(f"{n:08d}", "DE LA FONTAINE", "Marie-Hélène", date(2006, 4, 17), "FACULTÉ DES LETTRES",
                          (Step("E011", "1", "Licence 1 parcours 1", "FACULTÉ DES LETTRES"),), birth_place="MONTPELLIER")  # fmt: skip
        login = f"marie-helene.de-la-fontaine{n}"
        email = f"{login}@etu.umontpellier.fr"
        sheets.append(Sheet(student, email, email, "Xk7pQ2mZr9TnWc4", activation_link(url, login, email)))
    start = time.perf_counter()
    renderer.render(sheets, folder / "one-core.pdf", "bench")
    return (time.perf_counter() - start) / floor(count, folder / "floor.pdf")


def run(settings: Settings, count: int, folder: Path) -> tuple[dict[str, float], float, int, float]:
    csv_path = folder / f"enrolment-{count}.csv"
    write_enrolment(csv_path, count)
    start = time.perf_counter()
    result = generate(
        csv_path, settings, RunOptions(out_dir=folder / f"out-{count}", registry=folder / f"r-{count}.sqlite3")
    )
    whole = time.perf_counter() - start
    assert result.count("new") == count, result.count("new")
    size = sum(f.stat().st_size for f in result.out_dir.glob("sheets-*.pdf"))
    return dict(result.timings), whole, size, peak_rss_mb()


@contextlib.contextmanager
def sha512_crypt_by(system_crypt: bool) -> Iterator[str]:
    """``generate`` hashing sha512_crypt with libxcrypt, or with libpass as before it; yields which.

    generate has no switch for it, on purpose (nobody should choose the slower one), so the
    pipeline's hash_passwords is replaced for the run: the workers get system_crypt with each job.
    """
    if pipeline.hash_passwords is not passwords.hash_passwords:
        raise SystemExit("pipeline no longer hashes with passwords.hash_passwords: update sha512_crypt_by")
    pipeline.hash_passwords = partial(passwords.hash_passwords, system_crypt=system_crypt)  # type: ignore[assignment]
    try:
        yield hashers.sha512_crypt_backend(system_crypt)
    finally:
        pipeline.hash_passwords = passwords.hash_passwords


def median_of_three(runs: Callable[[bool, int], dict[str, float]]) -> dict[str, dict[str, float]]:
    """Each figure of ``runs(system_crypt, attempt)``, median of three, by implementation."""
    found: dict[str, list[dict[str, float]]] = {}
    for attempt in range(3):
        for system_crypt in (False, True):  # interleaved: a busy moment weighs on both
            with sha512_crypt_by(system_crypt) as backend:
                found.setdefault(backend, []).append(runs(system_crypt, attempt))
    return {
        backend: {name: statistics.median(r[name] for r in results) for name in results[0]}
        for backend, results in found.items()
    }


def before_after(settings: Settings, count: int, folder: Path, what: str) -> None:
    """The median of three runs with sha512_crypt by libpass (before) and by libxcrypt (after)."""
    if settings.credentials.hash != "sha512_crypt":
        raise SystemExit(f"--before-after compares sha512_crypt; the settings hash with {settings.credentials.hash}")
    if hashers.sha512_crypt_backend() != "libxcrypt":
        print("  (no libxcrypt with sha512-crypt here: both are libpass)")
    if what == "hashing":
        issued = passwords.generate_passwords(count, settings.password)

        def runs(system_crypt: bool, attempt: int) -> dict[str, float]:
            start = time.perf_counter()
            passwords.hash_passwords(issued, settings.credentials, system_crypt=system_crypt)
            return {"hash_passwords": time.perf_counter() - start}
    else:
        csv_path = folder / f"enrolment-{count}.csv"
        write_enrolment(csv_path, count)

        def runs(system_crypt: bool, attempt: int) -> dict[str, float]:
            name = f"{count}-{attempt}-{'libxcrypt' if system_crypt else 'libpass'}"
            start = time.perf_counter()
            result = generate(
                csv_path, settings, RunOptions(out_dir=folder / f"out-{name}", registry=folder / f"r-{name}.sqlite3")
            )
            whole = time.perf_counter() - start
            assert result.count("new") == count, result.count("new")
            return {"whole run": whole, "passwords and hashes": result.timings["passwords and hashes"]}

    medians = median_of_three(runs)
    print(f"N = {count:,}, sha512_crypt (rounds = {settings.credentials.sha512_rounds}), median of three runs")
    for label, backend in (("before", "libpass"), ("after", "libxcrypt")):
        if backend in medians:
            figures = "   ".join(f"{name} {seconds:8.2f} s" for name, seconds in medians[backend].items())
            print(f"  {label:<7}{backend:<10} {figures}")


ENGINES = ("SQLite", "PostgreSQL")
SCENARIOS = ("first run", "rerun", "reissue")


@contextlib.contextmanager
def local_postgres() -> Iterator[Callable[[], str]]:
    """A throwaway PostgreSQL server (the tests' own, tests/postgres.py); yields a maker of fresh databases' URLs.

    libpq's environment is the server's for the while: its PGPASSFILE, none of a developer's PGHOST...
    """
    sys.path.insert(0, str(ROOT))
    from tests.postgres import LIBPQ_ENVIRONMENT, Postgres, find_binaries

    bindir = find_binaries()
    if bindir is None:
        raise SystemExit("--engines needs PostgreSQL's server binaries (Debian: apt-get install postgresql)")
    saved = {name: os.environ.pop(name) for name in LIBPQ_ENVIRONMENT if name in os.environ}
    # Durable as a real server is (the tests' turn it off): each commit waits for the disk, as SQLite's does.
    durable = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
    try:
        with Postgres(bindir, durable) as server:
            os.environ["PGPASSFILE"] = str(server.passfile)
            (version,) = server.execute("SHOW server_version")[0]
            print(f"PostgreSQL {version} on 127.0.0.1 (a server of its own, fsync on); SQLite {sqlite3.sqlite_version}")
            # The server has no TLS: on 127.0.0.1 nothing crosses a network.
            yield lambda: server.create_database() + "?sslmode=disable"
    finally:
        os.environ.pop("PGPASSFILE", None)
        os.environ.update(saved)


def engine_runs(settings: Settings, count: int, folder: Path, registry: Path | str) -> dict[str, dict[str, float]]:
    """The seconds of each stage and of the whole, for a first run, a rerun and a reissue on a fresh ``registry``."""
    csv_path = folder / f"enrolment-{count}.csv"
    found: dict[str, dict[str, float]] = {}
    for scenario in SCENARIOS:
        out = folder / "out"
        start = time.perf_counter()
        if scenario == "reissue":
            numbers = [f"{n:08d}" for n in range(0, count, 10)]
            result = reissue(numbers, settings, RunOptions(out_dir=out, registry=registry))
            expected = ("reissued", len(numbers))
        else:
            result = generate(csv_path, settings, RunOptions(out_dir=out, registry=registry))
            expected = ("new" if scenario == "first run" else "returning", count)
        whole = time.perf_counter() - start
        assert result.count(expected[0]) == expected[1], (scenario, result.count(expected[0]))
        stages = dict(result.timings)  # a reissue has none
        rest = {"the rest": whole - sum(stages.values())} if stages else {}
        found[scenario] = {**stages, **rest, "whole run": whole}
        shutil.rmtree(out)  # the next scenario's folder; the disk holds one run's sheets at a time
    return found


def compare_engines(settings: Settings, count: int, folder: Path, new_database: Callable[[], str]) -> None:
    """The median of three runs of each scenario on each engine, interleaved, and PostgreSQL over SQLite."""
    write_enrolment(folder / f"enrolment-{count}.csv", count)
    results: dict[str, list[dict[str, dict[str, float]]]] = {engine: [] for engine in ENGINES}
    for attempt in range(3):
        for engine in ENGINES:  # interleaved: a busy moment of the machine weighs on both
            registry: Path | str = folder / f"r-{count}-{attempt}.sqlite3" if engine == "SQLite" else new_database()
            results[engine].append(engine_runs(settings, count, folder, registry))
    print(f"N = {count:,}, median of three runs on each engine, interleaved")
    print(f"  {'':<28}{ENGINES[0]:>10}{ENGINES[1]:>12}{'ratio':>8}")
    for scenario in SCENARIOS:
        label = f"reissue of {len(range(0, count, 10)):,}" if scenario == "reissue" else scenario
        print(f"  {label}" + (" (every student returning)" if scenario == "rerun" else ""))
        for name in results[ENGINES[0]][0][scenario]:
            sqlite, postgres = (statistics.median(r[scenario][name] for r in results[e]) for e in ENGINES)
            ratio = f"{postgres / sqlite:8.2f}" if sqlite >= 0.005 else ""
            print(f"    {name:<26}{sqlite:8.2f} s{postgres:10.2f} s{ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, nargs="+", default=[1_000, 10_000, 50_000])
    parser.add_argument("--schemes", action="store_true", help="also the whole run for each hash scheme")
    parser.add_argument(
        "--before-after", nargs="?", const="run", choices=("run", "hashing"),
        help="only sha512_crypt by libpass then libxcrypt, median of three: whole runs, or hash_passwords alone",
    )  # fmt: skip
    parser.add_argument(
        "--engines", action="store_true",
        help="only SQLite beside a local PostgreSQL server, median of three: first run, rerun, reissue",
    )  # fmt: skip
    args = parser.parse_args()
    settings = load_settings(ROOT / "samples" / "scolpass.toml")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.engines:
            with local_postgres() as new_database:
                for count in args.students:
                    compare_engines(settings, count, folder, new_database)
            return
        if args.before_after:
            for count in args.students:
                before_after(settings, count, folder, args.before_after)
            return
        for count in args.students:
            stages, whole, size, rss = run(settings, count, folder)
            print(f"N = {count:,}")
            for name, seconds in stages.items():
                print(f"  {name:<26} {seconds:8.2f} s")
            render = stages.get("render sheets", 0.0)
            base = floor(count, folder / "floor.pdf")
            print(f"  {'whole run':<26} {whole:8.2f} s   {count / whole:,.0f} students/s")
            print(f"  rendering {count / render:,.0f} sheets/s (both cores); floor {count / base:,.0f} pages/s "
                  f"(one core); a sheet costs {render / base:.2f}x the floor")  # fmt: skip
            print(f"  {size / count / 1024:.2f} KB a sheet; peak RSS {rss:.0f} MB")
        shared, own = one_core_ratio(settings, folder, False), one_core_ratio(settings, folder, True)
        print(f"one core, 2,000 sheets: {shared:.2f}x the floor with one QR code for all, {own:.2f}x with one each")
        if args.schemes:
            count = args.students[0]
            for scheme in hashers.HASHERS:
                chosen = dataclasses.replace(
                    settings, credentials=dataclasses.replace(settings.credentials, hash=scheme)
                )
                _, whole, _, _ = (
                    run(chosen, count, folder / scheme) if (folder / scheme).mkdir() is None else (0, 0, 0, 0)
                )
                print(f"  whole run with {scheme:<13} {whole:8.2f} s for {count:,} students")


if __name__ == "__main__":
    main()
