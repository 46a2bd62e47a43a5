"""The hash schemes' table: each entry keeps its word, and the template and the directory page list the same schemes."""

from __future__ import annotations

import dataclasses
import re

import pytest

from scolpass import ConfigError, hash_password, load_settings
from scolpass.hashers import HASHERS, Hasher
from scolpass.settings import HASH_SCHEMES, CredentialSettings, PasswordPolicy, check_settings, config_template

from .conftest import ROOT, SAMPLES

# Where the schemes are documented for a university: the table under "### Credential files".
DIRECTORY_PAGE = ROOT / "docs" / "directory.md"  # where the README's table moved

PASSWORD = "Xk7pQ2mZr9TnWc4"


@pytest.mark.parametrize("hasher", HASHERS.values(), ids=list(HASHERS))
@pytest.mark.parametrize("system_crypt", [True, False], ids=["system-crypt", "no-system-crypt"])
def test_every_hasher_writes_its_declared_form(hasher: Hasher, system_crypt: bool) -> None:
    assert hasher.written_as.endswith("...")
    credentials = CredentialSettings(hash=hasher.name)
    for value in (
        hasher.hash(PASSWORD, credentials, system_crypt),
        hash_password(PASSWORD, credentials, system_crypt),
    ):
        assert value.startswith(hasher.prefix), (hasher.name, value)
        assert len(value) > len(hasher.prefix) + 10  # a salt and a hash after the prefix
        assert PASSWORD not in value


def test_the_settings_take_their_schemes_from_the_table() -> None:
    assert HASH_SCHEMES == tuple(HASHERS) == ("sha512_crypt", "argon2", "ssha", "bcrypt")
    assert CredentialSettings().hash == next(iter(HASHERS))  # the default is listed first
    assert all(name == hasher.name for name, hasher in HASHERS.items())
    with pytest.raises(ValueError, match="unknown hash scheme 'md5'"):
        hash_password(PASSWORD, CredentialSettings(hash="md5"))


@pytest.mark.parametrize("hasher", [h for h in HASHERS.values() if h.max_password_bytes], ids=lambda h: h.name)
def test_a_password_longer_than_a_scheme_takes_is_refused(hasher: Hasher) -> None:
    assert hasher.max_password_bytes is not None
    limit = hasher.max_password_bytes
    sample = load_settings(SAMPLES / "scolpass.toml")
    settings = dataclasses.replace(sample, credentials=CredentialSettings(hash=hasher.name))
    check_settings(dataclasses.replace(settings, password=PasswordPolicy(length=limit)))
    with pytest.raises(ConfigError, match=rf"\[password\] length {limit + 1}: {hasher.name} hashes {limit} bytes"):
        check_settings(dataclasses.replace(settings, password=PasswordPolicy(length=limit + 1)))


def template_hash_comment() -> list[str]:
    """The template's ``# hash = ...`` line and the comment lines that continue it."""
    lines = config_template().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# hash = "))
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if not re.match(r"#\s{5,}#", line):  # a continuation: "#" then spaces up to the comment column
            break
        block.append(line)
    return block


def test_the_template_names_the_table_schemes_in_its_order() -> None:
    first, *more = template_hash_comment()
    assert re.findall(r'"(\w+)"', first) == list(HASHERS), first
    # What slapd needs is said for exactly the schemes that need something.
    needs = " ".join(more)
    for hasher in HASHERS.values():
        if hasher.slapd_needs:
            assert f'{hasher.name} needs "{hasher.slapd_needs}" in slapd' in needs
    assert needs.count("moduleload") == sum(1 for h in HASHERS.values() if h.slapd_needs)


def readme_hash_rows() -> dict[str, str]:
    """The directory page's table of schemes: each ``hash`` with its "written as" form."""
    text = DIRECTORY_PAGE.read_text(encoding="utf-8")
    section = text[text.index("## Credential files") :]
    section = section[: section.index("\n#", 1)]
    body = section[section.index("|---") :].splitlines()[1:]  # below the header row
    rows = {}
    for line in body:
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            name = re.match(r"`(\w+)`", cells[0])
            assert name, line
            rows[name.group(1)] = cells[1].strip("`")
    return rows


def test_the_readme_table_lists_the_table_schemes_as_written() -> None:
    # The directory page orders its rows by cost; each scheme once, with the form the hasher declares.
    assert readme_hash_rows() == {name: hasher.written_as for name, hasher in HASHERS.items()}
