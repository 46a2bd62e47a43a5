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
import tomllib
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .columns import BY_NAME, normalise_header
from .errors import ConfigError
from .hashers import HASHERS
from .identifiers import SEPARATORS, login_pattern_problem
from .spreadsheet import FORMULA_START
from .systemlog import DEFAULT_ADDRESS as DEFAULT_SYSLOG
from .systemlog import FACILITIES
from .validators import (
    MAX_NAME,
    MAX_PATH,
    MAX_SHORT_NAME,
    MAX_URL,
    dn_problem,
    domain_problem,
    is_postgres,
    password_in,
    service_url_problem,
    show,
    shown_url,
    text_problem,
    url_problem,
)

DEFAULT_CONFIG_NAME = "scolpass.toml"

# Look-alike characters (0 O o 1 l I) are left out: the password is copied from paper.
DEFAULT_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
# CNIL (deliberation 2022-100): 80 bits for a password used alone.
MIN_ENTROPY_BITS = 80.0
# Characters misread on paper; never in a provisional password.
LOOK_ALIKES = "0Oo1lI"
HASH_SCHEMES = tuple(HASHERS)  # [credentials] hash: the default first
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
    """Where the registry is; neither ``url`` nor ``path``: ``./scolpass.sqlite3``."""

    # A file (or sqlite:///PATH), relative to the configuration file, or postgresql://USER@HOST:PORT/DB
    # (postgresql:///DB?service=NAME): its password from libpq (~/.pgpass, PGPASSFILE, a service file,
    # PGPASSWORD), never from here.
    url: str | None = None
    path: str | None = None  # the file: the older name of url, which holds a path too
    # PostgreSQL without TLS verified (sslmode=verify-full otherwise): a server on 127.0.0.1 only.
    allow_insecure: bool = False
    # A group whose members share the registry and the output folders on one machine (several
    # registrars, a service account): the registry is then 0660 and the folders 0770, for that group.
    group: str = ""
    # The migration year: a new student number whose INE is an issued student's is that student
    # (Pégase's new learner code), not a probable duplicate.
    link_by_ine: bool = False


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

    # A scheme of hashers.HASHERS, each verified by stock OpenLDAP (argon2 with moduleload argon2).
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
class Faculty:
    """A faculty (composante) as Pégase settings name it: a label, and a code when the university has one."""

    label: str
    code: str = ""


@dataclass(frozen=True)
class PegaseSettings:
    """Reading Pégase: its feed's faculties and steps, and where ``pegase fetch`` takes the feed."""

    # The type of the path element that is the year of study (Apogée's étape).
    step_type: str = "ANNEE"
    # [pegase.faculties]: a prefix of the formation code to its faculty; the longest prefix wins.
    faculties: Mapping[str, Faculty] = field(default_factory=dict)
    # The faculty of an enrolment that no prefix matches; None: such an enrolment is a problem.
    default_faculty: Faculty | None = None
    # The feed's base (https://ins.<site>.pc-scol.fr/api/ins/ext/v2) and Pégase's CAS ticket URL.
    url: str = ""
    auth_url: str = ""
    username: str = ""
    # A private file holding the password (else the environment's SCOLPASS_PEGASE_PASSWORD).
    password_file: str = ""
    # The period whose enrolments the feed gives (PER-2026, a site's own code).
    period: str = ""
    # Seconds a request may take.
    timeout: int = 60


@dataclass(frozen=True)
class LogSettings:
    """Where each command's summary line goes: the system log (journald or syslog)."""

    # A socket path (/dev/log: journald or the syslog daemon), or host:port of a syslog server (UDP);
    # "" for none. At /dev/log, a machine without a system log is no error.
    syslog: str = DEFAULT_SYSLOG
    facility: str = "user"


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
    pegase: PegaseSettings = field(default_factory=PegaseSettings)
    log: LogSettings = field(default_factory=LogSettings)
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


def _nearest(word: str, choices: typing.Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _key(key: str) -> str:
    """A key from the file as written, or quoted when it could hide or garble (a terminal escape)."""
    return key if key.isprintable() and len(key) <= 80 else show(key)


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
                raise ConfigError(f"{where}: [{name}] {key} = {show(value)} must be a list of strings")
            values[key] = tuple(value)
            continue
        accepted = typing.get_args(expected) or (expected,)
        if not isinstance(value, accepted) or isinstance(value, bool) != (bool in accepted):
            kind = " or ".join(t.__name__ for t in accepted if t is not type(None))
            raise ConfigError(f"{where}: [{name}] {key} = {show(value)} must be {kind}")
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
    """[columns] as read. No dataclass types it, so its keys and values are checked here, where another
    table's keys and types are (:func:`_build`): its faults come before the other sections' values, as
    they always did. :func:`check_settings` checks it again, for settings made in code."""
    if not isinstance(table, dict):
        raise ConfigError(f'{where}: [columns] must be a table of column = "Header in the file"')
    problem = _columns_problem(table)
    if problem:
        raise ConfigError(f"{where}: {problem}")
    return dict(table)


def _faculty(value: Any, key: str, where: str) -> Faculty:
    """A faculty as written: its label, or ``{ code = "ECO", label = "ECONOMIE" }``."""
    if isinstance(value, str):
        return Faculty(value)
    if isinstance(value, dict):
        return typing.cast(Faculty, _build(f"pegase.{key}", Faculty, value, where))
    raise ConfigError(f'{where}: [pegase] {key} = {show(value)} must be a label or {{ code = "...", label = "..." }}')


def _pegase(table: Any, where: str) -> PegaseSettings:
    """[pegase], whose faculties are a table of their own and may each be a table: read here, typed by
    :func:`_build` for the rest."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [pegase] must be a table")
    rest = dict(table)
    faculties = rest.pop("faculties", {})
    default = rest.pop("default_faculty", None)
    if not isinstance(faculties, dict):
        raise ConfigError(f'{where}: [pegase.faculties] must be a table of "FORMATION-PREFIX" = "Faculty"')
    built: PegaseSettings = _build("pegase", PegaseSettings, rest, where)
    mapped = {prefix: _faculty(value, f"faculties.{_key(prefix)}", where) for prefix, value in faculties.items()}
    return dataclasses.replace(
        built,
        faculties=mapped,
        default_faculty=None if default is None else _faculty(default, "default_faculty", where),
    )


def settings_from_dict(data: dict[str, Any], where: str = "configuration") -> Settings:
    """Build and check settings from a parsed TOML document."""
    for section in data:
        if section not in _SECTIONS:
            raise ConfigError(f"{where}: unknown table [{_key(section)}]{_nearest(section, _TABLES)}")
    for required in ("university", "ldap"):
        if required not in data:
            raise ConfigError(f"{where}: the [{required}] table is missing")
    parts = {
        name: _build(name, kind, data[name], where)
        for name, kind in _TABLES.items()
        if name in data and name not in _READ_APART
    }
    if "pegase" in data:
        parts["pegase"] = _pegase(data["pegase"], where)
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


# -- Checks: one function per section, then the rules across sections --------------------------
#
# Each returns the first thing wrong, as the message says it after the file's name, or None.
# Where a configuration has several faults, the first found is reported: the sections in the
# order of _SECTIONS, each one's values in the order its function checks them, and each rule
# across sections right after the section it follows (_ACROSS_SECTIONS).

_COLOR = re.compile(r"#[0-9A-Fa-f]{6}")

# Copied from paper; also keeps the entropy sum cheap.
MAX_PASSWORD_LENGTH = 128


def _texts_problem(table: str, texts: Sequence[tuple[str, str, int]]) -> str | None:
    """The first of ``texts`` (key, text, limit) that cannot be printed or exported as is."""
    for key, text, limit in texts:
        problem = text_problem(text, limit)
        if problem:
            return f"[{table}] {key} = {show(text)} {problem}"
    return None


def _university_problem(u: University) -> str | None:
    for key in ("name", "ent_url", "activation_url", "email_domain"):
        if not getattr(u, key).strip():
            return f"[university] {key} is empty: fill it in"
    texts = (
        ("name", u.name, MAX_NAME),
        ("short_name", u.short_name, MAX_SHORT_NAME),
        ("ent_url", u.ent_url, MAX_URL),
        ("activation_url", u.activation_url, MAX_URL),
    )
    problem = _texts_problem("university", texts)
    if problem:
        return problem
    problem = domain_problem(u.email_domain)
    if problem:
        return f"[university] email_domain = {show(u.email_domain)} is not a domain name: it {problem}"
    for placeholder in re.findall(r"{([^{}]*)}", u.activation_url):
        if placeholder not in URL_PLACEHOLDERS:
            return (
                f"[university] activation_url: unknown placeholder {{{placeholder}}}; "
                f"known: {', '.join('{' + p + '}' for p in URL_PLACEHOLDERS)}"
            )
    for key, placeholders in (("ent_url", ()), ("activation_url", URL_PLACEHOLDERS)):
        problem = url_problem(getattr(u, key), placeholders)
        if problem:
            return f"[university] {key} = {show(getattr(u, key))} {problem}"
    if u.uai and not re.fullmatch(r"[0-9]{7}[A-Z]", u.uai):
        return f"[university] uai = {show(u.uai)} is not a UAI code: seven digits and a capital letter, like 0341087X"
    return None


def _ldap_problem(ldap: Ldap) -> str | None:
    if ldap.profile not in LDAP_PROFILES:
        return f"[ldap] profile = {show(ldap.profile)} must be one of {', '.join(LDAP_PROFILES)}"
    if ldap.eppn_scope:
        problem = domain_problem(ldap.eppn_scope)
        if problem:
            return f"[ldap] eppn_scope = {show(ldap.eppn_scope)} is not a domain name: it {problem}"
    problem = dn_problem(ldap.people_dn)
    if problem:
        return f"[ldap] people_dn = {show(ldap.people_dn)} is not a DN like 'ou=people,dc=example,dc=fr': it {problem}"
    return None


def _registry_problem(registry: RegistrySettings) -> str | None:
    texts = (
        ("url", registry.url or "", MAX_PATH), ("path", registry.path or "", MAX_PATH), ("group", registry.group, 100)
    )  # fmt: skip
    problem = _texts_problem("registry", texts)
    if problem:
        return problem
    if registry.url is not None and registry.path is not None:
        return "[registry] url and path both say where the registry is: keep url only"
    url = registry.url or ""
    if is_postgres(url) and password_in(url):
        return (
            "[registry] url holds a password: remove it, and put it in ~/.pgpass (or the file PGPASSFILE names, "
            "mode 0600), a service file, or PGPASSWORD"
        )
    if url.startswith(("postgresql:", "postgres:")) and not is_postgres(url):
        return f"[registry] url = {show(shown_url(url))} is not a postgresql://USER@HOST:PORT/DB URL"
    if registry.group:
        try:
            grp.getgrnam(registry.group)
        except KeyError:
            return f"[registry] group = {show(registry.group)}: no such group on this machine"
    return None


def _sheet_problem(sheet: SheetSettings) -> str | None:
    problem = _texts_problem("sheet", (("logo", sheet.logo, MAX_PATH), ("templates", sheet.templates, MAX_PATH)))
    if problem:
        return problem
    if not re.fullmatch(r"[a-z]{2,3}", sheet.language):
        return f"[sheet] language = {show(sheet.language)} must be a language code like fr or en"
    if sheet.login_display not in LOGIN_DISPLAYS:
        return f"[sheet] login_display = {show(sheet.login_display)} must be one of {', '.join(LOGIN_DISPLAYS)}"
    if not _COLOR.fullmatch(sheet.color):
        return f"[sheet] color = {show(sheet.color)} must be written #RRGGBB"
    # Sheets carry passwords: the owner reads and writes them, a group or everyone may at most read them.
    if not re.fullmatch(r"0?[0-7]{3}", sheet.file_mode) or sheet.mode & ~0o644 or sheet.mode & 0o600 != 0o600:
        return (
            f"[sheet] file_mode = {show(sheet.file_mode)} must be an octal mode from 0600 (the owner only, "
            "the default) to 0644: read and write for the owner, at most read for others"
        )
    return None


def _password_problem(p: PasswordPolicy) -> str | None:
    # Before the entropy sum: it raises to the power of the length.
    if not 1 <= p.length <= MAX_PASSWORD_LENGTH:
        return f"[password] length = {p.length} must be between 1 and {MAX_PASSWORD_LENGTH}: it is copied from paper"
    if p.group < 0 or (p.group and p.group >= p.length):
        return f"[password] group = {p.group} must be 0 (no groups) or shorter than the length {p.length}"
    if len(set(p.alphabet)) != len(p.alphabet) or not p.alphabet.isascii() or not p.alphabet.isprintable():
        return "[password] alphabet must be printable ASCII characters, each once"
    if " " in p.alphabet:
        return "[password] alphabet must not hold a space: it cannot be seen on paper"
    confusable = sorted(set(p.alphabet) & set(LOOK_ALIKES))
    if confusable:
        return f"[password] alphabet holds {''.join(confusable)!r}, which read alike on paper (0 O o 1 l I)"
    if p.entropy_bits < MIN_ENTROPY_BITS:
        return (
            f"[password] length {p.length} over {len(p.alphabet)} symbols gives "
            f"{p.entropy_bits:.0f} bits of entropy; at least {MIN_ENTROPY_BITS:.0f} are needed"
        )
    return None


def _credentials_problem(c: CredentialSettings) -> str | None:
    if c.hash not in HASH_SCHEMES:
        return f"[credentials] hash = {show(c.hash)} must be one of {', '.join(HASH_SCHEMES)}"
    if not 1000 <= c.sha512_rounds <= 999_999_999:
        return "[credentials] sha512_rounds must be between 1,000 and 999,999,999"
    if not 4 <= c.bcrypt_cost <= 31:
        return "[credentials] bcrypt_cost must be between 4 and 31"
    if c.argon2_time_cost < 1 or c.argon2_memory_kib < 8:
        return "[credentials] argon2_time_cost must be at least 1 and argon2_memory_kib at least 8"
    return None


def _batches_problem(batches: BatchSettings) -> str | None:
    if batches.max_sheets < 1:
        return "[batches] max_sheets must be at least 1"
    return None


def _password_rules_problem(r: PasswordRules) -> str | None:
    problem = _texts_problem("password_rules", (("forbidden_characters", r.forbidden_characters, 100),))
    if problem:
        return problem
    if r.recommended_length < r.min_length:
        return "[password_rules] recommended_length is shorter than min_length"
    return None


def _identifiers_problem(i: IdentifierSettings) -> str | None:
    # Their own checks quote the text they find wrong: it must be visible first.
    texts = (("pattern", i.pattern, 100), ("short_pattern", i.short_pattern, 100), ("suffix", i.suffix, 100))
    problem = _texts_problem("identifiers", texts)
    if problem:
        return problem
    if not 8 <= i.max_length <= 64:
        return "[identifiers] max_length must be between 8 and 64 (an e-mail address's local part)"
    if not 4 <= i.short_max_length <= i.max_length:
        return "[identifiers] short_max_length must be between 4 and max_length"
    for key in ("pattern", "short_pattern"):
        problem = login_pattern_problem(getattr(i, key))
        if problem and (key == "pattern" or i.short_pattern):
            return f"[identifiers] {key} = {show(getattr(i, key))}: {problem}"
    if i.suffix.count("{n}") != 1 or not re.fullmatch(r"[a-z0-9._-]*", i.suffix.replace("{n}", "")):
        return f"[identifiers] suffix = {show(i.suffix)} must hold {{n}} once, with only a-z 0-9 . _ - around it"
    if i.suffix.endswith(tuple(SEPARATORS)):
        return f"[identifiers] suffix = {show(i.suffix)} must not end with . _ or - (an address cannot)"
    room = len(i.suffix.replace("{n}", "999"))
    for key in ("max_length", "short_max_length"):
        if getattr(i, key) < room + 4:
            return f"[identifiers] {key} leaves less than 4 characters besides the suffix {show(i.suffix)}"
    for word in i.reserved:
        if not re.fullmatch(r"[a-z0-9._-]+", word):
            return f"[identifiers] reserved: {show(word)} is not a login (lower-case a-z 0-9 . _ -)"
    return None


def _columns_problem(columns: Mapping[str, Any]) -> str | None:
    seen: dict[str, str] = {}
    for key, value in columns.items():
        if key not in BY_NAME:
            return f"unknown key [columns] {_key(key)}{_nearest(key, BY_NAME)}"
        if not isinstance(value, str) or not value.strip():
            return f"[columns] {key} = {show(value)} must be the header of a column in the file"
        problem = text_problem(value, MAX_NAME)
        if problem:
            return f"[columns] {key} = {show(value)} {problem}"
        header = normalise_header(value)
        if header in seen:
            return f"[columns] {key} and {seen[header]} both name the column {show(value)}"
        seen[header] = key
    return None


# A code of Pégase: upper-case letters, digits and "-" (the feed's own), "_" and "." seen on some sites.
_PEGASE_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _faculty_problem(key: str, faculty: Faculty) -> str | None:
    if not faculty.label.strip():
        return f"[pegase] {key}: the faculty's label is empty"
    texts = ((f"{key} label", faculty.label, BY_NAME["faculty"].max_length),
             (f"{key} code", faculty.code, BY_NAME["faculty_code"].max_length))  # fmt: skip
    return _texts_problem("pegase", texts)


def _pegase_problem(p: PegaseSettings) -> str | None:
    if not _PEGASE_CODE.fullmatch(p.step_type) or len(p.step_type) > 40:
        return f"[pegase] step_type = {show(p.step_type)} must be a type of Pégase's paths, like ANNEE"
    for prefix, faculty in p.faculties.items():
        if not _PEGASE_CODE.fullmatch(prefix) or len(prefix) > 40:
            return (
                f"[pegase.faculties] {show(prefix)} is not the beginning of a formation code (letters, digits, - _ .)"
            )
        problem = _faculty_problem(f"faculties.{prefix}", faculty)
        if problem:
            return problem
    if p.default_faculty is not None:
        problem = _faculty_problem("default_faculty", p.default_faculty)
        if problem:
            return problem
    texts = (("username", p.username, 200), ("password_file", p.password_file, MAX_PATH), ("period", p.period, 40))
    problem = _texts_problem("pegase", texts)
    if problem:
        return problem
    if p.period and not _PEGASE_CODE.fullmatch(p.period):
        return f"[pegase] period = {show(p.period)} is not a period code like PER-2026"
    for key in ("url", "auth_url"):
        problem = service_url_problem(getattr(p, key))
        if getattr(p, key) and problem:
            return f"[pegase] {key} = {show(shown_url(getattr(p, key)))} {problem}"  # never a password written in it
    if not 1 <= p.timeout <= 3600:
        return "[pegase] timeout must be between 1 and 3,600 seconds"
    return None


def _log_problem(log: LogSettings) -> str | None:
    problem = _texts_problem("log", (("syslog", log.syslog, MAX_PATH),))
    if problem:
        return problem
    remote = re.fullmatch(r"([A-Za-z0-9.-]+):([0-9]{1,5})", log.syslog)  # no IPv6 literal: name the host
    if log.syslog and not log.syslog.startswith("/") and not (remote and 1 <= int(remote.group(2)) <= 65535):
        return f'[log] syslog = {show(log.syslog)} must be a socket path like /dev/log, host:port, or ""'
    if log.facility not in FACILITIES:
        return f"[log] facility = {show(log.facility)} must be one of {', '.join(FACILITIES)}"
    return None


@dataclass(frozen=True)
class _Section:
    """A table of the configuration: the dataclass its keys fill, and the function that checks its values."""

    kind: type | None  # None for [columns], a free table of column = "Header in the file"
    problem: Callable[[Any], str | None]  # given the section's value (Settings.<name>)


_SECTIONS: dict[str, _Section] = {
    "university": _Section(University, _university_problem),
    "ldap": _Section(Ldap, _ldap_problem),
    "registry": _Section(RegistrySettings, _registry_problem),
    "sheet": _Section(SheetSettings, _sheet_problem),
    "password": _Section(PasswordPolicy, _password_problem),
    "credentials": _Section(CredentialSettings, _credentials_problem),
    "batches": _Section(BatchSettings, _batches_problem),
    "password_rules": _Section(PasswordRules, _password_rules_problem),
    "identifiers": _Section(IdentifierSettings, _identifiers_problem),
    "columns": _Section(None, _columns_problem),
    "pegase": _Section(PegaseSettings, _pegase_problem),
    "log": _Section(LogSettings, _log_problem),
}
# The tables a dataclass fills: [columns] takes the keys its function accepts (and an unknown table's
# name is compared with these only, as it always was).
_TABLES: dict[str, type] = {name: section.kind for name, section in _SECTIONS.items() if section.kind is not None}
# Tables whose sub-tables need a reader of their own (:func:`_pegase`), not :func:`_build` alone.
_READ_APART = frozenset({"pegase"})


# -- Rules across sections -----------------------------------------------------------------------


def _uai_for_the_profile(s: Settings) -> str | None:
    u = s.university
    if s.ldap.profile == "supann" and not u.uai:
        return f"[university] uai = {u.uai!r}: the supann profile needs the establishment's UAI, like 0341087X"
    return None


def _password_within_the_rules(s: Settings) -> str | None:
    """The provisional password must itself obey the rules printed beside it."""
    p, r = s.password, s.password_rules
    clash = sorted(set(p.alphabet) & set(r.forbidden_characters))
    if clash:
        return f"[password] alphabet holds {''.join(clash)!r}, forbidden by [password_rules]"
    if p.length < r.min_length:
        return f"[password] length {p.length} is shorter than [password_rules] min_length {r.min_length}"
    return None


def _password_within_the_hash(s: Settings) -> str | None:
    """No scheme may cut the password: the [password] alphabet is ASCII, so a character is a byte."""
    p, scheme = s.password, s.credentials.hash
    top = HASHERS[scheme].max_password_bytes
    if top is not None and p.length > top:
        return f"[password] length {p.length}: {scheme} hashes {top} bytes at most; use {top} or fewer, or another hash"
    return None


def _activation_url_within_a_qr_code(s: Settings) -> str | None:
    """The QR code holds the link filled in: its longest form must still fit."""
    u, i = s.university, s.identifiers
    longest = (
        len(u.activation_url)
        + u.activation_url.count("{identifier}") * (i.max_length - len("{identifier}"))
        + u.activation_url.count("{email}") * (i.max_length + 1 + len(u.email_domain) - len("{email}"))
    )
    if longest > MAX_URL:
        return (
            f"[university] activation_url = {show(u.activation_url)}, filled in for the longest login, "
            f"is {longest:,} characters long: at most {MAX_URL:,} fit a QR code and a browser"
        )
    return None


@dataclass(frozen=True)
class _Across:
    """A rule between sections, checked right after the section ``after``: once the values it relies on
    are known to be sound, and before the later sections' own faults."""

    after: str
    problem: Callable[[Settings], str | None]


_ACROSS_SECTIONS = (
    _Across("ldap", _uai_for_the_profile),
    # Before [password_rules]' own check: "length 15 is shorter than min_length 16" says more than
    # "recommended_length is shorter than min_length" when min_length alone was raised.
    _Across("password", _password_within_the_rules),
    _Across("credentials", _password_within_the_hash),
    _Across("identifiers", _activation_url_within_a_qr_code),
)


def _settings_problem(s: Settings) -> str | None:
    """The first fault of ``s``, in the order described above, or None."""
    for name, section in _SECTIONS.items():
        problem = section.problem(getattr(s, name))
        for rule in _ACROSS_SECTIONS:
            if problem is None and rule.after == name:
                problem = rule.problem(s)
        if problem:
            return problem
    return None


def check_settings(s: Settings, where: str = "configuration") -> None:
    """Refuse values that would print a wrong sheet or an unloadable export."""
    problem = _settings_problem(s)
    if problem:
        raise ConfigError(f"{where}: {problem}")
