"""Talking to Pégase over HTTP: the CAS token, bounded answers, retries.

Only this module sends requests. It follows no redirect (a redirect would carry the
token elsewhere, perhaps in clear), reads an answer up to a size and a time limit (its
status line, headers and body within ``timeout`` seconds of the request, however slowly
they come: a socket's own timeout starts again with every byte),
retries what may pass (429, 5xx, a cut connection) with a growing wait, and asks the
CAS for a new token once on 401/403. The password and the token live in this object's
memory only: no message, repr or exception carries them. A message never quotes the CAS's
answer (it may echo the form, the password in it, however encoded): only its size and type;
a cut of the feed's answer shown in a message has the password and the tokens removed, as
they are written and as a form, a URL, HTML or JSON spells them.
"""

from __future__ import annotations

import contextvars
import email.utils
import html
import http.client
import io
import json
import re
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from typing import IO, Any, Protocol

from .errors import ServiceError, shown
from .validators import LOOPBACK, service_url_problem
from .version import __version__

# Attempts of one request before giving up, and the first wait between two (doubled each time, up to
# MAX_BACKOFF): 2 + 4 + 8 + 16 + 32 s, about a minute for a server that restarts.
ATTEMPTS = 6
FIRST_WAIT = 2.0
MAX_BACKOFF = 60.0
# A Retry-After beyond this is cut to it: a fetch waits, it does not hang for a day.
MAX_RETRY_AFTER = 300.0
# The CAS answers a JWT of a few kilobytes.
MAX_TOKEN_ANSWER = 64 * 1024
# A JWT: three base64url parts (the signature may be empty).
_JWT = re.compile(rb"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# Anything in an answer that looks like a token, removed from the cut a message shows.
_TOKEN_LIKE = re.compile(r"eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){0,2}|Bearer(?:\s|\+|%20)+\S+", re.IGNORECASE)
# A media type, the only part of a Content-Type a message shows (its parameters could hold anything).
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}")
_REFUSED = (401, 403)
# Query keys scolpass itself sends to the feed: shown in messages; any other value is masked.
_SHOWN_QUERY = frozenset({"codePeriode", "depuis", "jusqua", "photo", "page", "taille", "codeApprenant"})
_CHUNK = 1 << 20
# When the answer being read must be whole (time.monotonic()), for the socket reads under it.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("pegase_deadline", default=None)

Sleep = Callable[[float], None]


@dataclass(frozen=True)
class PegaseAccount:
    """Who scolpass is at Pégase: the CAS ticket URL, the user and the password (left out of the repr)."""

    auth_url: str
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Answer:
    """A server's answer: its status, its body (whole, within the size limit), the URL as messages show it."""

    status: int
    body: bytes = field(repr=False)
    url: str
    location: str | None = None  # a redirect's target, as messages show it
    content_type: str | None = None  # the media type of the body (text/html), when it says a valid one


class _Unreachable(Exception):
    """No complete answer (refused, cut, timed out): worth another attempt."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as it is: following it would send the token to another address."""

    def redirect_request(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: object, newurl: str
    ) -> urllib.request.Request | None:
        return None


class _Overdue(TimeoutError):
    """The answer is not whole by the request's deadline."""


class _DeadlineReader(io.RawIOBase):
    """A socket's bytes, each read given only the time left before the deadline (not the whole timeout again)."""

    def __init__(self, raw: io.RawIOBase, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._raw, self._sock, self._deadline = raw, sock, deadline

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._raw.fileno()

    def readinto(self, buffer: Any) -> int | None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise _Overdue
        self._sock.settimeout(left)
        try:
            return self._raw.readinto(buffer)
        except TimeoutError:
            raise _Overdue from None

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _BoundedResponse(http.client.HTTPResponse):
    """An answer whose status line, headers and body are read by the deadline of the request (:data:`_DEADLINE`)."""

    def __init__(self, sock: socket.socket, debuglevel: int = 0, method: str | None = None, url: str | None = None):
        super().__init__(sock, debuglevel, method, url)
        deadline = _DEADLINE.get()
        if deadline is not None:
            self.fp = io.BufferedReader(_DeadlineReader(self.fp.detach(), sock, deadline))


class _BoundedHTTP(http.client.HTTPConnection):
    response_class = _BoundedResponse


class _BoundedHTTPS(http.client.HTTPSConnection):
    response_class = _BoundedResponse


_BOUNDED: dict[object, type[http.client.HTTPConnection]] = {
    http.client.HTTPConnection: _BoundedHTTP,
    http.client.HTTPSConnection: _BoundedHTTPS,
}


class _BoundedOpen(urllib.request.AbstractHTTPHandler):
    """Connections whose answers are read by the request's deadline."""

    def do_open(self, http_class: Any, req: urllib.request.Request, **http_conn_args: Any) -> http.client.HTTPResponse:
        return super().do_open(_BOUNDED.get(http_class, http_class), req, **http_conn_args)


class _HTTPHandler(_BoundedOpen, urllib.request.HTTPHandler):
    pass


class _HTTPSHandler(_BoundedOpen, urllib.request.HTTPSHandler):
    pass


def shown_url(url: str) -> str:
    """``url`` as a message names it: the values of a query key scolpass does not send itself masked."""
    parts = urllib.parse.urlsplit(url)
    if not parts.query:
        return url
    pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query = urllib.parse.urlencode([(k, v if k in _SHOWN_QUERY else "***") for k, v in pairs], safe="*")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


class PegaseClient:
    """Requests to Pégase with a token from its CAS, kept in memory and renewed when refused.

    ``timeout`` bounds each request (seconds, reading included), ``max_answer`` the size of an
    answer (bytes); ``sleep`` waits between attempts (tests pass one that does not).
    """

    def __init__(self, account: PegaseAccount, timeout: float, max_answer: int, sleep: Sleep | None = None) -> None:
        self._account = account
        self._timeout = timeout
        self._max_answer = max_answer
        self._sleep = sleep if sleep is not None else time.sleep
        self._token: bytes | None = None
        self._tokens: list[str] = []  # every token received, to remove from what messages show
        self.requests = 0
        # Through the environment's proxy (https_proxy) to the outside; never to this machine.
        self._proxied = urllib.request.build_opener(_NoRedirect(), _HTTPHandler(), _HTTPSHandler())
        self._direct = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), _NoRedirect(), _HTTPHandler(), _HTTPSHandler()
        )

    def __repr__(self) -> str:
        return f"PegaseClient({self._account.username!r} at {shown_url(self._account.auth_url)!r})"

    def get(self, url: str, tolerate: Callable[[Answer], bool] | None = None) -> Answer:
        """GET ``url`` with the token; a new token once if it is refused, then a refusal is an error.

        ``tolerate`` names answers returned as they are (not retried), such as a 500 that means "not found".
        """
        renewed = False
        while True:
            token = self._current_token()
            headers = {"Authorization": "Bearer " + token.decode("ascii"), "Accept": "application/json"}
            answer = self._retrying("GET", url, headers, None, self._max_answer, tolerate)
            if answer.status not in _REFUSED:
                return answer
            if renewed:
                raise ServiceError(
                    f"{answer.url}: Pégase refuses the account {self._account.username} (HTTP {answer.status}), "
                    "even with a new token: give it the right to read the enrolment feed"
                )
            self._token, renewed = None, True  # expired (it lasts about 8 hours): ask the CAS again

    def unexpected(self, answer: Answer, cas: bool = False) -> ServiceError:
        """The error for an answer that is none of the expected ones: its URL, status and a cut of its body;
        the CAS's (``cas``) only its body's size and type, as the form it was sent may be echoed in it."""
        who, key, secret = ("the CAS", "auth_url", "password") if cas else ("Pégase", "url", "token")
        if 300 <= answer.status < 400:
            target = f" to {self._masked(answer.location)}" if answer.location else ""
            return ServiceError(
                f"{answer.url}: {who} answered a redirect (HTTP {answer.status}{target}), which scolpass does not "
                f"follow with its {secret}: set [pegase] {key} to the address it leads to"
            )
        hint = f": check [pegase] {key}" if answer.status == 404 else ""
        cut = _unquoted(answer) if cas else self.cut(answer.body)
        return ServiceError(f"{answer.url}: {who} answered HTTP {answer.status}{hint}" + (f" ({cut})" if cut else ""))

    def cut(self, body: bytes) -> str:
        """The beginning of ``body`` for a message: one line, without the password or anything like a token."""
        return self._masked(body[:4096].decode("utf-8", "replace"))

    def _masked(self, text: str) -> str:
        """``text`` from a server (a body, a status line that is none) as one line of a message, at most 160
        characters, without the password, the tokens, however spelled, or anything like a token."""
        text = _secrets_pattern((self._account.password, *self._tokens)).sub("***", text)
        text = _TOKEN_LIKE.sub("***", text)
        text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
        return shown(text, 160, 160)

    # -- the token -------------------------------------------------------------
    def _current_token(self) -> bytes:
        if self._token is None:
            self._token = self._authenticate()
            self._tokens.append(self._token.decode("ascii"))
        return self._token

    def _authenticate(self) -> bytes:
        """A JWT from Pégase's CAS: the form goes in the body (never in a URL, which servers log)."""
        account = self._account
        form = urllib.parse.urlencode({"username": account.username, "password": account.password, "token": "true"})
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/plain"}
        answer = self._retrying("POST", account.auth_url, headers, form.encode(), MAX_TOKEN_ANSWER, quoted=False)
        if answer.status in (400, *_REFUSED):
            raise ServiceError(
                f"{answer.url}: Pégase refuses the account {account.username} (HTTP {answer.status}): check "
                "[pegase] username and its password"
            )
        if answer.status not in (200, 201):
            raise self.unexpected(answer, cas=True)
        token = answer.body.strip()
        if not _JWT.fullmatch(token):
            # Not shown: whatever it is (a ticket-granting ticket, a login page), it may be a credential.
            raise ServiceError(
                f"{answer.url}: HTTP {answer.status} without a token (a JWT) in its answer ({len(answer.body)} "
                "bytes, not shown): [pegase] auth_url must be the CAS's /v1/tickets, which answers token=true"
            )
        return token

    # -- one request, retried ----------------------------------------------------
    def _retrying(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        data: bytes | None,
        limit: int,
        tolerate: Callable[[Answer], bool] | None = None,
        quoted: bool = True,
    ) -> Answer:
        """The answer to one request, tried again on 429, 5xx and lost connections, up to :data:`ATTEMPTS`.

        ``quoted`` False: the last answer's body is not quoted in the error, only its size and type.
        """
        problem, cut = "", ""
        for attempt in range(1, ATTEMPTS + 1):
            wait = min(FIRST_WAIT * 2 ** (attempt - 1), MAX_BACKOFF)
            try:
                answer, retry_after = self._send(method, url, headers, data, limit)
            except _Unreachable as exc:
                # Why may quote the server (http.client's BadStatusLine is the line it sent): masked too.
                problem, cut = f"no answer ({self._masked(str(exc))})", ""
            else:
                if not _retried(answer.status) or (tolerate is not None and tolerate(answer)):
                    return answer
                problem, cut = f"HTTP {answer.status}", self.cut(answer.body) if quoted else _unquoted(answer)
                wait = retry_after if retry_after is not None else wait
            if attempt < ATTEMPTS:
                self._sleep(wait)
        raise ServiceError(
            f"{shown_url(url)}: {problem} at the last of {ATTEMPTS} attempts: Pégase is down or overloaded, try "
            "again later" + (f" ({cut})" if cut else "")
        )

    def _send(
        self, method: str, url: str, headers: dict[str, str], data: bytes | None, limit: int
    ) -> tuple[Answer, float | None]:
        """One request: the answer and its Retry-After (seconds), or :class:`_Unreachable`."""
        problem = service_url_problem(url)
        if problem:
            # Checked here too, where the password and the token leave: https, or http to this machine only.
            raise ServiceError(f"{shown_url(url)}: {problem}")
        headers = {"User-Agent": f"scolpass/{__version__}", **headers}
        request = urllib.request.Request(url, data, headers, method=method)  # noqa: S310 (the scheme is checked above)
        opener = self._direct if urllib.parse.urlsplit(url).hostname in LOOPBACK else self._proxied
        deadline = time.monotonic() + self._timeout
        self.requests += 1
        bounded = _DEADLINE.set(deadline)
        try:
            return self._answer(opener, request, url, limit, deadline)
        finally:
            _DEADLINE.reset(bounded)

    def _answer(
        self, opener: urllib.request.OpenerDirector, request: urllib.request.Request, url: str, limit: int,
        deadline: float,
    ) -> tuple[Answer, float | None]:  # fmt: skip
        try:
            response = opener.open(request, timeout=self._timeout)
        except urllib.error.HTTPError as error:
            response = error  # a status urllib counts as an error: read like any other answer
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, ssl.SSLCertVerificationError):
                raise ServiceError(
                    f"{shown_url(url)}: the server's certificate cannot be trusted ({exc.reason.verify_message}): "
                    "scolpass sends its password only to a server it can authenticate"
                ) from None
            raise _Unreachable(self._late() if isinstance(exc.reason, _Overdue) else _reason(exc.reason)) from None
        except _Overdue:
            raise _Unreachable(self._late()) from None
        except (OSError, http.client.HTTPException) as exc:
            raise _Unreachable(_reason(exc)) from None
        try:
            body = _read(response, limit, deadline, url, self._late())
            location = response.headers.get("Location")
            media = _MEDIA_TYPE.match((response.headers.get("Content-Type") or "").strip())
            retry_after = _retry_after(response.headers.get("Retry-After"))
        finally:
            response.close()
        shown_location = shown_url(location) if location else None
        content_type = media.group().lower() if media else None
        return Answer(response.status or 0, body, shown_url(url), shown_location, content_type), retry_after

    def _late(self) -> str:
        return f"the answer took longer than [pegase] timeout, {self._timeout:g} s"


def _spellings(secret: str) -> set[str]:
    """``secret`` as a server may echo it: as written, as a form or a URL encodes it, in HTML, in JSON."""
    quoted = {urllib.parse.quote_plus(secret), urllib.parse.quote(secret, safe=""), urllib.parse.quote(secret)}
    return {
        secret, *quoted, html.escape(secret), html.escape(secret, quote=False), json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }  # fmt: skip


def _secrets_pattern(secrets: tuple[str, ...]) -> re.Pattern[str]:
    """Every spelling of ``secrets``, the longest first; case aside (``%2b`` is ``%2B``)."""
    spelled = sorted({s for secret in secrets if secret for s in _spellings(secret)}, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, spelled)) or r"(?!)", re.IGNORECASE)


def _unquoted(answer: Answer) -> str:
    """What a message says of an answer it must not quote: its size and media type."""
    if not answer.body:
        return ""
    kind = f", {answer.content_type}" if answer.content_type else ""
    return f"{len(answer.body):,} bytes{kind}, not shown"


def _retried(status: int) -> bool:
    return status == 429 or 500 <= status <= 599


def _reason(reason: object) -> str:
    """Why a connection failed, in a few words (``Connection refused``, ``timed out``)."""
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


class _Body(Protocol):
    """An answer's body as :func:`_read` reads it (an HTTPResponse, or the HTTPError around one)."""

    headers: Message
    status: int

    def read1(self, size: int = -1, /) -> bytes: ...


def _read(response: _Body, limit: int, deadline: float, url: str, late: str) -> bytes:
    """The whole body, refused beyond ``limit`` bytes before it costs the memory, or after the deadline
    (``late`` says so). Read as it comes (``read1``), the deadline checked between reads; shorter than its
    Content-Length, it was cut (a cut on an item's end could parse, as a page with fewer items)."""
    length = response.headers.get("Content-Length")
    announced = int(length) if length is not None and length.strip().isdigit() else None
    if announced is not None and announced > limit:
        raise _too_large(url, limit)
    if "chunked" in (response.headers.get("Transfer-Encoding") or "").lower() or response.status in (204, 304):
        announced = None  # no body, or one whose length the chunks say
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            chunk = response.read1(min(_CHUNK, limit + 1 - size))
            if not chunk:
                if announced is not None and size < announced:
                    raise _Unreachable(f"cut while reading: {size:,} of the {announced:,} bytes announced")
                return b"".join(chunks)
            size += len(chunk)
            if size > limit:
                raise _too_large(url, limit)
            chunks.append(chunk)
            if time.monotonic() > deadline:
                raise _Unreachable(late)
    except _Overdue:
        raise _Unreachable(late) from None
    except (OSError, http.client.HTTPException) as exc:
        raise _Unreachable(f"cut while reading: {_reason(exc)}") from None


def _too_large(url: str, limit: int) -> ServiceError:
    size = f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit:,} bytes"
    return ServiceError(f"{shown_url(url)}: the answer is larger than {size}: refused before it is parsed")


def _retry_after(value: str | None) -> float | None:
    """A Retry-After header (seconds, or an HTTP date) as seconds to wait, within :data:`MAX_RETRY_AFTER`."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"[0-9]{1,9}", value):
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)
