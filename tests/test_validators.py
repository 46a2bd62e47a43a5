"""Printed text, URLs, domain names and DNs: each accepted or refused with the reason (validators.py).

Most cases go through a configuration, so that the message is checked as the registrar reads it:
the table, the key and the value first, then the validator's reason.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scolpass.exports import dn_of
from scolpass.validators import (
    MAX_DN,
    MAX_URL,
    dn_problem,
    domain_problem,
    format_dn,
    parse_dn,
    show,
    text_problem,
    url_problem,
)

from .conftest import refusal, settings_with

# -- issue 11: URLs, DNs and domains are checked, with clear errors, in the configuration ---------


GOOD_URLS = [
    "https://ent.umontpellier.fr",
    "http://ent.umontpellier.fr/",
    "HTTPS://ENT.Umontpellier.FR/cas/login",
    "https://ent.umontpellier.fr:8443/activer?service=https%3A%2F%2Fx.fr&lang=fr#top",
    "https://xn--universit-j4a.fr/~compte/(a);b=c,d!*'$+@:",
    "https://a-b.c0.fr:1/",
    "https://a.fr:65535",
]


@pytest.mark.parametrize("url", GOOD_URLS)
@pytest.mark.parametrize("key", ["ent_url", "activation_url"])
def test_good_urls_are_accepted(key: str, url: str) -> None:
    assert getattr(settings_with("university", key, url).university, key) == url


def test_activation_url_placeholders_are_accepted_after_the_host() -> None:
    url = "https://ent.umontpellier.fr/activer/{identifier}?mail={email}#{identifier}"
    assert settings_with("university", "activation_url", url).university.activation_url == url


@pytest.mark.parametrize(
    ("key", "url", "reason"),
    [
        ("ent_url", "javascript:alert(1)", "is not an http(s) URL"),
        ("ent_url", "ftp://ent.umontpellier.fr", "is not an http(s) URL"),
        ("ent_url", "https:ent.umontpellier.fr", "is not an http(s) URL"),
        ("ent_url", "//ent.umontpellier.fr", "is not an http(s) URL"),
        ("ent_url", "https:///cas", "has no host"),
        ("ent_url", "http://user:pw@ent.umontpellier.fr", "user name or password before '@'"),
        ("ent_url", "https://ent.umontpellier.fr@evil.example", "user name or password before '@'"),
        ("ent_url", "http://exa mple.fr", "character U+0020"),
        ("ent_url", "https://ent.fr/\nEvil text", "character U+000A"),
        ("ent_url", "https://ent.fr/\u202eevil", "character U+202E"),
        ("ent_url", "\x00https://ent.fr", "character U+0000"),
        ("ent_url", "https://ent.fr/é", "non-ASCII"),
        ("ent_url", "https://ent.fr:0/", "a port is a number from 1 to 65535"),
        ("ent_url", "https://ent.fr:65536/", "a port is a number from 1 to 65535"),
        ("ent_url", "https://ent.fr:http/", "a port is a number from 1 to 65535"),
        ("ent_url", "https://ent.fr:/", "a port is a number from 1 to 65535"),
        ("ent_url", "https://127.0.0.1/", "not an IP address or localhost"),
        ("ent_url", "https://[::1]:8443/", "not an IP address or localhost"),
        ("ent_url", "http://localhost:8080/", "not an IP address or localhost"),
        ("ent_url", "https://ent/", "needs two labels or more"),
        ("ent_url", "https://-ent.fr/", "starts or ends with '-'"),
        ("ent_url", "https://ent_etu.fr/", "other characters than a-z, 0-9 and '-'"),
        ("ent_url", "https://ent.fr./", "has an empty label"),
        ("ent_url", "https://ent.fr/<script>", "holds '<'"),
        ("ent_url", 'https://ent.fr/"', "holds '\"'"),
        ("ent_url", "https://ent.fr/a\\b", "holds '\\\\'"),
        ("ent_url", "https://ent.fr/#a#b", "holds '#'"),
        ("ent_url", "https://ent.fr/%zz", "'%' not followed by two hexadecimal digits"),
        ("ent_url", "https://ent.fr/x%?20", "'%' not followed by two hexadecimal digits"),
        ("ent_url", "https://ent.fr/{identifier}", "holds '{'"),
        ("ent_url", "https://ent.fr/" + "a" * 2000, "longer than 2,000 characters"),
        ("activation_url", "https://{identifier}.umontpellier.fr/", "placeholder in its host"),
        ("activation_url", "https://a.fr/%{identifier}41", "'%' not followed by two hexadecimal digits"),
        ("activation_url", "https://a.fr/?" + "{email}" * 30, "filled in for the longest login"),
    ],
    ids=[
        "javascript", "ftp", "no-slashes", "no-scheme", "no-host", "user-password", "at-sign", "space", "newline", "bidi",
        "nul", "non-ascii", "port-0", "port-65536", "port-name", "port-empty", "ipv4", "ipv6", "localhost", "one-label",
        "hyphen-label", "underscore", "trailing-dot", "angle-bracket", "quote", "backslash", "two-hashes", "bad-percent",
        "percent-split", "brace-in-ent-url", "too-long", "placeholder-in-host", "percent-placeholder", "link-too-long",
    ],
)  # fmt: skip
def test_bad_urls_are_refused(key: str, url: str, reason: str) -> None:
    message = refusal("university", key, url)
    assert message.startswith(f"u.toml: [university] {key} = {url[:40]!r}"[:-1])
    assert reason in message


GOOD_DNS = [
    "ou=people,dc=umontpellier,dc=fr",
    "OU=People,DC=Example,DC=FR",
    "ou=étudiants,o=université de montpellier,c=fr",
    "ou=\\c3\\a9tudiants,dc=fr",
    'ou=a\\,b\\+c\\;d\\<e\\>f\\=g\\\\h\\"i,dc=fr',
    "ou=\\#1\\ ,dc=fr",
    "ou=a#b c,dc=fr",
    "ou=people+cn=students,dc=fr",
    "2.5.4.11=people,0.9.2342.19200300.100.1.25=fr",
    "x-custom-1=v",
]


@pytest.mark.parametrize("dn", GOOD_DNS)
def test_good_dns_are_accepted_and_round_trip(dn: str) -> None:
    assert settings_with("ldap", "people_dn", dn).ldap.people_dn == dn
    rdns = parse_dn(dn)
    assert parse_dn(format_dn(rdns)) == rdns
    assert parse_dn(dn_of("jean.martin", dn)) == ((("uid", "jean.martin"),), *rdns)


def test_dn_escapes_are_read() -> None:
    assert parse_dn("ou=\\c3\\a9tudiants\\2c L1+cn=\\ x\\ ,dc=fr") == (
        (("ou", "étudiants, L1"), ("cn", " x ")),
        (("dc", "fr"),),
    )


@pytest.mark.parametrize(
    ("dn", "reason"),
    [
        ("", "is empty"),
        ("people", "needs an attribute type like ou or dc"),
        ("ou=people\n,dc=fr", "character U+000A"),
        ("ou=people,dc=fr\n", "character U+000A"),
        ("ou=peo\x00ple,dc=fr", "character U+0000"),
        ("ou=\\0a,dc=fr", "escaped control or invisible character U+000A"),
        ("ou=people,,dc=fr", "has an empty part"),
        (",ou=people,dc=fr", "has an empty part"),
        ("ou=people,dc=fr,", "has an empty part"),
        ("ou=people,dc=", "has an empty value"),
        ("ou=,dc=fr", "has an empty value"),
        ("ou=a+b,dc=fr", "has 'b' after '+', which is not type=value"),
        ("ou=people,dc fr", "has 'dc fr' after ','"),
        ("ou=people=dc=fr", "holds '=' in a value"),
        ("=people,dc=fr", "needs an attribute type"),
        ("ou==people,dc=fr", "holds '=' in a value"),
        ("ou=a\\zz,dc=fr", "bad escape '\\\\zz'"),
        ("ou=a\\4,dc=fr", "bad escape"),
        ("ou=a\\", "bad escape"),
        ("ou=\\c3,dc=fr", "not UTF-8"),
        ("ou=people, dc=fr", "space around an attribute type"),
        ("ou =people,dc=fr", "space around an attribute type"),
        ("ou= people,dc=fr", "space at the start or end of a value"),
        ("ou=people ,dc=fr", "space at the start or end of a value"),
        ("ou=#0401,dc=fr", "starts with '#'"),
        ('ou="people",dc=fr', "holds '\"' in a value"),
        ("ou=a;dc=fr", "holds ';' in a value"),
        ("ou=<people>,dc=fr", "holds '<' in a value"),
        ("1ou=people", "needs an attribute type"),
        ("01.2=people", "needs an attribute type"),
        ("OID.2.5.4.11=people", "needs an attribute type"),
        ("ou=" + "a" * 1000, "longer than 1,000 characters"),
    ],
    ids=[
        "empty", "no-equals", "newline-inside", "newline-at-end", "nul", "escaped-newline", "double-comma",
        "leading-comma", "trailing-comma", "empty-last-value", "empty-value", "bare-plus", "missing-equals",
        "equals-for-comma", "no-type", "double-equals", "bad-escape", "half-hex", "lone-backslash", "not-utf8",
        "space-after-comma", "space-before-equals", "leading-space", "trailing-space", "ber-value", "quotes",
        "semicolon", "angle-brackets", "type-starts-with-digit", "oid-leading-zero", "oid-prefix", "too-long",
    ],
)  # fmt: skip
def test_bad_dns_are_refused(dn: str, reason: str) -> None:
    message = refusal("ldap", "people_dn", dn)
    assert message.startswith("u.toml: [ldap] people_dn = ")
    assert "is not a DN like 'ou=people,dc=example,dc=fr'" in message
    assert reason in message


GOOD_DOMAINS = [
    "etu.umontpellier.fr",
    "a.fr",
    "0-9.a-b.fr",
    "xn--universit-j4a.fr",
    "etu.xn--p1ai",
    ("a" * 63 + ".") * 3 + "a" * 58 + ".fr",  # 253 characters
]


@pytest.mark.parametrize("domain", GOOD_DOMAINS)
@pytest.mark.parametrize(("table", "key"), [("university", "email_domain"), ("ldap", "eppn_scope")])
def test_good_domains_are_accepted(table: str, key: str, domain: str) -> None:
    assert getattr(getattr(settings_with(table, key, domain), table), key) == domain


@pytest.mark.parametrize(
    ("domain", "reason"),
    [
        ("-a.fr", "starts or ends with '-'"),
        ("a-.fr", "starts or ends with '-'"),
        ("a" * 64 + ".fr", "longer than 63 characters"),
        (("a" * 63 + ".") * 3 + "a" * 59 + ".fr", "longer than 253 characters"),
        ("Etu.UM.fr", "lower case"),
        ("fr", "needs two labels or more"),
        ("etu..fr", "empty label"),
        (".etu.fr", "empty label"),
        ("etu.fr.", "empty label"),
        ("etu_um.fr", "other characters than a-z"),
        ("etu.fr\n", "character U+000A"),
        ("etu.fr ", "other characters than a-z"),
        ("etu.123", "top-level domain like fr"),
        ("192.168.0.1", "top-level domain like fr"),
        ("xn--abc.fr", "not valid punycode"),
        ("xn--a.fr", "not valid punycode"),
        ("université.fr", "'xn--universit-j4a.fr' if the name is right"),
        ("@etu.fr", "other characters than a-z"),
    ],
    ids=[
        "leading-hyphen", "trailing-hyphen", "label-64", "total-254", "upper-case", "one-label", "double-dot",
        "leading-dot", "trailing-dot", "underscore", "newline", "space", "numeric-tld", "ip-address",
        "bad-punycode", "punycode-control", "unicode", "at-sign",
    ],
)  # fmt: skip
@pytest.mark.parametrize(("table", "key"), [("university", "email_domain"), ("ldap", "eppn_scope")])
def test_bad_domains_are_refused(table: str, key: str, domain: str, reason: str) -> None:
    message = refusal(table, key, domain)
    assert message.startswith(f"u.toml: [{table}] {key} = {domain[:40]!r}"[:-1])
    assert " is not a domain name: it " in message
    assert reason in message


def rdn_values() -> st.SearchStrategy[str]:
    printable = st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))
    return st.text(st.sampled_from(list('\\,+=;<>"# ')) | printable, min_size=1, max_size=12)


@given(
    rdns=st.lists(
        st.lists(
            st.tuples(
                st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,5}|[12]\.(0|[1-9][0-9]{0,2})", fullmatch=True), rdn_values()
            ),
            min_size=1,
            max_size=3,
        ).map(tuple),
        min_size=1,
        max_size=4,
    )
)
@settings(deadline=None)
def test_any_dn_scolpass_writes_is_read_back_the_same(rdns: list[tuple[tuple[str, str], ...]]) -> None:
    dn = format_dn(rdns)
    assert parse_dn(dn) == tuple(rdns)
    assert settings_with("ldap", "people_dn", dn).ldap.people_dn == dn


# -- The validators alone, as a web form or the directory writer calls them ------------------------


def test_the_validators_accept_what_the_configuration_accepts() -> None:
    assert all(url_problem(url) is None for url in GOOD_URLS)
    assert url_problem("https://a.fr/{identifier}", ("identifier",)) is None
    assert url_problem("https://a.fr/{identifier}") == "holds '{', which a URL cannot hold as is: percent-encode it"
    assert all(domain_problem(domain) is None for domain in GOOD_DOMAINS)
    assert all(dn_problem(dn) is None for dn in GOOD_DNS)
    assert text_problem("Université de Montpellier", 200) is None


def test_the_validators_say_why_without_the_value() -> None:
    # The caller puts the value and its name first: "[ldap] people_dn = 'people' is not a DN...: it ...".
    assert dn_problem("people") == "needs an attribute type like ou or dc, then '=', at position 1"
    assert dn_problem("ou=" + "a" * MAX_DN) == "is longer than 1,000 characters"
    assert domain_problem("Etu.fr") == "must be written in lower case"
    assert url_problem("https://a.fr/" + "a" * MAX_URL) == "is longer than 2,000 characters"
    assert text_problem("x" * 201, 200) == "is longer than 200 characters"
    assert text_problem("a\u202eb", 200) == "holds the control or invisible character U+202E"


def test_show_quotes_a_value_and_cuts_a_long_one() -> None:
    assert show("a\nb") == "'a\\nb'"
    assert show(5) == "5"
    assert show("x" * 1000) == "'" + "x" * 59 + "... (1,000 characters)"
