"""A throwaway Pégase on 127.0.0.1: its CAS's ticket URL and the enrolment feed, as docs of the
contract describe them (INS "Inscription Externe" API v2), since the real one cannot be reached
from tests.

- ``POST /cas/v1/tickets`` with the form ``username=...&password=...&token=true`` answers 201
  with a JWT-like token as its body, 401 for another user or password.
- ``GET /api/ins/ext/v2/gestion/flux-inscriptions/pagine`` wants ``Authorization: Bearer`` with
  a token it issued (401 otherwise), selects by ``codePeriode``, ``depuis``, ``jusqua`` and
  ``codeApprenant`` (a learner it does not know: HTTP 500 "apprenant non trouve"), and pages
  with ``page`` and ``taille`` (at most 500) into ``{"taille", "page", "totalPages",
  "totalElements", "resultats"}``.

Tests queue faults (any status, body and headers, late or a byte at a time; a 401 also expires
every token), forbid the account, lie about totals or change the feed between pages, and read every request it saw.
"""

from __future__ import annotations

import contextlib
import json
import math
import secrets
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FEED = "/api/ins/ext/v2/gestion/flux-inscriptions/pagine"
TICKETS = "/cas/v1/tickets"
# How a fault tells the handler to send its answer a byte at a time (never sent).
_DRIP, _DRIP_HEAD = "X-Test-Drip", "X-Test-Drip-Head"


@dataclass(frozen=True)
class Seen:
    """A request as the server received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


# A fault's body: bytes, or made from the request (to echo what a careless server echoes).
Body = bytes | Callable[[Seen], bytes]


@dataclass
class Fault:
    """An answer given instead of the normal one, once."""

    status: int
    body: Body = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a server that hangs)
    drip: float = 0.0  # seconds between two bytes of the body (a server that answers a byte at a time)
    drip_head: bool = False  # the status line and the headers a byte at a time too


def jwt_like() -> str:
    """A token shaped like Pégase's: three base64url parts, the first a JSON header."""
    return f"eyJhbGciOiJIUzI1NiJ9.{secrets.token_urlsafe(24)}.{secrets.token_urlsafe(32)}"


class FakePegase:
    """The server's state; :meth:`start` serves it from a thread, :meth:`stop` ends it."""

    def __init__(
        self, username: str = "svc-scolpass", password: str = "Pég@se pass 42", tls: tuple[Path, Path] | None = None
    ) -> None:
        self.username = username
        self.password = password
        self.items: list[tuple[str, dict[str, Any]]] = []  # (period code, item as the feed gives it)
        self.seen: list[Seen] = []
        self.issued: list[str] = []  # every token handed out
        self.valid: set[str] = set()
        self.faults: dict[str, list[Fault]] = {"tickets": [], "feed": []}
        self.forbid = False  # 403 for every feed request
        self.filter_learners = True  # False: a Pégase that ignores codeApprenant
        self.unknown_learners: set[str] = set()  # answer 500 "apprenant non trouve" for these
        self.max_size = 500
        self.announce: Callable[[int], int] = lambda total: total  # the totalElements it claims
        self.after_page: Callable[[FakePegase, int], None] | None = None  # e.g. add an item after page 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.scheme = "http"
        if tls is not None:  # (certificate, key): https, as Pégase itself
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        """``[pegase] url``: the feed's base."""
        return f"{self.base}/api/ins/ext/v2"

    @property
    def auth_url(self) -> str:
        return f"{self.base}{TICKETS}"

    def start(self) -> FakePegase:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def add(self, item: dict[str, Any], period: str = "PER-2026") -> None:
        self.items.append((period, item))

    def fault(
        self, kind: str, status: int, body: Body = b"", delay: float = 0.0, drip: float = 0.0,
        drip_head: bool = False, **headers: str,
    ) -> None:  # fmt: skip
        """Answer the next ``kind`` ("tickets" or "feed") request with ``status`` instead, after ``delay``,
        a byte every ``drip`` seconds (the body's, and the head's too with ``drip_head``)."""
        named = {k.replace("_", "-"): v for k, v in headers.items()}
        self.faults[kind].append(Fault(status, body, named, delay, drip, drip_head))

    def feed_requests(self) -> list[Seen]:
        return [s for s in self.seen if s.path == FEED]

    def ticket_requests(self) -> list[Seen]:
        return [s for s in self.seen if s.path == TICKETS]

    # -- answers -----------------------------------------------------------------
    def answer(self, seen: Seen) -> tuple[int, bytes, dict[str, str], float]:
        with self.lock:
            self.seen.append(seen)
            kind = {TICKETS: "tickets", FEED: "feed"}.get(seen.path)
            if kind is None:
                return 404, b'{"message": "Not Found"}', {}, 0.0
            if kind == "feed" and seen.headers.get("authorization", "").removeprefix("Bearer ") not in self.valid:
                return 401, b'{"message": "Unauthorized"}', {}, 0.0
            if self.faults[kind]:
                fault = self.faults[kind].pop(0)
                if fault.status == 401:
                    self.valid.clear()  # the token expired
                body = fault.body(seen) if callable(fault.body) else fault.body
                headers = dict(fault.headers)
                if fault.drip:  # told to the handler, which does not send these
                    headers.update({_DRIP: str(fault.drip), _DRIP_HEAD: "yes" if fault.drip_head else ""})
                return fault.status, body, headers, fault.delay
            return (*(self._tickets(seen) if kind == "tickets" else self._feed(seen)), 0.0)

    def _tickets(self, seen: Seen) -> tuple[int, bytes, dict[str, str]]:
        if seen.method != "POST" or seen.headers.get("content-type") != "application/x-www-form-urlencoded":
            return 415, b"form expected", {}
        form = dict(urllib.parse.parse_qsl(seen.body.decode()))
        if (form.get("username"), form.get("password"), form.get("token")) != (self.username, self.password, "true"):
            return 401, b"authentication failed", {}
        token = jwt_like()
        self.issued.append(token)
        self.valid.add(token)
        return 201, token.encode(), {"Content-Type": "text/plain"}

    def _feed(self, seen: Seen) -> tuple[int, bytes, dict[str, str]]:
        if self.forbid:
            return 403, b'{"message": "Forbidden"}', {}
        q = seen.query
        page, size = int(q["page"]), min(int(q["taille"]), self.max_size)
        since, until = int(q.get("depuis", "0")), int(q.get("jusqua", "0")) or math.inf
        learner = q.get("codeApprenant")
        if learner in self.unknown_learners:
            return 500, b'{"message": "Erreur : apprenant non trouve"}', {}
        selected = [
            item
            for period, item in self.items
            if period == q.get("codePeriode")
            and since <= item["derniereModification"] <= until
            and (learner is None or not self.filter_learners or item["codeApprenant"] == learner)
        ]
        if learner is not None and not selected:
            return 500, b'{"message": "Erreur : apprenant non trouve"}', {}
        total = len(selected)
        body = {
            "taille": size,
            "page": page,
            "totalPages": math.ceil(total / size),
            "totalElements": self.announce(total),
            "resultats": selected[page * size : (page + 1) * size],
        }
        if self.after_page is not None:
            self.after_page(self, page)
        # Escaped to ASCII: a lone surrogate (a test's hostile value) has no UTF-8.
        return 200, json.dumps(body).encode(), {"Content-Type": "application/json"}


def _handler(state: FakePegase) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            seen = Seen(
                self.command,
                parts.path,
                dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True)),
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length),
            )
            status, body, headers, delay = state.answer(seen)
            time.sleep(delay)
            if _DRIP in headers:
                self._drip(status, body, headers)
                return
            self.send_response(status)
            for key, value in headers.items():
                if (key, value) != ("Content-Length", "none"):  # "none": a body that ends with the connection
                    self.send_header(key, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            # The client may refuse to read it all, as it should beyond its limit.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def _drip(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            """The answer a byte every so often: the body only, or the status line and headers too."""
            pause, whole = float(headers.pop(_DRIP)), bool(headers.pop(_DRIP_HEAD))
            lines = [f"{self.protocol_version} {status} {self.responses.get(status, ('Fault',))[0]}",
                     *(f"{k}: {v}" for k, v in {"Content-Length": str(len(body)), **headers}.items())]  # fmt: skip
            head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                if not whole:
                    self.wfile.write(head)
                dripped = body if not whole else head + body
                for at in range(len(dripped)):
                    self.wfile.write(dripped[at : at + 1])
                    time.sleep(pause)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the test's output stays the test's

    return Handler
