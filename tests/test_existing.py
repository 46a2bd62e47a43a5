"""Reading the logins of existing accounts from LDIF and CSV exports."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scolpass import InputError
from scolpass.cli import main
from scolpass.existing import read_existing_accounts, read_existing_logins
from scolpass.identifiers import login_problem

LDIF = """version: 1

# staff
dn: uid=jmartin,ou=people,dc=um,dc=fr
objectClass: inetOrgPerson
uid: jmartin
mail: Jean.Martin@umontpellier.fr
cn: Jean Martin
sn: Martin

dn: cn=ent,ou=services,dc=um,dc=fr
objectClass: account
uid: ENT-Admin
supannAliasLogin: entadmin
eduPersonPrincipalName: ent.service@umontpellier.fr
"""


def test_ldif_logins_and_address_local_parts(tmp_path: Path) -> None:
    path = tmp_path / "people.ldif"
    path.write_text(LDIF)
    assert read_existing_logins(path) == {"jmartin", "jean.martin", "ent-admin", "entadmin", "ent.service"}


def test_active_directory_csv(tmp_path: Path) -> None:
    path = tmp_path / "ad.csv"
    path.write_bytes(
        'sAMAccountName,UserPrincipalName,DisplayName\r\njmartin,jean.martin@um.fr,"Martin, Jean"\r\n'.encode("utf-16")
    )
    assert read_existing_logins(path) == {"jmartin", "jean.martin"}


def test_csv_without_a_login_column(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("name;phone\nJean;0102\n")
    with pytest.raises(InputError, match="has no column of logins or addresses"):
        read_existing_logins(path)


def test_broken_ldif(tmp_path: Path) -> None:
    path = tmp_path / "bad.ldif"
    path.write_text("dn: uid=a,dc=x\nuid a\n")
    with pytest.raises(InputError, match="is not valid LDIF"):
        read_existing_logins(path)


# Imported logins follow the rules of issued ones (README "Importing existing accounts"): an
# adopted login goes into returning.ldif (uid=<login>,<people_dn>), onto sheets, the manifest
# and the terminal. One that breaks the rules is refused with its line; nothing is imported.


def b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


NEWLINE, ESCAPE = b64("jean\nmartin"), b64("jean\x1b[2J")
HOSTILE = f"""version: 1

dn: uid=jmartin,ou=people,dc=um,dc=fr
uid: jmartin
supannEtuId: 00012345

dn: uid=jean,ou=people,dc=um,dc=fr
uid: jean,ou=admins
supannEtuId: 00012346

dn: uid=x,ou=people,dc=um,dc=fr
objectClass: inetOrgPerson
uid:: {NEWLINE}

# the ESC sequence would colour the terminal, or move its cursor
dn: uid=y,ou=people,dc=um,dc=fr
uid:: {ESCAPE}

dn: uid=z,ou=people,dc=um,dc=fr
cn: z
uid:: {b64("dn: cn=admin")}
"""


def registry_dump(path: Path) -> list[str]:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(connection.iterdump())
    finally:
        connection.close()


def test_registry_import_refuses_every_login_that_breaks_the_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = tmp_path / "r.sqlite3"
    staff = tmp_path / "staff.csv"
    staff.write_text("uid\nprof.x\n")
    assert main(["registry", "import", str(staff), "--registry", str(registry)]) == 0
    before = registry_dump(registry)
    capsys.readouterr()
    export = tmp_path / "people.ldif"
    export.write_text(HOSTILE)

    assert main(["registry", "import", str(export), "--registry", str(registry)]) == 1
    out, err = capsys.readouterr()
    rule = "a login holds only a-z, 0-9 and . _ - (as the logins scolpass issues), at most 64 characters"
    assert out == ""
    assert err.splitlines() == [
        "Error: 4 problems in the input; nothing was written:",
        f"people.ldif:8: uid 'jean,ou=admins' holds ','; {rule}",
        f"people.ldif:13: uid 'jean\\nmartin' holds U+000A (a control character); {rule}",
        f"people.ldif:17: uid 'jean\\x1b[2J' holds U+001B (a control character); {rule}",
        f"people.ldif:21: uid 'dn: cn=admin' holds ':'; {rule}",
    ]
    assert "\x1b" not in err
    assert registry_dump(registry) == before


def test_registry_import_refuses_a_bad_login_in_a_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = tmp_path / "people.csv"
    export.write_text('login;mail\njmartin;jmartin@um.fr\n"jean\nmartin";x@um.fr\nroot$;\n')
    registry = tmp_path / "r.sqlite3"
    assert main(["registry", "import", str(export), "--registry", str(registry)]) == 1
    assert capsys.readouterr().err.splitlines()[1:] == [
        "people.csv:3: column 'login': 'jean\\nmartin': holds U+000A (a control character); a login holds only "
        "a-z, 0-9 and . _ - (as the logins scolpass issues), at most 64 characters",
        "people.csv:5: column 'login': 'root$': holds '$'; a login holds only "
        "a-z, 0-9 and . _ - (as the logins scolpass issues), at most 64 characters",
    ]
    assert not registry.exists()  # nothing written, not even a new registry


def read(tmp_path: Path, text: str, name: str = "people.ldif") -> tuple[set[str], dict[str, str]]:
    path = tmp_path / name
    path.write_bytes(text.encode())
    accounts = read_existing_accounts(path)
    return accounts.logins, accounts.links


def refused(tmp_path: Path, text: str, name: str = "people.ldif") -> list[str]:
    with pytest.raises(InputError) as caught:
        read(tmp_path, text, name)
    return [str(p) for p in caught.value.problems]


def test_logins_of_any_shape_within_the_rules_are_read(tmp_path: Path) -> None:
    # A directory's own logins need not be prenom.nom: only characters and length are asked for.
    longest = "a" * 64
    text = "uid;sAMAccountName;student_number\njdupont2;JDupont2;00012345\nab1234;;\njean-pierre.le_goff.;;\n"
    text += f"{longest};;\n"
    logins, links = read(tmp_path, text, "ad.csv")
    assert logins == {"jdupont2", "ab1234", "jean-pierre.le_goff.", longest}
    assert links == {"00012345": "jdupont2"}


@pytest.mark.parametrize(
    ("value", "shown", "reason"),
    [
        ("a" * 65, "'" + "a" * 65 + "'", "is 65 characters long"),
        ("zoé", "'zoé'", "holds 'é', U+00E9 (LATIN SMALL LETTER E WITH ACUTE)"),
        ("\u212amartin", "'\u212amartin'", "holds '\u212a', U+212A (KELVIN SIGN)"),  # which lower() makes 'k'
        ("jean martin", "'jean martin'", "holds U+0020 (SPACE)"),
        ("jean\u200bmartin", "'jean\\u200bmartin'", "holds U+200B (ZERO WIDTH SPACE)"),
        ("jean\ufeff", "'jean\\ufeff'", "holds U+FEFF (ZERO WIDTH NO-BREAK SPACE)"),
        ("-rf", "'-rf'", "starts with '-'; a login starts with a letter or a digit"),
        ("..", "'..'", "starts with '.'"),
    ],
    ids=["too-long", "accent", "kelvin", "space", "zero-width", "bom", "option", "dot-dot"],
)
def test_logins_outside_the_rules_are_refused(tmp_path: Path, value: str, shown: str, reason: str) -> None:
    (problem,) = refused(tmp_path, f"dn: cn=x,dc=um,dc=fr\nuid:: {b64(value)}\n")
    assert problem.startswith(f"people.ldif:2: uid {shown} {reason}")


def test_a_long_value_is_cut_in_the_message(tmp_path: Path) -> None:
    (problem,) = refused(tmp_path, f"dn: cn=x,dc=um,dc=fr\nuid: {'x,' * 100_000}\n")
    assert len(problem) < 300


def test_address_local_parts_outside_the_rules_need_no_reservation(tmp_path: Path) -> None:
    # jean+news or o'neil can never be issued: nothing to reserve, and no reason to refuse a personal address.
    text = "dn: uid=jm,dc=um,dc=fr\nuid: jm\nmail: Jean.Martin@um.fr\nsupannMailPerso: jean+news@example.org\n"
    text += f"supannMailPerso:: {b64('o’neil@example.org')}\n"
    assert read(tmp_path, text)[0] == {"jm", "jean.martin"}


def test_bad_student_numbers_and_double_links_are_refused(tmp_path: Path) -> None:
    text = (
        "dn: uid=a,dc=x\nuid: a\nsupannEtuId: 0001 2345\n\n"
        "dn: uid=b,dc=x\nuid: b\nsupannEtuId:: " + b64("00012345\x1b") + "\n\n"
        "dn: uid=c,dc=x\nuid: c\nsupannEtuId: 00000001\nsupannEtuId: 00000002\n\n"
        "dn: uid=d,dc=x\nuid: d\nsupannEtuId: 00000003\n\n"
        "dn: uid=e,dc=x\nuid: e\nsupannEtuId: 00000003\n"
    )
    assert refused(tmp_path, text) == [
        "people.ldif:3: supannEtuId '0001 2345' is not a student number (letters and digits, at most 20)",
        "people.ldif:7: supannEtuId '00012345\\x1b' is not a student number (letters and digits, at most 20)",
        "people.ldif:12: supannEtuId '00000002' is a second student number of this entry ('00000001' on line 11): "
        "a login has one",
        "people.ldif:20: supannEtuId '00000003' is linked to 'd' on line 16 already, and here to 'e'",
    ]


def test_ldif_lines_are_the_editor_lines(tmp_path: Path) -> None:
    # Comments, folded values, CRLF line ends and attribute options are read as ldapsearch writes them.
    text = (
        "version: 1\r\n\r\n# extended LDIF\r\n#\r\n# LDAPv3\r\n\r\n"
        "dn: uid=prof.x,ou=people,dc=umontpellier,dc=fr\r\nuid: prof.x\r\n\r\n"
        "dn: uid=jean,ou=people,\r\n dc=umontpellier,dc=fr\r\nuid;x-origin: jean,\r\n ou=admins\r\n\r\n"
        "# numEntries: 2\r\n"
    )
    (problem,) = refused(tmp_path, text)
    assert problem.startswith("people.ldif:12: uid;x-origin 'jean,ou=admins' holds ','")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("dn: uid=a,dc=x\nuid a\n", "people.ldif:2: is not valid LDIF: 'uid a' is not 'attribute: value'"),
        ("version: 1\nuid: a\n", "people.ldif:2: is not valid LDIF: a record starts with 'dn:', not 'uid: a'"),
        ("dn: uid=a,dc=x\ndn: uid=b,dc=x\n", "people.ldif:2: is not valid LDIF: a second 'dn:' line in one record"),
        (
            "dn: uid=a,dc=x\n\n uid: a\n",
            "people.ldif:3: is not valid LDIF: a line starting with a space (a folded line) follows no line",
        ),
        (
            "dn: uid=a,dc=x\nchangetype: modify\nreplace: uid\nuid: b\n-\n",
            "people.ldif:2: is not valid LDIF: a change record (changetype: modify) is no entry; export the entries",
        ),
        ("dn: uid=a,dc=x\nuid:: ab!c\n", "people.ldif:2: uid:: the value is not valid base64"),
        (
            "dn: uid=a,dc=x\nuid:: " + base64.b64encode(b"j\xe9").decode() + "\n",
            "people.ldif:2: uid:: the value is not UTF-8 text",
        ),
        ("dn: uid=a,dc=x\nuid:< file:///etc/passwd\n", "people.ldif:2: uid: a value given by URL (:<) is not fetched"),
    ],
    ids=["no-colon", "no-dn", "two-dns", "fold-first", "change-record", "bad-base64", "not-utf8", "url"],
)
def test_broken_ldif_is_refused_at_its_line(tmp_path: Path, text: str, problem: str) -> None:
    assert refused(tmp_path, text) == [problem]


def test_binary_attributes_are_not_read(tmp_path: Path) -> None:
    text = f"dn: uid=a,dc=x\nuid: a\njpegPhoto:: {base64.b64encode(bytes(range(256))).decode()}\nuserPassword:< file:///x\n"
    assert read(tmp_path, text)[0] == {"a"}


def test_csv_lines_count_powershell_type_line_and_short_rows_are_refused(tmp_path: Path) -> None:
    text = '#TYPE Selected.Microsoft.ActiveDirectory.Management.ADUser\n"SamAccountName","Name"\n"jm","Jean"\n'
    text += '"x,y","z"\n"ab","c","d"\n'
    assert refused(tmp_path, text, "ad.csv") == [
        "ad.csv:4: column 'SamAccountName': 'x,y': holds ','; a login holds only a-z, 0-9 and . _ - "
        "(as the logins scolpass issues), at most 64 characters",
        "ad.csv:5: has 3 fields where the header has 2",
    ]


def test_two_columns_of_one_name_are_both_read(tmp_path: Path) -> None:
    assert read(tmp_path, "uid;uid\na;b\n", "x.csv")[0] == {"a", "b"}


@pytest.mark.parametrize("name", ["people.ldif", "people.csv"])
def test_a_second_byte_order_mark_is_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"\xef\xbb\xbf" * 2 + b"dn: uid=a,dc=x\nuid: a\n")
    with pytest.raises(InputError) as caught:
        read_existing_accounts(path)
    assert [str(p) for p in caught.value.problems] == [
        f"{name}:1: starts with a second byte order mark (U+FEFF, invisible): save the file again in UTF-8"
    ]


# What ldapsearch writes without -LLL: comments, the entries, then the result of the search.
EXTENDED = """# extended LDIF
#
# LDAPv3
# base <ou=people,dc=um,dc=fr> with scope subtree
# filter: (objectclass=*)
# requesting: uid mail
#

# jmartin, people, um.fr
dn: uid=jmartin,ou=people,dc=um,dc=fr
uid: jmartin
mail: jean.martin@um.fr

# search result
search: 2
result: {result}

# numResponses: 2
# numEntries: 1
"""


def test_ldapsearch_extended_output_is_read(tmp_path: Path) -> None:
    assert read(tmp_path, EXTENDED.format(result="0 Success"))[0] == {"jmartin", "jean.martin"}


def test_ldapsearch_output_cut_by_a_limit_is_refused(tmp_path: Path) -> None:
    # Each login left out of the export would be free to issue: the file is refused, not read in part.
    assert refused(tmp_path, EXTENDED.format(result="4 Size limit exceeded")) == [
        "people.ldif:16: ldapsearch says 'result: 4 Size limit exceeded': the export is incomplete "
        "(a size or time limit?), and a login left out would be issued again; export all the entries"
    ]


ldif_line = st.sampled_from(
    ["dn: uid=a,dc=x", "uid: jmartin", "uid:: " + b64("a\nb"), "mail: J.M@x.fr", "supannEtuId: 00012345", "", " ",
     " x", "#c", "version: 1", "search: 2", "result: 0 Success", "uid:< file:///x", "uid:: !!", "changetype: add",
     "uid: ", "cn: é", "uid;lang-fr: Zoé", "uid", ":", "dn:: " + b64("uid=é,dc=x")]
)  # fmt: skip


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(ldif_line, max_size=12), ends=st.sampled_from(["\n", "\r\n"]))
def test_any_ldif_gives_logins_within_the_rules_or_a_located_error(tmp_path: Path, lines: list[str], ends: str) -> None:
    path = tmp_path / "fuzz.ldif"
    path.write_bytes(("dn: uid=first,dc=x" + ends + ends.join(lines) + ends).encode())
    error: InputError | None = None
    try:
        accounts = read_existing_accounts(path)
    except InputError as exc:  # anything else (a traceback) fails the test
        error = exc
    if error is not None:
        assert all(p.file == "fuzz.ldif" and (p.line or p.reason.startswith("holds no login")) for p in error.problems)
        return
    assert all(login_problem(login) is None for login in accounts.logins)
    assert set(accounts.links.values()) <= accounts.logins
