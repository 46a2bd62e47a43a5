"""``scolpass pegase fetch``: Pégase's enrolment feed, page by page, into one file written whole.

By default the whole period: the cumulative export ``generate`` expects. With ``since``,
the learners whose enrolments changed since then, each with all their enrolments of the
period as they are when asked (a learner judged on part of them could look cancelled, or
lose a step). Every page is checked against the total the first one announces, so that a
feed that changes under the fetch gives an error, not a file that silently misses students.

Only the fields scolpass reads are kept (no contact, address or photo), as the feed gave
them: a malformed value, or an item that is no object, is the reader's to report with its
place (``generate --skip-invalid`` sets it aside), never a reason to refuse the whole feed. The file is written as
the pages come (the memory holds one page), whole or not at all.
"""

from __future__ import annotations

import json
import os
import re
import stat
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from .admin import read_registry
from .errors import ConfigError, NoRegistry, ServiceError, StateError, shown
from .files import refuse_unsafe, written_whole
from .pegase_http import Answer, PegaseAccount, PegaseClient, Sleep
from .registry import Location
from .settings import PegaseSettings, Settings
from .validators import service_url_problem

FEED_PATH = "/gestion/flux-inscriptions/pagine"
# Pégase's largest page without photos.
PAGE_SIZE = 500
# 500 items take a megabyte or two; far beyond that is not the feed.
MAX_ANSWER = 64 << 20
# The feed nests five levels (page, list, item, path, element); far deeper is not the feed.
MAX_DEPTH = 20
# `--since last` starts this long before the last consumed change: an enrolment saved while the previous
# fetch ran, or stamped by a clock a little behind, is fetched again rather than missed.
SINCE_MARGIN = 3600
PASSWORD_ENV = "SCOLPASS_PEGASE_PASSWORD"  # noqa: S105 (the variable's name, not a password)
MAX_PASSWORD_FILE = 4096
# What scolpass reads of an item; the rest (mels, telephones, adresses, photo...) never reaches the disk.
ITEM_FIELDS = (
    "codeApprenant", "INE", "civilite", "nomFamille", "nomUsage", "prenom", "dateDeNaissance", "statutInscription",
    "inscriptionPrincipale", "formation", "chemin", "anneeUniversitaire", "periode", "derniereModification",
    "derniereModificationApprenant",
)  # fmt: skip
STEP_FIELDS = ("code", "type", "libelleCourt", "libelleLong")
# A period code, as [pegase] period is checked.
_PERIOD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")

# (stage, done, of): "Items" of the whole period; or "Changes" (items changed), then "Learners" completed.
FetchProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class FetchResult:
    """What ``pegase fetch`` wrote."""

    path: Path
    items: int  # enrolments in the file
    learners: int  # distinct codeApprenant among them
    pages: int  # pages of the feed read
    requests: int  # HTTP requests sent, the CAS's and the retries included
    modified: int | None  # the largest derniereModification in the file (Unix seconds), that field only
    period: str
    since: int | None  # the changes since this time (Unix seconds); None: the whole period
    until: int  # the whole period or the changes as of this time (Unix seconds); a learner completed
    # for ``since`` has their enrolments as of when asked, so ``modified`` may be later


def fetch_feed(
    settings: Settings,
    out: str | Path,
    *,
    period: str | None = None,
    since: int | str | None = None,
    registry: str | Path | None = None,
    progress: FetchProgress | None = None,
    password: str | None = None,
    sleep: Sleep | None = None,
    now: datetime | None = None,
) -> FetchResult:
    """Write Pégase's enrolment feed for ``period`` (default ``[pegase] period``) to ``out``.

    ``since``: None for the whole period (what ``generate`` expects); Unix seconds or an ISO date-time
    (local time without an offset) for the learners changed since, each with all their enrolments;
    ``"last"`` for the largest ``derniereModification`` a complete ``generate`` consumed (read from
    ``registry``, default as ``generate`` finds it) minus :data:`SINCE_MARGIN`. ``password`` defaults
    to ``[pegase] password_file``, else the environment's ``SCOLPASS_PEGASE_PASSWORD``. ``sleep`` waits
    between attempts. The file is written whole (mode 0600) or, on any error, not at all.
    """
    out = Path(out)
    pegase = settings.pegase
    where = str(settings.source) if settings.source is not None else "the configuration"
    code = _period(pegase, period, where)
    base = _feed_url(pegase, where)
    _refuse_bad_out(out)
    moment = now or datetime.now().astimezone()
    until = int(moment.timestamp())
    start = feed_since(since, settings, registry, until)
    account = PegaseAccount(pegase.auth_url, pegase.username, password or read_pegase_password(settings))
    client = PegaseClient(account, pegase.timeout, MAX_ANSWER, sleep)
    feed = _Feed(client, base, code, until, progress or _no_progress)
    about = {"period": code, "since": start, "until": until, "fetched_at": moment.isoformat(timespec="seconds")}
    try:
        with written_whole(out, durable=True) as handle:
            writer = _Writer(handle)
            if start is None:
                feed.everything(writer)
            else:
                feed.changes(start, writer)
            writer.close(about)
    except OSError as exc:
        raise StateError(f"{out}: cannot write the feed: {exc.strerror or exc}") from None
    return FetchResult(out, writer.items, len(writer.learners), feed.pages, client.requests, writer.modified, code,
                       start, until)  # fmt: skip


# -- Before any request ----------------------------------------------------------------------------
def _required(pegase: PegaseSettings, key: str, where: str, example: str) -> str:
    value: str = getattr(pegase, key)
    if not value:
        raise ConfigError(f"{where}: [pegase] {key} is empty: pegase fetch needs it, e.g. {key} = {example!r}")
    return value


def _period(pegase: PegaseSettings, period: str | None, where: str) -> str:
    code = period if period is not None else _required(pegase, "period", where, "PER-2026")
    if not _PERIOD.fullmatch(code):
        raise ConfigError(f"period {shown(code, 60)!r} is not a Pégase period code like PER-2026")
    return code


def _feed_url(pegase: PegaseSettings, where: str) -> str:
    """The feed's endpoint under ``[pegase] url``; both URLs checked again (a caller may build settings by hand)."""
    url = _required(pegase, "url", where, "https://ins.example.pc-scol.fr/api/ins/ext/v2")
    _required(pegase, "auth_url", where, "https://authn-app.example.pc-scol.fr/cas/v1/tickets")
    _required(pegase, "username", where, "svc-scolpass")
    for key in ("url", "auth_url"):
        problem = service_url_problem(getattr(pegase, key))
        if problem:
            raise ConfigError(f"{where}: [pegase] {key} = {shown(getattr(pegase, key), 80)!r} {problem}")
    parts = urllib.parse.urlsplit(url)
    if parts.query or parts.fragment:
        raise ConfigError(f"{where}: [pegase] url must be the feed's base, without '?' or '#'")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + FEED_PATH, "", ""))


def _refuse_bad_out(out: Path) -> None:
    """Refuse, before the first request, a feed file that could not be written, or only where others could read."""
    folder = out.parent
    if out.is_dir():
        raise StateError(f"{out}: is a folder; name the feed file to write")
    if not folder.is_dir():
        raise StateError(f"{out}: cannot write the feed: folder {folder} does not exist")
    refuse_unsafe(folder, "folder of the feed file")


def read_pegase_password(settings: Settings) -> str:
    """The Pégase password: ``[pegase] password_file`` (relative to the configuration's folder), else the
    environment's ``SCOLPASS_PEGASE_PASSWORD``; never from the configuration or a command line."""
    name = settings.pegase.password_file
    if name:
        path = Path(name).expanduser()
        if not path.is_absolute() and settings.source is not None:
            path = settings.source.parent / path
        return _password_file(path)
    value = os.environ.get(PASSWORD_ENV, "")
    if value:
        return value
    where = str(settings.source) if settings.source is not None else "the configuration"
    raise ConfigError(
        f"{where}: no password for Pégase: set [pegase] password_file to a private file (chmod 600) holding it, "
        f"or the environment variable {PASSWORD_ENV}"
    )


def _password_file(path: Path) -> str:
    """One line of a file only its owner may read (as ssh wants of a key); one trailing line ending dropped."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the Pégase password: {exc.strerror}") from None
    with open(fd, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode  # of the file opened, not of a name that may change
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"{path}: other users may read this password file (mode {stat.S_IMODE(mode):04o}); "
                f"run 'chmod 600 {path}' first"
            )
        data = handle.read(MAX_PASSWORD_FILE + 1)
    if len(data) > MAX_PASSWORD_FILE:
        raise ConfigError(f"{path}: larger than {MAX_PASSWORD_FILE:,} bytes: not a password file")
    try:
        text = data.decode("utf-8-sig")  # an editor's BOM is not part of the password
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the Pégase password file is not UTF-8 text") from None
    text = text.removesuffix("\n").removesuffix("\r")
    if not text:
        raise ConfigError(f"{path}: the Pégase password file is empty")
    if "\n" in text or "\r" in text:
        raise ConfigError(f"{path}: the Pégase password file must hold one line, the password")
    return text


def feed_since(
    since: int | str | None, settings: Settings | None, registry: str | Path | None, until: int
) -> int | None:
    """``since`` as Unix seconds: given so, as digits, as an ISO date-time (local time without an offset),
    or ``"last"`` (:func:`feed_since_last`); None stays None (the whole period)."""
    if since is None:
        return None
    if isinstance(since, bool):
        raise ConfigError(f"since {since!r} is not a time")
    if isinstance(since, str):
        text = since.strip()
        if text.lower() == "last":
            return feed_since_last(settings, registry)
        if _UNIX_SECONDS.fullmatch(text):
            value = int(text)
        else:
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                raise ConfigError(
                    f"since {shown(since, 60)!r} is neither Unix seconds, an ISO date-time such as "
                    "2026-09-01T08:00:00+02:00, nor 'last'"
                ) from None
            try:
                value = int((moment if moment.tzinfo else moment.astimezone()).timestamp())
            except (ValueError, OverflowError, OSError):
                # Year 1 or 9999 in local time: beyond what the clock counts, so far before 1970 or after now.
                value = -1 if moment.year < 1970 else until + 1
    else:
        value = since
    if value < 0 or value > until:
        raise ConfigError(f"since {since!r} is {'before 1970' if value < 0 else 'in the future'}")
    return value


def feed_since_last(settings: Settings | None, registry: Location | None) -> int:
    """Where the last complete ``generate`` left the feed, minus :data:`SINCE_MARGIN`."""
    first = "run a full 'scolpass pegase fetch' (without --since) and 'scolpass generate' on it first"
    try:
        reg = read_registry(settings, registry)
    except NoRegistry as exc:
        raise StateError(f"{exc}, so no feed consumed yet: {first}") from None
    with reg:
        mark = reg.feed_mark()
    if mark is None:
        raise StateError(f"{reg.location}: no complete generate has consumed a Pégase feed yet: {first}")
    return max(mark - SINCE_MARGIN, 0)


# -- The feed ----------------------------------------------------------------------------------------
def _no_progress(stage: str, done: int, of: int) -> None:
    del stage, done, of


def _not_found(answer: Answer) -> bool:
    """Pégase's answer for a learner it does not know: HTTP 500 saying so, not 404."""
    return answer.status == 500 and b"apprenant non trouv" in answer.body[:4096].lower()


class _Feed:
    """The feed's queries for one period: the whole period and the changes as of ``until`` (fixed at the
    start: every page is cut at the same moment); a learner's enrolments as they are now, all of them
    (one changed after ``until`` too: left out, the learner would be judged on part of theirs)."""

    def __init__(self, client: PegaseClient, url: str, period: str, until: int, progress: FetchProgress) -> None:
        self.client = client
        self.url = url
        self.period = period
        self.until = until
        self.progress = progress
        self.pages = 0

    def everything(self, writer: _Writer) -> None:
        """Every enrolment of the period."""
        for items, held, total in self._query(0):
            writer.add_all(items)
            self.progress("Items", held, total)

    def changes(self, since: int, writer: _Writer) -> None:
        """The learners with an enrolment changed since ``since``, each with all their enrolments."""
        learners: dict[str, None] = {}  # in the feed's order, each once
        for items, held, total in self._query(since):
            for item in items:
                code = item.get("codeApprenant") if isinstance(item, dict) else None
                if isinstance(code, str) and code:
                    learners.setdefault(code)
                else:
                    writer.add(item)  # no learner to complete it with: kept as it came, for the reader to report
            self.progress("Changes", held, total)
        for done, learner in enumerate(learners, start=1):
            for items, _, _ in self._query(0, learner):
                for item in items:
                    if isinstance(item, dict) and item.get("codeApprenant") != learner:
                        raise ServiceError(
                            f"{self._url(0, 0, learner)}: asked for the learner {learner}, Pégase answered an "
                            f"enrolment of {shown(str(item.get('codeApprenant')), 40)!r}: it does not select by "
                            "codeApprenant; fetch without --since"
                        )
                writer.add_all(items)
            self.progress("Learners", done, len(learners))

    def _url(self, page: int, since: int, learner: str | None = None) -> str:
        until = self.until if learner is None else 0  # 0: now
        query: dict[str, str | int] = {"codePeriode": self.period, "depuis": since, "jusqua": until,
                                       "photo": "false", "page": page, "taille": PAGE_SIZE}  # fmt: skip
        if learner is not None:
            query["codeApprenant"] = learner
        return f"{self.url}?{urllib.parse.urlencode(query)}"

    def _query(self, since: int, learner: str | None = None) -> Iterator[tuple[list[Any], int, int]]:
        """One query's items, page by page, with how many are held and the total the first page announced.

        A learner Pégase does not know has no items.
        """
        total: int | None = None
        held = page = 0
        while total is None or held < total:
            answer = self.client.get(self._url(page, since, learner), _not_found if learner is not None else None)
            if learner is not None and _not_found(answer):
                return
            if answer.status != 200:
                raise self.client.unexpected(answer)
            items, announced = _page(answer)
            self.pages += 1
            if total is None:
                total = announced
            elif announced != total:
                raise ServiceError(
                    f"{answer.url}: the feed changed during the fetch (totalElements was {total:,}, now "
                    f"{announced:,}): run the fetch again"
                )
            if not items and held < total:
                raise ServiceError(
                    f"{answer.url}: an empty page after {held:,} of the {total:,} items announced: run the fetch again"
                )
            held += len(items)
            if held > total:
                raise ServiceError(
                    f"{answer.url}: more items than the {total:,} announced ({held:,} so far): run the fetch again"
                )
            yield items, held, total
            page += 1


def _page(answer: Answer) -> tuple[list[Any], int]:
    """A page's items, with only the fields scolpass reads, and its ``totalElements``; an item that is no
    object as it came (the reader names it with its place)."""

    def refuse(what: str) -> ServiceError:
        return ServiceError(f"{answer.url}: {what}")

    try:
        text = answer.body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise refuse(f"the answer is not UTF-8 (byte {exc.start:,})") from None
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise refuse(f"the answer nests deeper than {MAX_DEPTH} levels: refused") from None
    except ValueError as exc:
        raise refuse(f"the answer is not JSON ({exc})") from None
    if _deeper_than(data, MAX_DEPTH):
        raise refuse(f"the answer nests deeper than {MAX_DEPTH} levels: refused")
    if not isinstance(data, dict):
        raise refuse(f"the answer is a JSON {type(data).__name__}, not a page of the feed")
    total = data.get("totalElements")
    if type(total) is not int or total < 0:
        raise refuse(f"the answer is not a page of the feed: totalElements is {shown(repr(total), 40)}")
    results = data.get("resultats")
    if results is None:
        results = []  # an empty page may leave the key out
    if not isinstance(results, list):
        raise refuse(f"the answer is not a page of the feed: resultats is a {type(results).__name__}, not a list")
    return [_kept(item) if isinstance(item, dict) else item for item in results], total


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _deeper_than(value: object, limit: int) -> bool:
    """Whether ``value`` nests lists and objects deeper than ``limit`` (without recursion)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        children = current.values() if isinstance(current, dict) else current if isinstance(current, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def _kept(item: Mapping[str, Any]) -> dict[str, Any]:
    """The fields scolpass reads, their values as given; a path's elements keep theirs only."""
    kept = {key: item[key] for key in ITEM_FIELDS if key in item}
    path = kept.get("chemin")
    if isinstance(path, list):
        kept["chemin"] = [
            {key: step[key] for key in STEP_FIELDS if key in step} if isinstance(step, dict) else step for step in path
        ]
    return kept


class _Writer:
    """The feed file as one page of the feed, written item by item: ``{"resultats": [...], "totalElements": N,
    "scolpass": {...}}`` (a reader of the feed takes it as a page, and ignores the other keys)."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.items = 0
        self.learners: set[str] = set()
        self.modified: int | None = None
        handle.write(b'{"resultats": [\n')

    def add_all(self, items: list[Any]) -> None:
        for item in items:
            self.add(item)

    def add(self, item: Any) -> None:
        try:
            text = json.dumps(item, ensure_ascii=False, allow_nan=False)
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate (from a \\ud800 escape) has no UTF-8: written escaped, exactly as it came.
            data = json.dumps(item, allow_nan=False).encode("ascii")
        self.handle.write((b",\n" if self.items else b"") + data)
        self.items += 1
        if not isinstance(item, dict):
            return
        code, modified = item.get("codeApprenant"), item.get("derniereModification")
        if isinstance(code, str):
            self.learners.add(code)
        if type(modified) is int and (self.modified is None or modified > self.modified):
            self.modified = modified

    def close(self, about: Mapping[str, object]) -> None:
        tail = {"totalElements": self.items, "scolpass": dict(about)}
        self.handle.write(b"\n], " + json.dumps(tail, ensure_ascii=False)[1:].encode("utf-8") + b"\n")
