"""Settings: frozen dataclasses, filled from defaults then a TOML file.

A configuration is mandatory: a forgotten file must never print another
university's addresses, so there is no built-in university.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import grp
import itertools
import math
import re
import string
import tomllib
import typing
import unicodedata
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .columns import BY_NAME, normalise_header
from .errors import ConfigError
from .spreadsheet import FORMULA_START

DEFAULT_CONFIG_NAME = "scolpass.toml"

# Look-alike characters (0 O o 1 l I) are left out: the password is copied from paper.
DEFAULT_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
# CNIL (deliberation 2022-100): 80 bits for a password used alone.
MIN_ENTROPY_BITS = 80.0
# Characters misread on paper; never in a provisional password.
LOOK_ALIKES = "0Oo1lI"
HASH_SCHEMES = ("sha512_crypt", "argon2", "ssha", "bcrypt")
LOGIN_DISPLAYS = ("email", "identifier")
LDAP_PROFILES = ("inetorgperson", "supann")
URL_PLACEHOLDERS = ("identifier", "email")


@dataclass(frozen=True)
class University:
    """Who issues the sheets, and where students go."""

    name: str
    ent_url: str
    activation_url: str
    email_domain: str
    short_name: str = ""
    # The establishment's UAI code (e.g. 0341087X), required by the supann profile.
    uai: str = ""

    @property
    def label(self) -> str:
        """The short name used in running text ("votre mail UM")."""
        return self.short_name or self.name


@dataclass(frozen=True)
class Ldap:
    """Where the accounts live in the directory, and how their entries look."""

    people_dn: str
    # "inetorgperson" loads into any directory; "supann" adds eduPerson and supannPerson (RENATER).
    profile: str = "inetorgperson"
    # eduPersonPrincipalName's scope; default: the e-mail domain.
    eppn_scope: str = ""
    # pwdReset: TRUE, so that a directory with the ppolicy overlay forces a new password at first login.
    must_change: bool = False


@dataclass(frozen=True)
class RegistrySettings:
    """The registry file; ``None`` means ``./scolpass.sqlite3``."""

    path: str | None = None
    # A group whose members share the registry and the output folders on one machine (several
    # registrars, a service account): the registry is then 0660 and the folders 0770, for that group.
    group: str = ""


@dataclass(frozen=True)
class SheetSettings:
    """How the sheet reads."""

    # The default language; a "language" column in the export chooses per student.
    language: str = "fr"
    # What the "Identifiant" line shows: what the student types to log in.
    login_display: str = "email"
    color: str = "#1f4e8c"
    # The university's logo (PNG, JPEG or SVG), in the header; relative to this file.
    logo: str = ""
    # A folder of the university's own sheet.<language>.j2, used before the shipped ones.
    templates: str = ""
    # Mode of the sheet PDFs (octal): "0640" lets the owner's group (a print service) read them.
    file_mode: str = "0600"

    @property
    def mode(self) -> int:
        """``file_mode`` as a number (checked by :func:`check_settings`)."""
        return int(self.file_mode, 8)


@dataclass(frozen=True)
class PasswordPolicy:
    """The provisional password scolpass generates."""

    length: int = 15
    alphabet: str = DEFAULT_ALPHABET
    # Printed in groups of this many characters, spaced visually only (0: one block).
    group: int = 0

    @property
    def entropy_bits(self) -> float:
        """Entropy of a password drawn uniformly among those the generator can return."""
        return math.log2(max(count_valid_passwords(self.alphabet, self.length), 1))


@dataclass(frozen=True)
class CredentialSettings:
    """How the credential files are written."""

    # sha512_crypt, argon2, ssha or bcrypt: each verified by stock OpenLDAP (argon2 with moduleload argon2).
    hash: str = "sha512_crypt"
    sha512_rounds: int = 5000  # the scheme's own default; the password's entropy protects it
    bcrypt_cost: int = 10
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    # credentials.csv with ";" and a UTF-8 BOM, as French Excel opens it.
    csv_excel: bool = False


@dataclass(frozen=True)
class BatchSettings:
    """How the sheets are split for printing and handing out."""

    max_sheets: int = 2000  # a part's sheets; files stay printable and memory bounded
    duplex: bool = False  # blank backs: each sheet on its own sheet of paper


@dataclass(frozen=True)
class PasswordRules:
    """The university's rules for the password the student chooses (printed on the sheet)."""

    min_length: int = 8
    recommended_length: int = 12
    forbidden_characters: str = "<>\"'$"


@dataclass(frozen=True)
class IdentifierSettings:
    """How logins are made."""

    # Placeholders: {first}, {last}, {first_initial}, {last_initial}.
    pattern: str = "{first}.{last}"
    max_length: int = 64  # an e-mail address's local part
    # How the second, third... homonym is told apart: jean.martin2, jean.martin3.
    suffix: str = "{n}"
    # Logins never issued, beside the built-in ones (admin, root, postmaster...).
    reserved: tuple[str, ...] = ()
    # An optional second login for systems with short names (Active Directory's sAMAccountName).
    short_pattern: str = ""
    short_max_length: int = 20


@dataclass(frozen=True)
class Settings:
    """Everything a run needs besides its input."""

    university: University
    ldap: Ldap
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    sheet: SheetSettings = field(default_factory=SheetSettings)
    password: PasswordPolicy = field(default_factory=PasswordPolicy)
    credentials: CredentialSettings = field(default_factory=CredentialSettings)
    batches: BatchSettings = field(default_factory=BatchSettings)
    password_rules: PasswordRules = field(default_factory=PasswordRules)
    identifiers: IdentifierSettings = field(default_factory=IdentifierSettings)
    # [columns]: scolpass column name to the header of the university's own export.
    columns: Mapping[str, str] = field(default_factory=dict)
    source: Path | None = None

    def login_of(self, identifier: str) -> str:
        """What the student types to log in."""
        if self.sheet.login_display == "email":
            return email_of(identifier, self.university.email_domain)
        return identifier


def email_of(identifier: str, domain: str) -> str:
    """The student's address."""
    return f"{identifier}@{domain}"


def first_symbols(alphabet: str) -> str:
    """The symbols of ``alphabet`` a password may begin with: none that starts a spreadsheet formula
    (every CSV would then put an apostrophe before it, and the password would not be itself there)."""
    # Nor an apostrophe: "'=..." would itself be escaped ("''=...").
    return "".join(c for c in alphabet if c not in FORMULA_START and c != "'")


@functools.lru_cache(maxsize=16)  # the generator asks for every password; the answer depends on the policy only
def count_valid_passwords(alphabet: str, length: int) -> int:
    """How many passwords the generator can return: a lower case letter, an upper case letter and
    a digit, and no formula symbol first.

    Inclusion-exclusion over the classes that are missing, with the first position drawn from
    :func:`first_symbols`; exact, so that the entropy shown is the real one after redrawing.
    """
    if length < 1:
        return 0
    symbols, first = set(alphabet), set(first_symbols(alphabet))
    tests = (str.islower, str.isupper, str.isdigit)  # the generator's own classes, which never overlap
    sizes = [(sum(map(test, symbols)), sum(map(test, first))) for test in tests]
    total = 0
    for missing in itertools.product((False, True), repeat=len(tests)):
        left = len(symbols) - sum(size for (size, _), gone in zip(sizes, missing, strict=True) if gone)
        left_first = len(first) - sum(size for (_, size), gone in zip(sizes, missing, strict=True) if gone)
        total += (-1) ** sum(missing) * left_first * left ** (length - 1)
    return total


_SECTIONS: dict[str, type] = {
    "university": University,
    "ldap": Ldap,
    "registry": RegistrySettings,
    "sheet": SheetSettings,
    "password": PasswordPolicy,
    "credentials": CredentialSettings,
    "batches": BatchSettings,
    "password_rules": PasswordRules,
    "identifiers": IdentifierSettings,
}


def _nearest(word: str, choices: typing.Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _key(key: str) -> str:
    """A key from the file as written, or quoted when it could hide or garble (a terminal escape)."""
    return key if key.isprintable() and len(key) <= 80 else _show(key)


def _build(name: str, cls: type, table: Any, where: str) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [{name}] must be a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in fields:
            raise ConfigError(f"{where}: unknown key [{name}] {_key(key)}{_nearest(key, fields)}")
        expected = hints[key]
        if typing.get_origin(expected) is tuple:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where}: [{name}] {key} = {_show(value)} must be a list of strings")
            values[key] = tuple(value)
            continue
        accepted = typing.get_args(expected) or (expected,)
        if not isinstance(value, accepted) or isinstance(value, bool) != (bool in accepted):
            kind = " or ".join(t.__name__ for t in accepted if t is not type(None))
            raise ConfigError(f"{where}: [{name}] {key} = {_show(value)} must be {kind}")
        values[key] = value
    missing = [
        f.name
        for f in fields.values()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.name not in values
    ]
    if missing:
        raise ConfigError(f"{where}: [{name}] needs {', '.join(missing)}")
    return cls(**values)


def _columns(table: Any, where: str) -> dict[str, str]:
    if not isinstance(table, dict):
        raise ConfigError(f'{where}: [columns] must be a table of column = "Header in the file"')
    seen: dict[str, str] = {}
    for key, value in table.items():
        if key not in BY_NAME:
            raise ConfigError(f"{where}: unknown key [columns] {_key(key)}{_nearest(key, BY_NAME)}")
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}: [columns] {key} = {_show(value)} must be the header of a column in the file")
        problem = text_problem(value, MAX_NAME)
        if problem:
            raise ConfigError(f"{where}: [columns] {key} = {_show(value)} {problem}")
        header = normalise_header(value)
        if header in seen:
            raise ConfigError(f"{where}: [columns] {key} and {seen[header]} both name the column {_show(value)}")
        seen[header] = key
    return dict(table)


def settings_from_dict(data: dict[str, Any], where: str = "configuration") -> Settings:
    """Build and check settings from a parsed TOML document."""
    for section in data:
        if section not in _SECTIONS and section != "columns":
            raise ConfigError(f"{where}: unknown table [{_key(section)}]{_nearest(section, _SECTIONS)}")
    for required in ("university", "ldap"):
        if required not in data:
            raise ConfigError(f"{where}: the [{required}] table is missing")
    parts = {name: _build(name, cls, data[name], where) for name, cls in _SECTIONS.items() if name in data}
    settings = Settings(**parts, columns=_columns(data.get("columns", {}), where))
    check_settings(settings, where)
    return settings


def config_template() -> str:
    """The commented configuration ``scolpass init`` writes."""
    return (Path(__file__).resolve().parent / "config_template.toml").read_text(encoding="utf-8")


def load_settings(path: str | Path | None = None) -> Settings:
    """Read the configuration: ``path``, else ``./scolpass.toml``, else fail with a hint."""
    if path is None:
        candidate = Path(DEFAULT_CONFIG_NAME)
        if not candidate.is_file():
            raise ConfigError(
                f"no configuration: pass --config FILE, or run 'scolpass init' to write "
                f"a commented {DEFAULT_CONFIG_NAME} to fill in"
            )
        path = candidate
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    settings = settings_from_dict(data, str(path))
    return dataclasses.replace(settings, source=path)


_COLOR = re.compile(r"#[0-9A-Fa-f]{6}")

# Caps on printed and exported text: far above any real value, low enough that a
# pasted file or a runaway value is caught here rather than on 50,000 sheets.
MAX_URL = 2000  # browsers and QR codes (2,331 bytes at level M) stop near here
MAX_DN = 1000
MAX_NAME = 200
MAX_SHORT_NAME = 40
MAX_PATH = 4096  # Linux's PATH_MAX
MAX_PASSWORD_LENGTH = 128  # copied from paper; also keeps the entropy sum cheap

# Never accepted in a printed or exported value: controls (newline, NUL...), invisible
# format characters (bidi overrides that reorder printed text, zero-width spaces), line
# and paragraph separators, surrogates, private-use and unassigned code points.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _show(value: object) -> str:
    """``repr`` for a message, cut short: a pasted megabyte must not flood the terminal."""
    shown = repr(value)
    if len(shown) <= 80:
        return shown
    size = f" ({len(value):,} characters)" if isinstance(value, str) else ""
    return f"{shown[:60]}...{size}"


def _invisible(text: str) -> str | None:
    """The first character of ``text`` that cannot be seen or printed, or None."""
    return next((c for c in text if unicodedata.category(c) in _INVISIBLE), None)


def text_problem(text: str, limit: int) -> str | None:
    """Why ``text`` cannot be printed or exported as is, or None."""
    if len(text) > limit:
        return f"is longer than {limit:,} characters"
    bad = _invisible(text)
    if bad is not None:
        return f"holds the control or invisible character U+{ord(bad):04X}"
    return None


_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")


def _punycode_ok(label: str) -> bool:
    """Whether an ``xn--`` label is the canonical ASCII form of a non-ASCII label."""
    try:
        decoded = label[4:].encode("ascii").decode("punycode")
        again = "xn--" + decoded.encode("punycode").decode("ascii")
    except ValueError:  # UnicodeError: not punycode
        return False
    return again == label and not decoded.isascii() and _invisible(decoded) is None


def _ascii_form(domain: str) -> str | None:
    """A guess at the xn-- form of an internationalised domain, for the error message only."""
    try:
        labels = [
            label if label.isascii() else "xn--" + label.encode("punycode").decode("ascii")
            for label in unicodedata.normalize("NFC", domain).lower().split(".")
        ]
    except ValueError:
        return None
    guess = ".".join(labels)
    return guess if guess.isascii() and domain_problem(guess) is None else None


def domain_problem(domain: str) -> str | None:
    """Why ``domain`` is not a lower-case DNS name of two labels or more, or None.

    An internationalised domain is accepted in its ASCII form only (``xn--`` labels,
    checked to be canonical punycode): that is what DNS, mail servers and eduPerson
    scopes compare, and it reads the same on every printer and QR reader.
    """
    if len(domain) > 253:
        return "is longer than 253 characters (the DNS limit)"
    bad = _invisible(domain)
    if bad is not None:
        return f"holds the control or invisible character U+{ord(bad):04X}"
    if not domain.isascii():
        guess = _ascii_form(domain)
        hint = f" ({guess!r} if the name is right)" if guess else ""
        return f"must be written in ASCII: an internationalised domain in its xn-- form{hint}"
    if domain != domain.lower():
        return "must be written in lower case"
    labels = domain.split(".")
    if len(labels) < 2:
        return "needs two labels or more, like etu.example.fr"
    for label in labels:
        if not label:
            return "has an empty label (two dots in a row, or a dot at an end)"
        if len(label) > 63:
            return f"has a label longer than 63 characters ({_show(label)})"
        if label.startswith("-") or label.endswith("-"):
            return f"has a label that starts or ends with '-' ({_show(label)})"
        if not _LABEL.fullmatch(label):
            return f"has a label with other characters than a-z, 0-9 and '-' ({_show(label)})"
        if label.startswith("xn--") and not _punycode_ok(label):
            return f"has a label that is not valid punycode ({_show(label)})"
    if not (re.fullmatch(r"[a-z]{2,63}", labels[-1]) or labels[-1].startswith("xn--")):
        return f"must end with a top-level domain like fr, not {labels[-1]!r}"
    return None


# RFC 3986's unreserved and reserved characters, and "%" for escapes; "#" splits the fragment.
_URL_CHARS = frozenset(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/?%")


def url_problem(url: str, placeholders: tuple[str, ...] = ()) -> str | None:
    """Why ``url`` cannot be printed on a sheet and encoded in its QR code, or None.

    ``placeholders`` (like ``identifier``) may stand, in braces, after the host.
    """
    if len(url) > MAX_URL:
        return f"is longer than {MAX_URL:,} characters"
    # Checked on the raw text: urlsplit silently drops tabs and newlines.
    for c in url:
        if c.isspace() or unicodedata.category(c) in _INVISIBLE:
            return f"holds the space, control or invisible character U+{ord(c):04X}"
    if not url.isascii():
        # QR readers disagree on which encoding other bytes are in.
        return "holds non-ASCII characters: write the host in its xn-- form and percent-encode the rest"
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:
        return f"cannot be read as a URL ({exc})"
    if parts.scheme not in ("http", "https") or not url.lower().startswith(f"{parts.scheme}://"):
        return "is not an http(s) URL: it must start with https:// (or http://)"
    netloc = parts.netloc
    if not netloc:
        return "has no host after https://"
    if "@" in netloc:
        return "holds a user name or password before '@': it would be printed on every sheet"
    if "{" in netloc or "}" in netloc:
        return "has a placeholder in its host: placeholders may only stand after the host"
    host, colon, port = netloc.partition(":")
    # Students open it from home, on paper or their phone: only a public name reaches the portal.
    if host.startswith("[") or re.fullmatch(r"[0-9.]+", host) or host.lower() in ("localhost", "localhost."):
        return "must name its host by its domain name, not an IP address or localhost"
    if colon and not (re.fullmatch(r"[1-9][0-9]{0,4}", port) and int(port) <= 65535):
        return f"has the port {_show(port)}: a port is a number from 1 to 65535"
    problem = domain_problem(host.lower())
    if problem:
        return f"has the host {_show(host)}, which is not a domain name: it {problem}"
    for part in (parts.path, parts.query, parts.fragment):
        # A letter, not nothing, so that "%{identifier}41" is not read as "%41".
        for name in placeholders:
            part = part.replace("{" + name + "}", "x")
        bad = next((c for c in part if c not in _URL_CHARS), None)
        if bad is not None:
            return f"holds {bad!r}, which a URL cannot hold as is: percent-encode it"
        if re.search(r"%(?![0-9A-Fa-f]{2})", part):
            return "has a '%' not followed by two hexadecimal digits"
    return None


# One RDN: its (attribute type, value) pairs, the value unescaped; several when joined by "+".
Rdn = tuple[tuple[str, str], ...]
_ATTRIBUTE_TYPE = re.compile(r"([A-Za-z][A-Za-z0-9-]*|(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))+)=")
# RFC 4514's "special" characters: after a backslash they stand for themselves.
_DN_SPECIAL = frozenset('"+,;<>\\ #=')
_HEX = frozenset(string.hexdigits)


def _dn_value(dn: str, start: int) -> tuple[str, int]:
    """The value that starts at ``start``, unescaped, and where it ends (at ``,``, ``+`` or the end)."""
    raw = bytearray()
    i = start
    while i < len(dn) and dn[i] not in ",+":
        c = dn[i]
        if c == "\\":
            pair = dn[i + 1 : i + 3]
            if len(pair) == 2 and pair[0] in _HEX and pair[1] in _HEX:
                raw.append(int(pair, 16))
                i += 3
                continue
            if pair[:1] and pair[0] in _DN_SPECIAL:
                raw.append(ord(pair[0]))
                i += 2
                continue
            raise ValueError(
                f"has the bad escape {dn[i : i + 3]!r}: a backslash comes before one of "
                '\\ , + " ; < > = # space, or two hexadecimal digits'
            )
        if unicodedata.category(c) in _INVISIBLE:
            raise ValueError(f"holds the control or invisible character U+{ord(c):04X}")
        # "=" may stand unescaped per RFC 4514, but not per RFC 2253 that older tools
        # follow, and "ou=people=dc=fr" is a slip far more often than a value.
        if c in '";<>=':
            raise ValueError(f"holds {c!r} in a value: write it \\{c}, or check the separators")
        if c == "#" and i == start:
            raise ValueError("has a value that starts with '#': write it \\# (BER hex values are not accepted)")
        if c == " " and (i == start or i + 1 == len(dn) or dn[i + 1] in ",+"):
            raise ValueError(
                "has a space at the start or end of a value: remove it (write 'ou=people,dc=example,dc=fr'), "
                "or escape it as '\\ '"
            )
        raw += c.encode("utf-8")
        i += 1
    if not raw:
        raise ValueError(f"has an empty value at position {start + 1}")
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("has hexadecimal escapes that are not UTF-8") from None
    bad = _invisible(value)
    if bad is not None:
        raise ValueError(f"holds the escaped control or invisible character U+{ord(bad):04X}")
    return value, i


def parse_dn(dn: str) -> tuple[Rdn, ...]:
    """The RDNs of ``dn`` (RFC 4514), each a tuple of (attribute type, value); ValueError says why not.

    Stricter than RFC 4514 where a directory administrator's slip is likelier than
    intent: no empty DN or value, no space around separators, "=" escaped in values,
    no "#" hex (BER) values, no control or invisible character even escaped.
    """
    if not dn:
        raise ValueError("is empty")
    rdns: list[Rdn] = []
    avas: list[tuple[str, str]] = []
    i = 0
    while True:
        found = _ATTRIBUTE_TYPE.match(dn, i)
        if found is None:
            if i == len(dn) or dn[i] in ",+":
                raise ValueError("has an empty part (two separators in a row, or one at an end)")
            if dn[i] == " " or re.match(r"[A-Za-z0-9.-]+ +=", dn[i : i + 100]):
                raise ValueError("has a space around an attribute type: write 'ou=people,dc=example,dc=fr'")
            if i:
                part = dn[i : i + 40].split(",")[0].split("+")[0]
                raise ValueError(
                    f"has {part!r} after {dn[i - 1]!r}, which is not type=value like dc=fr "
                    f"(a {dn[i - 1]!r} inside a value is written \\{dn[i - 1]})"
                )
            raise ValueError(f"needs an attribute type like ou or dc, then '=', at position {i + 1}")
        value, i = _dn_value(dn, found.end())
        avas.append((found.group(1), value))
        if i == len(dn):
            rdns.append(tuple(avas))
            return tuple(rdns)
        if dn[i] == ",":
            rdns.append(tuple(avas))
            avas = []
        i += 1


def _escape_dn_value(value: str) -> str:
    escaped = []
    for position, c in enumerate(value):
        if c in '\\"+,;<>=' or (c in "# " and position == 0) or (c == " " and position == len(value) - 1):
            escaped.append("\\" + c)
        elif unicodedata.category(c) in _INVISIBLE:
            escaped.append("".join(f"\\{b:02x}" for b in c.encode("utf-8", "surrogatepass")))
        else:
            escaped.append(c)
    return "".join(escaped)


def format_dn(rdns: Sequence[Rdn]) -> str:
    """The RFC 4514 string of ``rdns``: what :func:`parse_dn` reads back to the same RDNs."""
    return ",".join("+".join(f"{kind}={_escape_dn_value(value)}" for kind, value in rdn) for rdn in rdns)


def dn_problem(dn: str) -> str | None:
    """Why ``dn`` is not a DN that ``uid=<identifier>,`` can be put before, or None."""
    if len(dn) > MAX_DN:
        return f"is longer than {MAX_DN:,} characters"
    try:
        parse_dn(dn)
    except ValueError as exc:
        return str(exc)
    return None


LOGIN_PLACEHOLDERS = ("first", "last", "first_initial", "last_initial")
SEPARATORS = (".", "_", "-")


def login_pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot make logins, or None."""
    names = re.findall(r"{([^{}]*)}", pattern)
    unknown = [n for n in names if n not in LOGIN_PLACEHOLDERS]
    if unknown:
        return f"unknown placeholder {{{unknown[0]}}}; known: " + ", ".join("{" + n + "}" for n in LOGIN_PLACEHOLDERS)
    if not {"last", "last_initial"} & set(names):
        return "must hold {last} or {last_initial}, and may hold {first} or {first_initial}"
    literal = re.sub(r"{[^{}]*}", "", pattern)
    if not re.fullmatch(r"[a-z0-9._-]*", literal):
        return "only a-z 0-9 . _ - may stand between the placeholders"
    if pattern.startswith(SEPARATORS) or pattern.endswith(SEPARATORS) or re.search(r"[._-]{2}", pattern):
        return "must not start or end with . _ - nor hold two of them in a row (an address cannot)"
    return None


def check_settings(s: Settings, where: str = "configuration") -> None:
    """Refuse values that would print a wrong sheet or an unloadable export."""

    def fail(message: str) -> typing.NoReturn:
        raise ConfigError(f"{where}: {message}")

    u = s.university
    for key in ("name", "ent_url", "activation_url", "email_domain"):
        if not getattr(u, key).strip():
            fail(f"[university] {key} is empty: fill it in")
    texts = (
        ("university", "name", u.name, MAX_NAME),
        ("university", "short_name", u.short_name, MAX_SHORT_NAME),
        ("university", "ent_url", u.ent_url, MAX_URL),
        ("university", "activation_url", u.activation_url, MAX_URL),
        ("registry", "path", s.registry.path or "", MAX_PATH),
        ("registry", "group", s.registry.group, 100),
        ("sheet", "logo", s.sheet.logo, MAX_PATH),
        ("sheet", "templates", s.sheet.templates, MAX_PATH),
        ("password_rules", "forbidden_characters", s.password_rules.forbidden_characters, 100),
        # Their own checks quote the text they find wrong: it must be visible first.
        ("identifiers", "pattern", s.identifiers.pattern, 100),
        ("identifiers", "short_pattern", s.identifiers.short_pattern, 100),
        ("identifiers", "suffix", s.identifiers.suffix, 100),
    )
    for table, key, text, limit in texts:
        problem = text_problem(text, limit)
        if problem:
            fail(f"[{table}] {key} = {_show(text)} {problem}")
    problem = domain_problem(u.email_domain)
    if problem:
        fail(f"[university] email_domain = {_show(u.email_domain)} is not a domain name: it {problem}")
    for placeholder in re.findall(r"{([^{}]*)}", u.activation_url):
        if placeholder not in URL_PLACEHOLDERS:
            fail(
                f"[university] activation_url: unknown placeholder {{{placeholder}}}; "
                f"known: {', '.join('{' + p + '}' for p in URL_PLACEHOLDERS)}"
            )
    for key, placeholders in (("ent_url", ()), ("activation_url", URL_PLACEHOLDERS)):
        problem = url_problem(getattr(u, key), placeholders)
        if problem:
            fail(f"[university] {key} = {_show(getattr(u, key))} {problem}")
    if s.registry.group:
        try:
            grp.getgrnam(s.registry.group)
        except KeyError:
            fail(f"[registry] group = {_show(s.registry.group)}: no such group on this machine")
    if s.ldap.profile not in LDAP_PROFILES:
        fail(f"[ldap] profile = {_show(s.ldap.profile)} must be one of {', '.join(LDAP_PROFILES)}")
    if s.ldap.profile == "supann" and not u.uai:
        fail(f"[university] uai = {u.uai!r}: the supann profile needs the establishment's UAI, like 0341087X")
    if u.uai and not re.fullmatch(r"[0-9]{7}[A-Z]", u.uai):
        fail(f"[university] uai = {_show(u.uai)} is not a UAI code: seven digits and a capital letter, like 0341087X")
    if s.ldap.eppn_scope:
        problem = domain_problem(s.ldap.eppn_scope)
        if problem:
            fail(f"[ldap] eppn_scope = {_show(s.ldap.eppn_scope)} is not a domain name: it {problem}")
    problem = dn_problem(s.ldap.people_dn)
    if problem:
        fail(
            f"[ldap] people_dn = {_show(s.ldap.people_dn)} is not a DN like 'ou=people,dc=example,dc=fr': it {problem}"
        )
    if not re.fullmatch(r"[a-z]{2,3}", s.sheet.language):
        fail(f"[sheet] language = {_show(s.sheet.language)} must be a language code like fr or en")
    if s.sheet.login_display not in LOGIN_DISPLAYS:
        fail(f"[sheet] login_display = {_show(s.sheet.login_display)} must be one of {', '.join(LOGIN_DISPLAYS)}")
    if not _COLOR.fullmatch(s.sheet.color):
        fail(f"[sheet] color = {_show(s.sheet.color)} must be written #RRGGBB")
    # Sheets carry passwords: the owner reads and writes them, a group or everyone may at most read them.
    if not re.fullmatch(r"0?[0-7]{3}", s.sheet.file_mode) or s.sheet.mode & ~0o644 or s.sheet.mode & 0o600 != 0o600:
        fail(
            f"[sheet] file_mode = {_show(s.sheet.file_mode)} must be an octal mode from 0600 (the owner only, "
            "the default) to 0644: read and write for the owner, at most read for others"
        )
    p, r = s.password, s.password_rules
    c = s.credentials
    if c.hash not in HASH_SCHEMES:
        fail(f"[credentials] hash = {_show(c.hash)} must be one of {', '.join(HASH_SCHEMES)}")
    if not 1000 <= c.sha512_rounds <= 999_999_999:
        fail("[credentials] sha512_rounds must be between 1,000 and 999,999,999")
    if c.hash == "bcrypt" and p.length > 72:
        fail(f"[password] length {p.length}: bcrypt hashes 72 bytes at most; use 72 or fewer, or another hash")
    if not 4 <= c.bcrypt_cost <= 31:
        fail("[credentials] bcrypt_cost must be between 4 and 31")
    if c.argon2_time_cost < 1 or c.argon2_memory_kib < 8:
        fail("[credentials] argon2_time_cost must be at least 1 and argon2_memory_kib at least 8")
    # Before the entropy sum: it raises to the power of the length.
    if not 1 <= p.length <= MAX_PASSWORD_LENGTH:
        fail(f"[password] length = {p.length} must be between 1 and {MAX_PASSWORD_LENGTH}: it is copied from paper")
    if p.group < 0 or (p.group and p.group >= p.length):
        fail(f"[password] group = {p.group} must be 0 (no groups) or shorter than the length {p.length}")
    if len(set(p.alphabet)) != len(p.alphabet) or not p.alphabet.isascii() or not p.alphabet.isprintable():
        fail("[password] alphabet must be printable ASCII characters, each once")
    if " " in p.alphabet:
        fail("[password] alphabet must not hold a space: it cannot be seen on paper")
    confusable = sorted(set(p.alphabet) & set(LOOK_ALIKES))
    if confusable:
        fail(f"[password] alphabet holds {''.join(confusable)!r}, which read alike on paper (0 O o 1 l I)")
    if p.entropy_bits < MIN_ENTROPY_BITS:
        fail(
            f"[password] length {p.length} over {len(p.alphabet)} symbols gives "
            f"{p.entropy_bits:.0f} bits of entropy; at least {MIN_ENTROPY_BITS:.0f} are needed"
        )
    # The provisional password must itself obey the rules printed beside it.
    clash = sorted(set(p.alphabet) & set(r.forbidden_characters))
    if clash:
        fail(f"[password] alphabet holds {''.join(clash)!r}, forbidden by [password_rules]")
    if p.length < r.min_length:
        fail(f"[password] length {p.length} is shorter than [password_rules] min_length {r.min_length}")
    if r.recommended_length < r.min_length:
        fail("[password_rules] recommended_length is shorter than min_length")
    if s.batches.max_sheets < 1:
        fail("[batches] max_sheets must be at least 1")
    i = s.identifiers
    if not 8 <= i.max_length <= 64:
        fail("[identifiers] max_length must be between 8 and 64 (an e-mail address's local part)")
    if not 4 <= i.short_max_length <= i.max_length:
        fail("[identifiers] short_max_length must be between 4 and max_length")
    for key in ("pattern", "short_pattern"):
        problem = login_pattern_problem(getattr(i, key))
        if problem and (key == "pattern" or i.short_pattern):
            fail(f"[identifiers] {key} = {_show(getattr(i, key))}: {problem}")
    if i.suffix.count("{n}") != 1 or not re.fullmatch(r"[a-z0-9._-]*", i.suffix.replace("{n}", "")):
        fail(f"[identifiers] suffix = {_show(i.suffix)} must hold {{n}} once, with only a-z 0-9 . _ - around it")
    if i.suffix.endswith(tuple(SEPARATORS)):
        fail(f"[identifiers] suffix = {_show(i.suffix)} must not end with . _ or - (an address cannot)")
    room = len(i.suffix.replace("{n}", "999"))
    for key in ("max_length", "short_max_length"):
        if getattr(i, key) < room + 4:
            fail(f"[identifiers] {key} leaves less than 4 characters besides the suffix {_show(i.suffix)}")
    for word in i.reserved:
        if not re.fullmatch(r"[a-z0-9._-]+", word):
            fail(f"[identifiers] reserved: {_show(word)} is not a login (lower-case a-z 0-9 . _ -)")
    # The QR code holds the link filled in: its longest form must still fit.
    longest = (
        len(u.activation_url)
        + u.activation_url.count("{identifier}") * (i.max_length - len("{identifier}"))
        + u.activation_url.count("{email}") * (i.max_length + 1 + len(u.email_domain) - len("{email}"))
    )
    if longest > MAX_URL:
        fail(
            f"[university] activation_url = {_show(u.activation_url)}, filled in for the longest login, "
            f"is {longest:,} characters long: at most {MAX_URL:,} fit a QR code and a browser"
        )
