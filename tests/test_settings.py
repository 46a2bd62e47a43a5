"""Configuration: mandatory, checked, with suggestions for slips."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from scolpass import ConfigError, load_settings, settings_from_dict
from scolpass.settings import DEFAULT_ALPHABET, config_template

from .conftest import SAMPLES


def sample() -> dict[str, Any]:
    with (SAMPLES / "scolpass.toml").open("rb") as handle:
        return tomllib.load(handle)


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
