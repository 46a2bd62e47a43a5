"""Checks on the text a university gives scolpass: printed text, URLs, domain names and DNs.

Each ``*_problem`` function says why a value cannot be used as is, or returns None; the
settings check them, and so will a web form that takes the same values and the directory
writer that puts them into entries: one rule for each, wherever the value comes from.
A problem reads after the value it is about ("[ldap] people_dn = 'x' is not a DN ...: it
has ..."), and never holds a raw control character.
"""

from __future__ import annotations

import re
import string
import unicodedata
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

# Caps on printed and exported text: far above any real value, low enough that a
# pasted file or a runaway value is caught here rather than on 50,000 sheets.
MAX_URL = 2000  # browsers and QR codes (2,331 bytes at level M) stop near here
MAX_DN = 1000
MAX_NAME = 200
MAX_SHORT_NAME = 40
MAX_PATH = 4096  # Linux's PATH_MAX

# Never accepted in a printed or exported value: controls (newline, NUL...), invisible
# format characters (bidi overrides that reorder printed text, zero-width spaces), line
# and paragraph separators, surrogates, private-use and unassigned code points.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def show(value: object) -> str:
    """A value as a problem quotes it: its ``repr`` (controls visible), cut short: a pasted megabyte
    must not flood the terminal."""
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
            return f"has a label longer than 63 characters ({show(label)})"
        if label.startswith("-") or label.endswith("-"):
            return f"has a label that starts or ends with '-' ({show(label)})"
        if not _LABEL.fullmatch(label):
            return f"has a label with other characters than a-z, 0-9 and '-' ({show(label)})"
        if label.startswith("xn--") and not _punycode_ok(label):
            return f"has a label that is not valid punycode ({show(label)})"
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
        return f"has the port {show(port)}: a port is a number from 1 to 65535"
    problem = domain_problem(host.lower())
    if problem:
        return f"has the host {show(host)}, which is not a domain name: it {problem}"
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


# Hosts a clear-text connection may reach: this machine only (a test server, a tunnel's end).
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def service_url_problem(url: str, schemes: tuple[str, str] = ("https", "http")) -> str | None:
    """Why ``url`` cannot be a server scolpass talks to, or None.

    ``schemes`` are the encrypted scheme and the clear one; the clear one is allowed for
    this machine only, where nothing crosses a network.
    """
    secure, clear = schemes
    if len(url) > MAX_URL:
        return f"is longer than {MAX_URL:,} characters"
    if any(c.isspace() or unicodedata.category(c) in _INVISIBLE for c in url) or not url.isascii():
        return "holds a space, a control or a non-ASCII character"
    try:
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        return f"cannot be read as a URL ({exc})"
    if parts.scheme not in schemes or not host:
        return f"must be a {secure}:// URL with a host"
    if parts.username or parts.password:
        return "holds a user name or password: those come from a private file or the environment"
    if parts.scheme == clear and host not in LOOPBACK:
        return f"is not encrypted: use {secure}:// ({clear}:// is allowed only to 127.0.0.1)"
    del port  # read for its check only: urlsplit raises on a port that is not a number up to 65535
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


# A PostgreSQL registry's URL (the registry package connects to it; the settings check it).
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(location: str | Path) -> bool:
    """Whether ``location`` names a PostgreSQL registry (a ``postgresql://`` URL) rather than a file."""
    return isinstance(location, str) and location.startswith(POSTGRES_SCHEMES)


def password_in(url: str) -> bool:
    """Whether ``url`` carries a password (``user:password@`` or ``password=``), which it never may."""
    return bool(re.search(r"://[^/@]*:[^/@]*@", url) or re.search(r"[?&]password=", url))


def shown_url(url: str) -> str:
    """``url`` as messages name it: never a password, even one written in it against the advice."""
    url = re.sub(r"([?&]password=)[^&]*", r"\1***", url)
    return re.sub(r"(://[^/:@]*):[^/@]*@", r"\1:***@", url)
