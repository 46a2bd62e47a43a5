"""Configuration: mandatory, checked, with suggestions for slips."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import tomllib
import typing
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scolpass import ConfigError, load_settings, settings_from_dict
from scolpass.columns import BY_NAME
from scolpass.exports import dn_of
from scolpass.settings import (
    _ACROSS_SECTIONS,
    _SECTIONS,
    DEFAULT_ALPHABET,
    Faculty,
    Settings,
    check_settings,
    config_template,
)
from scolpass.sheet import activation_link
from scolpass.validators import format_dn, parse_dn, text_problem, url_problem

from .conftest import SAMPLES, refusal, sample, settings_with


def test_sample_loads() -> None:
    s = load_settings(SAMPLES / "scolpass.toml")
    assert s.university.email_domain == "etu.umontpellier.fr"
    assert s.university.label == "UM"
    assert s.password.entropy_bits > 80
    assert s.login_of("jean.martin") == "jean.martin@etu.umontpellier.fr"
    assert s.source == SAMPLES / "scolpass.toml"


def test_no_config_anywhere_gives_a_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="run 'scolpass init'"):
        load_settings()


def test_config_in_current_folder_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "scolpass.toml").write_bytes((SAMPLES / "scolpass.toml").read_bytes())
    monkeypatch.chdir(tmp_path)
    assert load_settings().university.name == "Université de Montpellier"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["university"].update(emal_domain="x.fr"), "unknown key [university] emal_domain (did you mean 'email_domain'?)"),
        (lambda d: d.update(universty={}), "unknown table [universty] (did you mean 'university'?)"),
        (lambda d: d.pop("ldap"), "the [ldap] table is missing"),
        (lambda d: d["university"].pop("ent_url"), "[university] needs ent_url"),
        (lambda d: d["university"].update(name=""), "[university] name is empty"),
        (lambda d: d["university"].update(email_domain="Etu.UM.fr"), "is not a domain name"),
        (lambda d: d["university"].update(ent_url="ent.um.fr"), "is not an http(s) URL"),
        (lambda d: d["university"].update(activation_url="https://a.fr/?p={password}"), "unknown placeholder {password}"),
        (lambda d: d["ldap"].update(people_dn="people"), "is not a DN"),
        (lambda d: d.update(password={"length": 13}), "gives 75 bits of entropy; at least 80 are needed"),
        (lambda d: d.update(password={"alphabet": "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"}), "holds 'o', which read alike"),
        (lambda d: d.update(password={"length": "15"}), "must be int"),
        (lambda d: d.update(password={"alphabet": DEFAULT_ALPHABET + "$"}), "holds '$', forbidden by [password_rules]"),
        (lambda d: d.update(password_rules={"min_length": 16}), "shorter than [password_rules] min_length 16"),
        (lambda d: d.update(sheet={"language": "french"}), "must be a language code like fr or en"),
        (lambda d: d.update(sheet={"color": "blue"}), "#RRGGBB"),
        (lambda d: d.update(identifiers={"pattern": "{prenom}.{last}"}), "unknown placeholder {prenom}"),
        (lambda d: d.update(identifiers={"pattern": "{first}"}), "must hold {last} or {last_initial}"),
        (lambda d: d.update(identifiers={"pattern": "{first}+{last}"}), "only a-z 0-9 . _ - may stand"),
        (lambda d: d.update(identifiers={"suffix": "_"}), "must hold {n} once"),
        (lambda d: d.update(identifiers={"reserved": ["Admin"]}), "'Admin' is not a login"),
        (lambda d: d.update(identifiers={"reserved": "admin"}), "must be a list of strings"),
        (lambda d: d.update(identifiers={"short_pattern": "{first}"}), "short_pattern = '{first}': must hold {last}"),
        (lambda d: d.update(identifiers={"max_length": 80}), "between 8 and 64"),
        (lambda d: d.update(columns={"numero": "Numéro"}), "unknown key [columns] numero"),
        (lambda d: d.update(columns={"first_name": "Nom", "birth_name": "NOM "}), "both name the column"),
        (lambda d: d.update(identifiers={"suffix": "{n}."}), "must not end with"),
        (lambda d: d.update(identifiers={"pattern": "{first}..{last}"}), "two of them in a row"),
        (lambda d: d.update(identifiers={"max_length": 8, "short_max_length": 8, "suffix": "-etu-{n}"}), "less than 4"),
        (lambda d: d["ldap"].update(profile="supann"), "the supann profile needs the establishment's UAI"),
        (lambda d: d["ldap"].update(profile="eduperson"), "must be one of inetorgperson, supann"),
    ],
    ids=[
        "unknown-key", "unknown-table", "missing-table", "missing-key", "empty-name", "bad-domain", "bad-url",
        "password-in-url", "bad-dn", "weak-password", "look-alikes", "wrong-type", "forbidden-char", "rules-longer", "language",
        "color", "pattern-placeholder", "pattern-without-last", "pattern-literal", "suffix", "reserved-word",
        "reserved-not-list", "short-pattern", "max-length", "columns-key", "columns-same-header", "suffix-end",
        "double-separator", "no-room", "supann-without-uai", "unknown-profile",
    ],
)  # fmt: skip
def test_bad_settings(change: Any, message: str) -> None:
    data = sample()
    change(data)
    with pytest.raises(ConfigError) as caught:
        settings_from_dict(data, "u.toml")
    assert message in str(caught.value)
    assert str(caught.value).startswith("u.toml: ")


def test_not_toml(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[university\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path)


def test_init_template_must_be_filled_in(tmp_path: Path) -> None:
    template = config_template()
    path = tmp_path / "c.toml"
    path.write_text(template)
    # Unedited, it refuses to run: no silent default university.
    with pytest.raises(ConfigError, match=r"\[university\] name is empty"):
        load_settings(path)
    filled = (
        template.replace('name = ""', 'name = "Université Test"', 1)
        .replace('ent_url = ""', 'ent_url = "https://ent.test.fr"')
        .replace('activation_url = ""', 'activation_url = "https://ent.test.fr/activation?login={identifier}"')
        .replace('email_domain = ""', 'email_domain = "etu.test.fr"')
        .replace('people_dn = ""', 'people_dn = "ou=people,dc=test,dc=fr"')
    )
    path.write_text(filled)
    assert load_settings(path).university.name == "Université Test"


# What `scolpass init` writes as a default, "# key = value", is the default; an example is "# e.g. key = value".
_COMMENTED = re.compile(r"# (?P<example>e\.g\. )?(?P<key>[a-z_][a-z0-9_]*) = (?P<value>.+)")


def template_keys() -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The template's commented-out keys, by table: the defaults, and the examples."""
    defaults: dict[str, dict[str, Any]] = {}
    examples: dict[str, dict[str, Any]] = {}
    table = ""
    for line in config_template().splitlines():
        header = re.fullmatch(r"\[(\w+)\]", line)
        if header:
            table = header.group(1)
            continue
        found = _COMMENTED.fullmatch(line)
        if found:
            key = found["key"]
            value = tomllib.loads(f"{key} = {found['value']}")[key]  # a commented line must be TOML
            (examples if found["example"] else defaults).setdefault(table, {})[key] = value
    return defaults, examples


def fields_of(table: str) -> dict[str, dataclasses.Field[Any]]:
    kind = _SECTIONS[table].kind
    assert kind is not None
    return {f.name: f for f in dataclasses.fields(kind)}


def test_the_template_defaults_are_the_dataclass_defaults() -> None:
    defaults, examples = template_keys()
    written = tomllib.loads(config_template())
    assert sorted(written) == sorted(_SECTIONS)  # every table
    assert "columns" not in defaults  # no column has a default header
    assert defaults["password"]["length"] == 15  # the lines were found
    for table, keys in defaults.items():
        fields = fields_of(table)
        for key, value in keys.items():
            assert key in fields, (table, key)
            default = fields[key].default
            value = tuple(value) if isinstance(value, list) else value
            # The type too: false is not 0.
            assert (type(value), value) == (type(default), default), (
                f"[{table}] {key} = {value!r}: the default is {default!r}"
            )
    for table, keys in examples.items():
        for key, value in keys.items():
            if table == "columns":
                assert key in BY_NAME, key
                continue
            assert key in fields_of(table), (table, key)
            field = fields_of(table)[key]
            default_form = list(field.default) if isinstance(field.default, tuple) else field.default
            assert value != default_form, f"[{table}] {key}: the default, not an example"
            hint = typing.get_type_hints(_SECTIONS[table].kind)[key]
            if typing.get_origin(hint) is tuple:
                assert isinstance(value, list), (table, key)
                assert all(isinstance(v, str) for v in value), (table, key)
            elif Faculty in (typing.get_args(hint) or (hint,)):
                assert isinstance(value, str | dict), (table, key)  # a label, or { code, label }
            else:
                assert isinstance(value, typing.get_args(hint) or hint), (table, key)
    # The keys to fill in are written uncommented, empty; beside them only defaults.
    for table, keys in written.items():
        fields = fields_of(table) if table != "columns" else {}
        for key, value in keys.items():
            assert key in fields, (table, key)
            if fields[key].default is dataclasses.MISSING:
                assert value == "", (table, key)
            else:
                assert value == fields[key].default, (table, key)
        required = [
            name
            for name, f in fields.items()
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        assert set(required) <= set(keys), (table, required)


# -- issue 11: printed text is checked, with clear errors (URLs, DNs, domains: test_validators.py) --


@pytest.mark.parametrize(
    ("table", "key", "value", "reason"),
    [
        ("university", "name", "Université\nde Montpellier", "character U+000A"),
        ("university", "name", "Université \u202eMontpellier", "character U+202E"),
        ("university", "name", "x" * 201, "longer than 200 characters"),
        ("university", "short_name", "U\x00M", "character U+0000"),
        ("university", "short_name", "U" * 41, "longer than 40 characters"),
        ("university", "uai", "0341087", "is not a UAI code"),
        ("university", "uai", "0341087X\n", "is not a UAI code"),
        ("sheet", "color", "#1f4e8c\n", "must be written #RRGGBB"),
        ("sheet", "logo", "logo\x00.png", "character U+0000"),
        ("sheet", "templates", "templates\n", "character U+000A"),
        ("sheet", "templates", "t/" * 2049, "longer than 4,096 characters"),
        ("registry", "path", "scolpass\r.sqlite3", "character U+000D"),
        ("password_rules", "forbidden_characters", "<>\x07", "character U+0007"),
        ("identifiers", "pattern", "{first}.{\x1b[31m}", "character U+001B"),
        ("columns", "first_name", "Prénom\n", "character U+000A"),
        ("sheet", "language", "fr\n", "language code"),
        ("ldap", "profile", "supann\n", "must be one of"),
    ],
    ids=[
        "name-newline", "name-bidi", "name-long", "short-name-nul", "short-name-long", "uai-short", "uai-newline",
        "color-newline", "logo-nul", "templates-newline", "templates-long", "registry-cr", "forbidden-bell",
        "pattern-escape", "column-newline", "language-newline", "profile-newline",
    ],
)  # fmt: skip
def test_bad_printed_text_is_refused(table: str, key: str, value: str, reason: str) -> None:
    message = refusal(table, key, value)
    assert message.startswith(f"u.toml: [{table}] {key} = {value[:40]!r}"[:-1])
    assert reason in message
    assert value not in message or value.isprintable()  # shown with repr: controls visible


def test_huge_value_is_cut_short_in_the_message() -> None:
    message = refusal("university", "name", "x" * 1_000_000)
    assert len(message) < 200
    assert "(1,000,000 characters)" in message


@pytest.mark.parametrize("length", [-1, 0, 129, 2**62])
def test_password_length_out_of_range_is_refused(length: int) -> None:
    assert "must be between 1 and 128" in refusal("password", "length", length)


def test_uai_is_optional_but_checked_when_given() -> None:
    assert settings_with("university", "uai", "0341087X").university.uai == "0341087X"
    assert settings_with("university", "uai", "").university.uai == ""


# Valid values, spliced with characters parsers slip on: most mutants are near-misses.
TEXT_KEYS = {
    ("university", "name"): "Université de Montpellier",
    ("university", "short_name"): "UM",
    ("university", "uai"): "0341087X",
    ("university", "ent_url"): "https://ent.umontpellier.fr:8443/cas?a=b%20c#d",
    ("university", "activation_url"): "https://ent.umontpellier.fr/activer?login={identifier}&mail={email}",
    ("university", "email_domain"): "etu.xn--universit-j4a.fr",
    ("ldap", "people_dn"): "ou=people+cn=a\\2c b,dc=umontpellier,2.5.4.3=fr",
    ("ldap", "eppn_scope"): "umontpellier.fr",
    ("ldap", "profile"): "inetorgperson",
    ("registry", "path"): "/srv/scolpass.sqlite3",
    ("sheet", "language"): "fr",
    ("sheet", "login_display"): "email",
    ("sheet", "color"): "#1f4e8c",
    ("sheet", "logo"): "logo.png",
    ("sheet", "templates"): "templates",
    ("password", "alphabet"): DEFAULT_ALPHABET,
    ("password_rules", "forbidden_characters"): "<>\"'$",
    ("identifiers", "pattern"): "{first}.{last}",
    ("identifiers", "short_pattern"): "{first_initial}{last}",
    ("identifiers", "suffix"): "{n}",
    ("columns", "first_name"): "Prénom",
}
SLIPS = st.text(
    st.sampled_from(list(",+=\\#\"<>; :/@%?{}[].-_~'\n\r\t\x00\x1b\u202e\u200b\u00a0éÀßxn0123456789aZ")), max_size=4
)


@st.composite
def near_or_any(draw: st.DrawFn, valid: str) -> str:
    if draw(st.booleans()):
        return draw(st.text(max_size=60))
    start = draw(st.integers(0, len(valid)))
    end = draw(st.integers(start, len(valid)))
    return valid[:start] + draw(SLIPS | st.text(max_size=3)) + valid[end:]


@pytest.mark.parametrize(("table", "key"), list(TEXT_KEYS))
@given(data=st.data())
@settings(max_examples=150, deadline=None)
def test_any_text_in_a_key_is_accepted_or_refused_with_a_config_error(
    table: str, key: str, data: st.DataObject
) -> None:
    value = data.draw(near_or_any(TEXT_KEYS[(table, key)]), label="value")
    try:
        s = settings_with(table, key, value)
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith("u.toml: [")
        assert text_problem(message, 5000) is None  # no raw control character reaches the terminal
        return
    assert text_problem(value, 5000) is None
    if key in ("ent_url", "activation_url"):
        link = activation_link(value, "jean.martin-2", "jean.martin-2@etu.umontpellier.fr")
        for url in (value, link):
            parts = urlsplit(url)
            assert parts.scheme in ("http", "https")
            assert parts.hostname
            assert "@" not in parts.netloc
        assert url_problem(link) is None
    if key == "people_dn":
        rdns = parse_dn(value)
        assert parse_dn(format_dn(rdns)) == rdns
        assert parse_dn(dn_of("jean.martin-2", value)) == ((("uid", "jean.martin-2"),), *rdns)
        assert s.ldap.people_dn == value
    if key in ("email_domain", "eppn_scope") and value:
        assert value.isascii()
        assert len(value) <= 253
        assert all(0 < len(label) <= 63 and label[0] != "-" != label[-1] for label in value.split("."))


INT_KEYS = [
    ("password", "length"), ("password", "group"), ("credentials", "sha512_rounds"), ("credentials", "bcrypt_cost"),
    ("credentials", "argon2_time_cost"), ("credentials", "argon2_memory_kib"), ("batches", "max_sheets"),
    ("password_rules", "min_length"), ("password_rules", "recommended_length"), ("identifiers", "max_length"),
    ("identifiers", "short_max_length"),
]  # fmt: skip


@pytest.mark.parametrize(("table", "key"), INT_KEYS)
@given(value=st.integers(-(2**63), 2**63 - 1))  # TOML's integers
@settings(max_examples=60, deadline=None)
def test_any_integer_in_a_key_is_accepted_or_refused_with_a_config_error(table: str, key: str, value: int) -> None:
    with contextlib.suppress(ConfigError):
        settings_with(table, key, value)


def test_bcrypt_refuses_a_password_it_would_cut() -> None:
    import dataclasses

    from scolpass.settings import CredentialSettings, PasswordPolicy, check_settings

    sample = load_settings(SAMPLES / "scolpass.toml")
    long_bcrypt = dataclasses.replace(
        sample, password=PasswordPolicy(length=80), credentials=CredentialSettings(hash="bcrypt")
    )
    with pytest.raises(ConfigError, match=r"\[password\] length 80: bcrypt hashes 72 bytes at most"):
        check_settings(long_bcrypt)
    check_settings(dataclasses.replace(long_bcrypt, credentials=CredentialSettings(hash="sha512_crypt")))


# -- Which fault is reported first: sections in order, each rule across sections after its section ----


def test_every_section_has_its_check_and_every_rule_its_section() -> None:
    assert list(_SECTIONS) == [f.name for f in dataclasses.fields(Settings) if f.name != "source"]
    assert all(rule.after in _SECTIONS for rule in _ACROSS_SECTIONS)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        # The earlier section first, whatever the kind of fault.
        ({"university": {"email_domain": "Etu.fr"}, "identifiers": {"pattern": "{first}.{\x1b}"}}, "[university] email_domain"),
        ({"password": {"length": 13}, "credentials": {"hash": "md5"}}, "[password] length 13 over"),
        # A rule across sections after its section's own faults, before the next section's.
        ({"credentials": {"hash": "bcrypt", "bcrypt_cost": 3}, "password": {"length": 80}}, "[credentials] bcrypt_cost"),
        ({"credentials": {"hash": "bcrypt"}, "password": {"length": 80}, "batches": {"max_sheets": 0}}, "bcrypt hashes 72 bytes"),
        ({"ldap": {"profile": "supann", "people_dn": "people"}}, "[ldap] people_dn = 'people' is not a DN"),
        ({"password_rules": {"min_length": 16}}, "[password] length 15 is shorter than [password_rules] min_length 16"),
        # [columns] as read, before every other section's values.
        ({"university": {"name": ""}, "columns": {"first_name": "Prénom\n"}}, "[columns] first_name"),
    ],
    ids=["earlier-section", "password-before-credentials", "rule-after-its-section", "rule-before-next-section",
         "supann-after-ldap", "rules-longer", "columns-as-read"],
)  # fmt: skip
def test_the_first_fault_in_the_documented_order_is_reported(changes: dict[str, dict[str, Any]], message: str) -> None:
    data = sample()
    for table, values in changes.items():
        data.setdefault(table, {}).update(values)
    with pytest.raises(ConfigError) as caught:
        settings_from_dict(data, "u.toml")
    assert str(caught.value).startswith("u.toml: ")
    assert message in str(caught.value)


def test_settings_made_in_code_have_their_columns_checked_too() -> None:
    sample_settings = load_settings(SAMPLES / "scolpass.toml")
    with pytest.raises(ConfigError, match=r"^configuration: \[columns\] first_name and birth_name both name"):
        check_settings(dataclasses.replace(sample_settings, columns={"birth_name": "Nom", "first_name": "NOM"}))


# -- issue 18: the registry's location, a file or a PostgreSQL server ---------------------


def registry_settings(**values: object) -> Any:
    data = sample()
    data["registry"] = {k: v for k, v in data.get("registry", {}).items() if k != "path"} | values
    return settings_from_dict(data, "u.toml")


def test_the_registry_is_a_file_or_a_postgresql_url(tmp_path: Path) -> None:
    from scolpass.admin import registry_location

    url = "postgresql://scolpass@db.example.fr:5432/scolpass"
    assert registry_location(registry_settings(url=url), None) == url
    assert registry_location(registry_settings(url="postgresql:///scolpass?service=scolpass"), None) == (
        "postgresql:///scolpass?service=scolpass"
    )
    config = tmp_path / "scolpass.toml"  # a file is found beside the configuration that names it
    for written in ("sqlite:///r.sqlite3", "r.sqlite3"):
        read = dataclasses.replace(registry_settings(url=written), source=config)
        assert registry_location(read, None) == tmp_path / "r.sqlite3"
        assert registry_location(read, url) == url  # --registry first
        assert registry_location(read, "sqlite:///other.sqlite3") == Path("other.sqlite3")  # from here
    assert registry_settings(url=url, allow_insecure=True).registry.allow_insecure


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"url": "postgresql://scolpass:S3cret-pass@db.example.fr/scolpass"}, "[registry] url holds a password"),
        ({"url": "postgresql://db.example.fr/scolpass?password=S3cret-pass"}, "[registry] url holds a password"),
        ({"url": "postgresql:db.example.fr/scolpass"}, "is not a postgresql://USER@HOST:PORT/DB URL"),
        ({"url": "r.sqlite3", "path": "r.sqlite3"}, "[registry] url and path both say where the registry is"),
        ({"url": "r\n.sqlite3"}, "character U+000A"),
        ({"allow_insecure": "yes"}, "allow_insecure"),
    ],
    ids=["password-in-userinfo", "password-parameter", "not-a-url", "url-and-path", "newline", "not-a-boolean"],
)
def test_a_registry_location_that_cannot_be_used_is_refused(values: dict[str, object], reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        registry_settings(**values)
    assert reason in str(caught.value)
    assert "S3cret-pass" not in str(caught.value)


@pytest.mark.parametrize("key", ["url", "auth_url"])
def test_a_password_written_in_a_server_url_is_never_shown(key: str) -> None:
    message = refusal("pegase", key, "https://scolpass:S3cret-pass@ins.example.fr/api")
    assert "holds a user name or password" in message
    assert "S3cret-pass" not in message
