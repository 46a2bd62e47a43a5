"""``pegase fetch`` against a real HTTP server on 127.0.0.1 that speaks Pégase's contract
(tests/pegase_server.py): paging, tokens, refusals, retries, hostile answers, ``--since``."""

from __future__ import annotations

import dataclasses
import html
import json
import logging
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from scolpass import (
    ConfigError,
    InputError,
    RunOptions,
    ScolpassError,
    ServiceError,
    StateError,
    fetch_feed,
    generate,
    load_settings,
    read_enrolment,
)
from scolpass import pegase_fetch as fetch_module
from scolpass import pegase_http as http_module
from scolpass.cli import main
from scolpass.pegase_fetch import SINCE_MARGIN, feed_since

from .conftest import SAMPLES, require
from .pegase_server import FEED, FakePegase, Seen

T0 = 1_700_000_000  # 2023-11-14T22:13:20Z: the feed's enrolments were last changed around then (in the past)
NOW = datetime.fromtimestamp(T0 + 100_000).astimezone()
USER = "svc-scolpass"
KEPT = {
    "codeApprenant", "INE", "civilite", "nomFamille", "nomUsage", "prenom", "dateDeNaissance", "statutInscription",
    "inscriptionPrincipale", "formation", "chemin", "anneeUniversitaire", "periode", "derniereModification",
    "derniereModificationApprenant",
}  # fmt: skip


def enrolment(learner: str, step: str = "L1DRT", modified: int = T0, **values: Any) -> dict[str, Any]:
    """One item as Pégase's feed gives it: what scolpass reads, and contacts, photo and fields it never keeps."""
    item = {
        "codeApprenant": learner, "INE": f"1{learner:0>8}AB", "civilite": "F", "nomFamille": "MARTIN",
        "nomUsage": "DUPONT", "prenom": "Hélène", "dateDeNaissance": "2007-04-17", "nationalite": "100",
        "statutInscription": "valide", "inscriptionPrincipale": True, "formation": "F-DRT",
        "chemin": [
            {"code": "F-DRT", "type": "FORMATION", "libelleCourt": "Droit", "libelleLong": "Licence Droit",
             "idChemin": "CH-1", "idPeriode": "ID-PER-1"},
            {"code": step, "type": "ANNEE", "libelleCourt": "L1", "libelleLong": "Licence 1 Droit",
             "idChemin": "CH-2", "idPeriode": "ID-PER-1"},
        ],
        "anneeUniversitaire": 2026, "periode": "Année universitaire 2026-2027", "UAI": "0341087X",
        "UAIStructurePrincipale": "0341087X", "codeDiplomeSISE": "2500123", "regime": "1",
        "statutPaiement": "paye", "dateInscription": "2026-07-10T00:00:00",
        "derniereModification": modified, "derniereModificationApprenant": modified - 60,
        "mels": [{"mail": f"helene.{learner}@perso.example.org", "code": "MEL-001", "libelle": "personnel"}],
        "telephones": [{"numero": "+33 6 12 34 56 78"}],
        "adresses": [{"ligne1": "12 rue des Lilas", "codePostal": "34000", "commune": "MONTPELLIER"}],
        "photo": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB", "droitPhoto": True, "champInconnu": {"x": [1, 2]},
    }  # fmt: skip
    item.update(values)
    return item


def kept(item: dict[str, Any]) -> dict[str, Any]:
    """What the file must hold of ``item``."""
    out = {k: v for k, v in item.items() if k in KEPT}
    out["chemin"] = [{k: step[k] for k in ("code", "type", "libelleCourt", "libelleLong")} for step in item["chemin"]]
    return out


# -- The server, the configuration, the run ------------------------------------------------------------
@pytest.fixture
def pegase() -> Iterator[FakePegase]:
    server = FakePegase(username=USER).start()
    yield server
    server.stop()


def write_config(tmp_path: Path, pegase: FakePegase, **overrides: str) -> Path:
    """The sample configuration with a [pegase] table for the server, its password in a private file."""
    secret = tmp_path / "secret"
    secret.mkdir(mode=0o700, exist_ok=True)
    password_file = secret / "pegase-password"
    password_file.write_text(pegase.password + "\n")
    password_file.chmod(0o600)
    keys = {"url": pegase.url, "auth_url": pegase.auth_url, "username": USER, "password_file": str(password_file),
            "period": "PER-2026", **overrides}  # fmt: skip
    table = "".join(f"{key} = {json.dumps(value)}\n" for key, value in keys.items())
    path = tmp_path / "scolpass.toml"
    path.write_text((SAMPLES / "scolpass.toml").read_text(encoding="utf-8") + f"\n[pegase]\n{table}timeout = 5\n")
    return path


@pytest.fixture
def config(tmp_path: Path, pegase: FakePegase) -> Path:
    return write_config(tmp_path, pegase)


@pytest.fixture
def feeds(tmp_path: Path) -> Path:
    """The folder the feed file goes to (nothing else in it, so that litter shows)."""
    folder = tmp_path / "feeds"
    folder.mkdir()
    return folder


class Sleeps(list[float]):
    """The waits between attempts, recorded instead of slept."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def fetch(config: Path, feeds: Path, sleeps: Sleeps | None = None, **kw: Any) -> fetch_module.FetchResult:
    return fetch_feed(
        load_settings(config), feeds / "feed.json", sleep=Sleeps() if sleeps is None else sleeps, now=NOW, **kw
    )


def failure(config: Path, feeds: Path, pegase: FakePegase, sleeps: Sleeps | None = None, **kw: Any) -> str:
    """The message of a fetch that must fail, checked to leave nothing and to hold no secret."""
    with pytest.raises(ScolpassError) as caught:
        fetch(config, feeds, sleeps, **kw)
    message = str(caught.value)
    assert os.listdir(feeds) == []  # no file, no temporary file
    assert "\n" not in message
    for secret in (pegase.password, *pegase.issued):
        assert secret not in message
    assert "eyJ" not in message
    assert "Bearer" not in message
    return message


def page_url(pegase: FakePegase, page: int = 0) -> str:
    return f"{pegase.url}/gestion/flux-inscriptions/pagine?codePeriode=PER-2026&depuis=0&jusqua={int(NOW.timestamp())}&photo=false&page={page}&taille=500"


def reload(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


# -- The whole period ------------------------------------------------------------------------------
def test_a_whole_period_comes_page_by_page_with_only_the_fields_scolpass_reads(
    pegase: FakePegase, config: Path, feeds: Path
) -> None:
    items = [enrolment(f"{n:08d}", modified=T0 + n) for n in range(1203)]
    for item in items:
        pegase.add(item)
    pegase.add(enrolment("99999999"), period="PER-2025")  # another period: never asked for
    done = fetch(config, feeds)

    path = feeds / "feed.json"
    data = reload(path)
    assert data["resultats"] == [kept(item) for item in items]
    assert data["totalElements"] == 1203
    assert data["scolpass"] == {"period": "PER-2026", "since": None, "until": int(NOW.timestamp()),
                                "fetched_at": NOW.isoformat(timespec="seconds")}  # fmt: skip
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(os.listdir(feeds)) == ["feed.json"]
    assert (done.items, done.learners, done.pages, done.requests) == (1203, 1203, 3, 4)
    assert done.modified == T0 + 1202
    raw = path.read_text(encoding="utf-8")
    for never in ("perso.example.org", "MEL-001", "+33 6", "rue des Lilas", "34000", "iVBORw0", "droitPhoto",
                  "idChemin", "nationalite", "UAI", "statutPaiement", "champInconnu"):  # fmt: skip
        assert never not in raw

    (ticket,) = pegase.ticket_requests()
    assert ticket.method == "POST"
    assert ticket.query == {}  # the password in the body, never in a URL
    assert ticket.body.decode() == "username=svc-scolpass&password=P%C3%A9g%40se+pass+42&token=true"
    requests = pegase.feed_requests()
    assert [r.query["page"] for r in requests] == ["0", "1", "2"]
    for r in requests:
        assert r.query == {"codePeriode": "PER-2026", "depuis": "0", "jusqua": str(int(NOW.timestamp())),
                           "photo": "false", "page": r.query["page"], "taille": "500"}  # fmt: skip
        assert r.headers["authorization"] == f"Bearer {pegase.issued[0]}"
        assert pegase.password not in json.dumps(r.query)
    assert pegase.issued[0] not in raw


def test_period_option_overrides_the_configuration(pegase: FakePegase, config: Path, feeds: Path) -> None:
    pegase.add(enrolment("00000001"))
    pegase.add(enrolment("00000002"), period="PER-2025")
    done = fetch(config, feeds, period="PER-2025")
    assert [i["codeApprenant"] for i in reload(feeds / "feed.json")["resultats"]] == ["00000002"]
    assert done.period == "PER-2025"
    with pytest.raises(ConfigError, match=r"^period 'PER 2025&x=1' is not a Pégase period code like PER-2026$"):
        fetch(config, feeds, period="PER 2025&x=1")


def test_an_empty_period_gives_an_empty_feed(pegase: FakePegase, config: Path, feeds: Path) -> None:
    done = fetch(config, feeds)
    assert reload(feeds / "feed.json")["resultats"] == []
    assert (done.items, done.pages, done.modified) == (0, 1, None)


def test_modified_is_the_largest_derniere_modification_only(pegase: FakePegase, config: Path, feeds: Path) -> None:
    # derniereModificationApprenant (the learner's record) is kept in the file, and plays no part: depuis
    # selects by derniereModification, so the next --since last starts from that field alone.
    pegase.add(enrolment("00000001", modified=T0, derniereModificationApprenant=T0 + 9999))
    pegase.add(enrolment("00000002", modified=T0 - 5, derniereModificationApprenant="not a time"))
    assert fetch(config, feeds).modified == T0


def test_values_are_kept_as_they_came_for_the_reader_to_report(pegase: FakePegase, config: Path, feeds: Path) -> None:
    odd = enrolment("00000001", dateDeNaissance="17/04/2007", inscriptionPrincipale="oui", anneeUniversitaire="2026",
                    prenom="A\ud800B", nomFamille=None)  # fmt: skip
    odd["chemin"].append("not an element")
    pegase.add(odd)
    fetch(config, feeds)
    (item,) = reload(feeds / "feed.json")["resultats"]
    assert item["dateDeNaissance"] == "17/04/2007"
    assert item["inscriptionPrincipale"] == "oui"
    assert item["anneeUniversitaire"] == "2026"
    assert item["prenom"] == "A\ud800B"  # a lone surrogate, escaped in the file, comes back exactly
    assert item["nomFamille"] is None
    assert item["chemin"][-1] == "not an element"


NOT_OBJECTS = ["x", 7, None, [1, 2], True]


def test_an_item_that_is_no_object_is_kept_as_it_came_for_the_reader_to_report(
    pegase: FakePegase, config: Path, feeds: Path
) -> None:
    good = enrolment("00000001")
    odd = enrolment("00000002", INE={"x": [1]}, nomUsage=[1, "a"], civilite=1.5, derniereModification="hier",
                    chemin="L1", statutInscription=None)  # fmt: skip
    body = {"totalElements": 2 + len(NOT_OBJECTS), "resultats": [good, *NOT_OBJECTS, odd]}
    pegase.fault("feed", 200, json.dumps(body).encode())
    done = fetch(config, feeds)
    held = reload(feeds / "feed.json")["resultats"]
    assert held == [kept(good), *NOT_OBJECTS, {k: v for k, v in odd.items() if k in KEPT}]
    assert (done.items, done.learners, done.modified) == (7, 2, T0)
    # The reader names each with its place; with --skip-invalid they are set aside, the good one issued.
    with pytest.raises(InputError) as caught:
        read_enrolment(feeds / "feed.json")
    places = {problem.column for problem in caught.value.problems}
    assert {f"resultats[{n}]" for n in range(1, 6)} <= places
    assert read_enrolment(feeds / "feed.json", skip_invalid=True).students[0].student_number == "00000001"


def test_since_keeps_an_item_that_is_no_object_as_it_came(pegase: FakePegase, config: Path, feeds: Path) -> None:
    pegase.add(enrolment("00000001", modified=T0 + 5))
    changes = {"totalElements": 2, "resultats": [enrolment("00000001", modified=T0 + 5), "x"]}
    learner = {"totalElements": 2, "resultats": [enrolment("00000001", modified=T0 + 5), [1]]}
    pegase.fault("feed", 200, json.dumps(changes).encode())
    pegase.fault("feed", 200, json.dumps(learner).encode())
    done = fetch(config, feeds, since=T0)
    assert reload(feeds / "feed.json")["resultats"] == ["x", kept(enrolment("00000001", modified=T0 + 5)), [1]]
    assert (done.items, done.learners) == (3, 1)


# -- Tokens and refusals -------------------------------------------------------------------------------
def test_an_expired_token_is_renewed_once_and_the_fetch_goes_on(pegase: FakePegase, config: Path, feeds: Path) -> None:
    for n in range(700):
        pegase.add(enrolment(f"{n:08d}"))
    original = pegase.answer

    def expire_after_first_page(seen: Seen) -> tuple[int, bytes, dict[str, str], float]:
        if seen.path == FEED and seen.query.get("page") == "1" and len(pegase.issued) == 1:
            pegase.fault("feed", 401, b'{"message": "token expired"}')
        return original(seen)

    pegase.answer = expire_after_first_page  # type: ignore[method-assign]
    done = fetch(config, feeds)
    assert done.items == 700
    assert len(pegase.ticket_requests()) == 2
    assert [r.headers["authorization"] for r in pegase.feed_requests()] == [
        f"Bearer {pegase.issued[0]}", f"Bearer {pegase.issued[0]}", f"Bearer {pegase.issued[1]}",
    ]  # fmt: skip


def test_an_account_refused_with_a_new_token_is_a_clear_error(pegase: FakePegase, config: Path, feeds: Path) -> None:
    pegase.add(enrolment("00000001"))
    pegase.forbid = True
    message = failure(config, feeds, pegase)
    assert message == (
        f"{page_url(pegase)}: Pégase refuses the account svc-scolpass (HTTP 403), even with a new token: give it "
        "the right to read the enrolment feed"
    )
    assert len(pegase.ticket_requests()) == 2


def test_a_wrong_password_is_refused_by_the_cas(pegase: FakePegase, tmp_path: Path, feeds: Path) -> None:
    pegase.password = "another one"
    config = write_config(tmp_path, pegase)
    pegase.password = "the right one"
    message = failure(config, feeds, pegase)
    assert message == (
        f"{pegase.auth_url}: Pégase refuses the account svc-scolpass (HTTP 401): check [pegase] username and its "
        "password"
    )
    assert "another one" not in message
    assert pegase.feed_requests() == []


@pytest.mark.parametrize(
    "body",
    [b"TGT-1-abcdefghijklmnop-cas", b"<html><body>Login</body></html>", b""],
    ids=["ticket-granting-ticket", "login-page", "empty"],
)
def test_a_cas_answer_that_is_not_a_token_is_not_shown(
    pegase: FakePegase, config: Path, feeds: Path, body: bytes
) -> None:
    pegase.fault("tickets", 201, body)
    message = failure(config, feeds, pegase)
    assert message.startswith(f"{pegase.auth_url}: HTTP 201 without a token (a JWT) in its answer")
    assert (body.decode() not in message) or not body


# -- Retries -----------------------------------------------------------------------------------------
def test_429_and_5xx_are_retried_with_a_growing_wait_honouring_retry_after(
    pegase: FakePegase, config: Path, feeds: Path
) -> None:
    pegase.add(enrolment("00000001"))
    pegase.fault("tickets", 503)
    pegase.fault("feed", 429, b"slow down", Retry_After="7")
    pegase.fault("feed", 500)
    pegase.fault("feed", 502)
    sleeps = Sleeps()
    done = fetch(config, feeds, sleeps)
    assert sleeps == [2.0, 7.0, 4.0, 8.0]  # the CAS's 503, then the feed's 429 (as told), 500, 502
    assert done.items == 1
    assert done.requests == 6


def test_a_retry_after_date_and_a_huge_one_are_honoured_within_bounds(
    pegase: FakePegase, config: Path, feeds: Path
) -> None:
    pegase.add(enrolment("00000001"))
    pegase.fault("feed", 503, Retry_After="Wed, 21 Oct 2015 07:28:00 GMT")  # past: no wait
    pegase.fault("feed", 429, Retry_After="86400")  # a day: cut to 5 minutes
    sleeps = Sleeps()
    fetch(config, feeds, sleeps)
    assert sleeps == [0.0, 300.0]


def test_a_server_that_stays_down_is_a_clear_error_without_secrets(
    pegase: FakePegase, config: Path, feeds: Path
) -> None:
    pegase.add(enrolment("00000001"))

    def echo(seen: Seen) -> bytes:  # a careless server echoes the request's headers and more
        return f"Internal error for {seen.headers['authorization']} (password {pegase.password})".encode()

    for _ in range(6):
        pegase.fault("feed", 500, echo)
    sleeps = Sleeps()
    message = failure(config, feeds, pegase, sleeps)
    assert message == (
        f"{page_url(pegase)}: HTTP 500 at the last of 6 attempts: Pégase is down or overloaded, try again later "
        "(Internal error for *** (password ***))"
    )
    assert sleeps == [2.0, 4.0, 8.0, 16.0, 32.0]


# A password with what a form, a URL and HTML each spell their own way: every spelling could show it.
HARD_PASSWORD = "S3cr&t+p%ss <wörd>"


def spellings(secret: str) -> dict[str, str]:
    """``secret`` as a server may echo it: as sent in a form, escaped in a URL, in HTML or in JSON."""
    return {
        "literal": secret,
        "form": urllib.parse.quote_plus(secret),
        "form-lower-hex": re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), urllib.parse.quote_plus(secret)),
        "url": urllib.parse.quote(secret, safe=""),
        "url-path": urllib.parse.quote(secret),
        "html": html.escape(secret),
        "html-text": html.escape(secret, quote=False),
        "json": json.dumps(secret)[1:-1],
    }


@pytest.mark.parametrize("status", [500, 418])
def test_a_cas_answer_is_never_quoted_in_a_message(
    pegase: FakePegase, tmp_path: Path, feeds: Path, status: int
) -> None:
    pegase.password = HARD_PASSWORD
    config = write_config(tmp_path, pegase)
    bodies: list[bytes] = []

    def echo(seen: Seen) -> bytes:  # a careless CAS echoes the form it was sent, and the password it read
        password = urllib.parse.parse_qs(seen.body.decode())["password"][0]
        bodies.append(b"<html>No ticket for " + seen.body + b" (" + html.escape(password).encode() + b")</html>")
        return bodies[-1]

    for _ in range(6):
        pegase.fault("tickets", status, echo, Content_Type="text/html; charset=UTF-8")
    message = failure(config, feeds, pegase)
    about = f"({len(bodies[-1]):,} bytes, text/html, not shown)"
    if status == 500:
        assert message == (
            f"{pegase.auth_url}: HTTP 500 at the last of 6 attempts: Pégase is down or overloaded, try again later "
            + about
        )
    else:
        assert message == f"{pegase.auth_url}: the CAS answered HTTP 418 {about}"
    for spelled in spellings(HARD_PASSWORD).values():
        assert spelled not in message
    assert "S3cr" not in message
    assert "No ticket" not in message


def test_a_cas_that_redirects_or_is_not_found_names_auth_url(pegase: FakePegase, config: Path, feeds: Path) -> None:
    pegase.fault("tickets", 302, Location="https://authn-app.example.pc-scol.fr/cas/v1/tickets?x=1")
    assert failure(config, feeds, pegase) == (
        f"{pegase.auth_url}: the CAS answered a redirect (HTTP 302 to https://authn-app.example.pc-scol.fr/cas/v1/"
        "tickets?x=***), which scolpass does not follow with its password: set [pegase] auth_url to the address "
        "it leads to"
    )
    pegase.fault("tickets", 404, b"<h1>Not Found</h1>", Content_Type="text/html")
    assert failure(config, feeds, pegase) == (
        f"{pegase.auth_url}: the CAS answered HTTP 404: check [pegase] auth_url (18 bytes, text/html, not shown)"
    )


@pytest.mark.parametrize("spelling", spellings(HARD_PASSWORD).keys())
@pytest.mark.parametrize("secret", ["password", "token"])
def test_a_feed_answer_is_quoted_without_the_password_or_the_token_however_spelled(
    pegase: FakePegase, tmp_path: Path, feeds: Path, secret: str, spelling: str
) -> None:
    pegase.password = HARD_PASSWORD
    config = write_config(tmp_path, pegase)

    def echo(seen: Seen) -> bytes:
        token = seen.headers["authorization"].removeprefix("Bearer ")
        value = HARD_PASSWORD if secret == "password" else "Bearer " + token
        return f"error: {spellings(value)[spelling]} end".encode()

    pegase.fault("feed", 400, echo)
    assert failure(config, feeds, pegase) == f"{page_url(pegase)}: Pégase answered HTTP 400 (error: *** end)"


def test_an_answer_that_is_not_http_is_named_without_the_password(tmp_path: Path, feeds: Path) -> None:
    # Whatever listens at auth_url is no web server: it sends back the form it was sent, as its first line.
    listener = socket.create_server(("127.0.0.1", 0))
    address = f"http://127.0.0.1:{listener.getsockname()[1]}"

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                data = b""
                while not data.endswith(b"token=true"):
                    data += connection.recv(4096)
                connection.sendall(data.split(b"\r\n\r\n", 1)[1] + b"\r\n")

    threading.Thread(target=serve, daemon=True).start()
    fake = FakePegase(username=USER, password=HARD_PASSWORD)
    fake.server.server_close()
    config = write_config(tmp_path, fake, url=f"{address}/api/ins/ext/v2", auth_url=f"{address}/cas/v1/tickets")
    try:
        with pytest.raises(ServiceError) as caught:
            fetch(config, feeds)
    finally:
        listener.close()
    assert str(caught.value) == (
        f"{address}/cas/v1/tickets: no answer (username=svc-scolpass&password=***&token=true) at the last of 6 "
        "attempts: Pégase is down or overloaded, try again later"
    )
    assert os.listdir(feeds) == []


def test_a_server_that_does_not_answer_is_a_clear_error(tmp_path: Path, feeds: Path) -> None:
    closed = FakePegase()
    address = closed.url
    closed.server.server_close()  # its port, with nobody listening
    config = write_config(tmp_path, closed, url=address, auth_url=closed.auth_url)
    sleeps = Sleeps()
    with pytest.raises(ServiceError) as caught:
        fetch(config, feeds, sleeps)
    assert str(caught.value) == (
        f"{closed.auth_url}: no answer (Connection refused) at the last of 6 attempts: Pégase is down or overloaded, "
        "try again later"
    )
    assert len(sleeps) == 5
    assert os.listdir(feeds) == []


def test_a_server_that_hangs_is_given_up_on_after_the_timeout_and_tried_again(
    pegase: FakePegase, tmp_path: Path, feeds: Path
) -> None:
    config = write_config(tmp_path, pegase)
    config.write_text(config.read_text().replace("timeout = 5", "timeout = 1"))
    pegase.add(enrolment("00000001"))
    pegase.fault("feed", 200, b"{}", delay=3.0)
    sleeps = Sleeps()
    assert fetch(config, feeds, sleeps).items == 1
    assert sleeps == [2.0]


def short_timeout(tmp_path: Path, pegase: FakePegase) -> Path:
    config = write_config(tmp_path, pegase)
    config.write_text(config.read_text().replace("timeout = 5", "timeout = 1"))
    return config


@pytest.mark.parametrize("drip_head", [False, True], ids=["body", "head-and-body"])
def test_a_server_that_answers_a_byte_at_a_time_is_given_up_on_after_the_timeout_and_tried_again(
    pegase: FakePegase, tmp_path: Path, feeds: Path, drip_head: bool
) -> None:
    config = short_timeout(tmp_path, pegase)
    pegase.add(enrolment("00000001"))
    # A byte every 0.1 s, well within the timeout each, 4 s and more in all.
    pegase.fault("feed", 200, b" " * 40 + b"{}", drip=0.1, drip_head=drip_head)
    sleeps = Sleeps()
    began = time.monotonic()
    assert fetch(config, feeds, sleeps).items == 1
    assert time.monotonic() - began < 1.9  # the timeout (1 s), then the second attempt
    assert sleeps == [2.0]


def test_a_server_that_always_answers_a_byte_at_a_time_is_a_clear_error_within_the_timeouts(
    pegase: FakePegase, tmp_path: Path, feeds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_module, "ATTEMPTS", 2)
    config = short_timeout(tmp_path, pegase)
    for _ in range(2):
        pegase.fault("feed", 200, b" " * 40 + b"{}", drip=0.1)
    began = time.monotonic()
    message = failure(config, feeds, pegase)
    assert time.monotonic() - began < 2 * 1.5
    assert message == (
        f"{page_url(pegase)}: no answer (the answer took longer than [pegase] timeout, 1 s) at the last of 2 "
        "attempts: Pégase is down or overloaded, try again later"
    )


def test_an_answer_cut_before_its_announced_length_is_tried_again(
    pegase: FakePegase, config: Path, feeds: Path
) -> None:
    pegase.add(enrolment("00000001"))
    pegase.fault("feed", 200, b'{"totalElements": 0, "resultats": []}', Content_Length="1000")  # then the end
    sleeps = Sleeps()
    assert fetch(config, feeds, sleeps).items == 1
    assert sleeps == [2.0]


def test_https_is_verified_and_an_untrusted_certificate_is_not_tried_again(
    tmp_path: Path, feeds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    openssl = require("openssl", "openssl")
    certificate, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(certificate),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    server = FakePegase(username=USER, tls=(certificate, key)).start()
    try:
        server.add(enrolment("00000001"))
        config = write_config(tmp_path, server)
        sleeps = Sleeps()
        message = failure(config, feeds, server, sleeps)
        assert message.startswith(f"{server.auth_url}: the server's certificate cannot be trusted (")
        assert message.endswith("scolpass sends its password only to a server it can authenticate")
        assert sleeps == []
        assert server.seen == []  # the password never left
        monkeypatch.setenv("SSL_CERT_FILE", str(certificate))  # now a certificate this machine trusts
        assert fetch(config, feeds).items == 1
    finally:
        server.stop()


# -- Hostile or broken answers ------------------------------------------------------------------------------
def deep(levels: int) -> bytes:
    return (
        b'{"totalElements": 1, "resultats": [{"codeApprenant": "1", "chemin": ' + b"[" * levels + b"]" * levels + b"}]}"
    )


BAD_ANSWERS = {
    "not-json": (200, b"<html>Maintenance</html>", "the answer is not JSON (Expecting value: line 1 column 1 (char 0))"),
    "not-utf8": (200, b'{"totalElements": 1, "resultats": [{"prenom": "\xe9"}]}', "the answer is not UTF-8 (byte 47)"),
    "too-deep": (200, deep(25), "the answer nests deeper than 20 levels: refused"),
    "far-too-deep": (200, deep(100_000), "the answer nests deeper than 20 levels: refused"),
    "a-list": (200, b"[]", "the answer is a JSON list, not a page of the feed"),
    "no-total": (200, b'{"resultats": []}', "the answer is not a page of the feed: totalElements is None"),
    "total-text": (200, b'{"totalElements": "1", "resultats": []}', "the answer is not a page of the feed: totalElements is '1'"),
    "results-object": (200, b'{"totalElements": 1, "resultats": {}}', "the answer is not a page of the feed: resultats is a dict, not a list"),
    "nan": (200, b'{"totalElements": NaN, "resultats": []}', "the answer is not JSON (NaN is not a JSON number)"),
    "not-found": (404, b"<h1>No such API</h1>", "Pégase answered HTTP 404: check [pegase] url (<h1>No such API</h1>)"),
    "bad-request": (400, b'{"message": "taille > 500"}', 'Pégase answered HTTP 400 ({"message": "taille > 500"})'),
}  # fmt: skip


@pytest.mark.parametrize(("status", "body", "expected"), BAD_ANSWERS.values(), ids=BAD_ANSWERS.keys())
def test_a_bad_answer_is_refused_naming_the_url_and_what_is_wrong(
    pegase: FakePegase, config: Path, feeds: Path, status: int, body: bytes, expected: str
) -> None:
    pegase.fault("feed", status, body)
    assert failure(config, feeds, pegase) == f"{page_url(pegase)}: {expected}"


def test_a_redirect_is_not_followed_with_the_token(pegase: FakePegase, config: Path, feeds: Path) -> None:
    pegase.fault("feed", 302, Location="http://elsewhere.example/feed?ticket=ST-123")
    assert failure(config, feeds, pegase) == (
        f"{page_url(pegase)}: Pégase answered a redirect (HTTP 302 to http://elsewhere.example/feed?ticket=***), "
        "which scolpass does not follow with its token: set [pegase] url to the address it leads to"
    )
    assert len(pegase.feed_requests()) == 1


def test_an_answer_over_the_size_limit_is_refused_before_it_is_read(
    pegase: FakePegase, config: Path, feeds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Announced: refused on its Content-Length, nothing read.
    pegase.fault("feed", 200, b"{}", Content_Length=str(100 << 20))
    assert failure(config, feeds, pegase).endswith("the answer is larger than 64 MiB: refused before it is parsed")
    # Not announced (it ends with the connection): refused once the limit is passed, not read to its end.
    monkeypatch.setattr(fetch_module, "MAX_ANSWER", 100_000)
    pegase.fault("feed", 200, b"[" * 10_000_000, Content_Length="none")
    message = failure(config, feeds, pegase)
    assert message.endswith("the answer is larger than 100,000 bytes: refused before it is parsed")


# -- A feed that changes under the fetch ------------------------------------------------------------
def test_a_feed_that_changes_between_pages_is_refused(pegase: FakePegase, config: Path, feeds: Path) -> None:
    for n in range(600):
        pegase.add(enrolment(f"{n:08d}"))

    def one_more(server: FakePegase, page: int) -> None:
        if page == 0:
            server.add(enrolment("00999999"))

    pegase.after_page = one_more
    assert failure(config, feeds, pegase) == (
        f"{page_url(pegase, 1)}: the feed changed during the fetch (totalElements was 600, now 601): run the fetch again"
    )


def test_more_items_than_announced_are_refused(pegase: FakePegase, config: Path, feeds: Path) -> None:
    for n in range(10):
        pegase.add(enrolment(f"{n:08d}"))
    pegase.announce = lambda total: total - 5
    assert failure(config, feeds, pegase) == (
        f"{page_url(pegase)}: more items than the 5 announced (10 so far): run the fetch again"
    )


def test_fewer_items_than_announced_are_refused(pegase: FakePegase, config: Path, feeds: Path) -> None:
    for n in range(10):
        pegase.add(enrolment(f"{n:08d}"))
    pegase.announce = lambda total: total + 1
    assert failure(config, feeds, pegase) == (
        f"{page_url(pegase, 1)}: an empty page after 10 of the 11 items announced: run the fetch again"
    )


def test_a_failed_fetch_leaves_the_previous_file_as_it_was(pegase: FakePegase, config: Path, feeds: Path) -> None:
    pegase.add(enrolment("00000001"))
    fetch(config, feeds)
    before = (feeds / "feed.json").read_bytes()
    pegase.add(enrolment("00000002"))
    pegase.forbid = True
    with pytest.raises(ServiceError):
        fetch(config, feeds)
    assert sorted(os.listdir(feeds)) == ["feed.json"]
    assert (feeds / "feed.json").read_bytes() == before


# -- --since ---------------------------------------------------------------------------------------------
def test_since_completes_every_learner_it_names_with_all_their_enrolments(
    pegase: FakePegase, config: Path, feeds: Path
) -> None:
    changed_step = enrolment("00000001", "L2DRT", modified=T0 + 5000)
    old_step = enrolment("00000001", "L1DRT", modified=T0 - 90_000)
    unchanged = enrolment("00000002", modified=T0 - 90_000)
    cancelled = enrolment("00000003", modified=T0 + 6000, statutInscription="annulee")
    gone = enrolment("00000004", modified=T0 + 7000)
    for item in (old_step, unchanged, changed_step, cancelled, gone):
        pegase.add(item)
    pegase.add(enrolment("00000001", "M1DRT", modified=T0 - 90_000), period="PER-2025")  # not this period
    pegase.unknown_learners = {"00000004"}  # changed, then deleted: Pégase no longer knows them
    sleeps = Sleeps()
    done = fetch(config, feeds, sleeps, since=T0)

    data = reload(feeds / "feed.json")
    assert data["resultats"] == [kept(old_step), kept(changed_step), kept(cancelled)]
    assert data["scolpass"]["since"] == T0
    assert (done.items, done.learners, done.since, done.modified) == (3, 2, T0, T0 + 6000)
    assert sleeps == []  # "apprenant non trouve" is an answer, not an outage
    until = str(int(NOW.timestamp()))
    queries = [r.query for r in pegase.feed_requests()]
    assert queries[0] == {"codePeriode": "PER-2026", "depuis": str(T0), "jusqua": until, "photo": "false",
                          "page": "0", "taille": "500"}  # fmt: skip
    assert [(q["codeApprenant"], q["depuis"], q["jusqua"], q["codePeriode"]) for q in queries[1:]] == [
        (learner, "0", "0", "PER-2026") for learner in ("00000001", "00000003", "00000004")
    ]  # each learner's enrolments as they are now (jusqua 0)


def test_since_completes_a_learner_with_what_changed_while_it_fetched(
    pegase: FakePegase, config: Path, feeds: Path
) -> None:
    changed = enrolment("00000001", "L2DRT", modified=T0 + 5000)
    other = enrolment("00000001", "L1ECO", modified=T0 - 90_000)
    for item in (changed, other):
        pegase.add(item)
    later = int(NOW.timestamp()) + 50  # after the moment the fetch began

    def change_the_other_step(server: FakePegase, page: int) -> None:
        if len(server.feed_requests()) == 1:  # after the changes, before the learner's enrolments
            other.update(derniereModification=later, inscriptionPrincipale=False)

    pegase.after_page = change_the_other_step
    done = fetch(config, feeds, since=T0)
    assert reload(feeds / "feed.json")["resultats"] == [kept(changed), kept(other)]
    assert other["derniereModification"] == later
    assert done.modified == later  # what the file holds
    learner = pegase.feed_requests()[1].query
    assert (learner["codeApprenant"], learner["depuis"], learner["jusqua"]) == ("00000001", "0", "0")


def test_progress_counts_items_then_learners(pegase: FakePegase, config: Path, feeds: Path) -> None:
    for n in range(600):
        pegase.add(enrolment(f"{n:08d}", modified=T0 + n))
    seen: list[tuple[str, int, int]] = []
    fetch(config, feeds, progress=lambda *step: seen.append(step))
    assert seen == [("Items", 500, 600), ("Items", 600, 600)]
    seen.clear()
    fetch(config, feeds, since=T0 + 597, progress=lambda *step: seen.append(step))
    assert seen == [("Changes", 3, 3), ("Learners", 1, 3), ("Learners", 2, 3), ("Learners", 3, 3)]


def test_since_refuses_a_pegase_that_does_not_select_by_learner(pegase: FakePegase, config: Path, feeds: Path) -> None:
    pegase.add(enrolment("00000001", modified=T0 + 1))
    pegase.add(enrolment("00000002", modified=T0 - 1))
    pegase.filter_learners = False
    message = failure(config, feeds, pegase, since=T0)
    assert message.endswith(
        "asked for the learner 00000001, Pégase answered an enrolment of '00000002': it does not select by "
        "codeApprenant; fetch without --since"
    )


def test_since_last_starts_where_a_complete_generate_left_off(
    pegase: FakePegase, config: Path, feeds: Path, tmp_path: Path
) -> None:
    registry = tmp_path / "r.sqlite3"
    settings = load_settings(config)
    # No registry, then a registry no feed has gone through: nothing to start from.
    message = failure(config, feeds, pegase, since="last", registry=registry)
    assert message == (
        f"{registry}: no registry here, so no feed consumed yet: run a full 'scolpass pegase fetch' (without "
        "--since) and 'scolpass generate' on it first"
    )
    csv_enrolment = read_enrolment(SAMPLES / "enrolment.csv")
    generate(csv_enrolment, settings, RunOptions(out_dir=tmp_path / "run1", registry=registry))
    assert "no complete generate has consumed a Pégase feed yet" in failure(
        config, feeds, pegase, since="last", registry=registry
    )
    # A run on a feed (the reader sets feed_modified) leaves its mark.
    consumed = dataclasses.replace(csv_enrolment, feed_modified=T0 + 7200)
    generate(consumed, settings, RunOptions(out_dir=tmp_path / "run2", registry=registry))
    pegase.add(enrolment("00000001", modified=T0 + 4000))  # within the margin: fetched again
    pegase.add(enrolment("00000002", modified=T0 + 3000))  # before the margin: not
    done = fetch(config, feeds, since="last", registry=registry)
    assert done.since == T0 + 7200 - SINCE_MARGIN == T0 + 3600
    assert pegase.feed_requests()[0].query["depuis"] == str(T0 + 3600)
    assert [i["codeApprenant"] for i in reload(feeds / "feed.json")["resultats"]] == ["00000001"]


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        (T0, T0),
        (str(T0), T0),
        (" 1700000000 ", T0),
        ("2023-11-15T00:13:20+02:00", T0),
        ("2023-11-14T22:13:20Z", T0),
        ("2023-11-14T22:13:20", int(datetime(2023, 11, 14, 22, 13, 20).astimezone().timestamp())),  # local time
        ("2023-11-14", int(datetime(2023, 11, 14).astimezone().timestamp())),
    ],
    ids=["int", "digits", "spaces", "offset", "utc", "local", "date"],
)
def test_since_reads_unix_seconds_and_iso_times(since: int | str, expected: int) -> None:
    assert feed_since(since, None, None, until=T0 + 1000) == expected


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        (
            "yesterday",
            "since 'yesterday' is neither Unix seconds, an ISO date-time such as 2026-09-01T08:00:00+02:00, nor 'last'",
        ),
        (T0 + 2000, f"since {T0 + 2000} is in the future"),
        ("2099-01-01", "since '2099-01-01' is in the future"),
        (-1, "since -1 is before 1970"),
        (True, "since True is not a time"),
    ],
    ids=["words", "future", "future-date", "negative", "bool"],
)
def test_a_since_that_is_no_time_is_refused(since: int | str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        feed_since(since, None, None, until=T0 + 1000)
    assert str(caught.value) == expected


@pytest.mark.parametrize(
    ("since", "expected"),
    [("0001-01-01", "before 1970"), ("9999-12-31T23:59:59", "in the future"),
     ("9999-12-31T23:59:59-12:00", "in the future")],
)  # fmt: skip
def test_a_since_beyond_what_the_clock_counts_is_one_clear_error(
    pegase: FakePegase, config: Path, feeds: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    since: str, expected: str,
) -> None:  # fmt: skip
    monkeypatch.setenv("TZ", "Europe/Paris")  # local time east of UTC: year 1 becomes year 0
    time.tzset()
    try:
        args = ["pegase", "fetch", "--config", str(config), "--out", str(feeds / "feed.json"), "--since", since]
        assert main(args) == 1
    finally:
        monkeypatch.undo()
        time.tzset()
    assert capsys.readouterr().err == f"Error: since {since!r} is {expected}\n"
    assert pegase.seen == []
    assert os.listdir(feeds) == []


# -- Before any request: configuration, password, output ------------------------------------------------
@pytest.mark.parametrize(
    ("key", "example"),
    [("url", "https://ins.example.pc-scol.fr/api/ins/ext/v2"),
     ("auth_url", "https://authn-app.example.pc-scol.fr/cas/v1/tickets"), ("username", "svc-scolpass"),
     ("period", "PER-2026")],
)  # fmt: skip
def test_an_empty_key_is_refused_before_any_request(
    pegase: FakePegase, tmp_path: Path, feeds: Path, key: str, example: str
) -> None:
    config = write_config(tmp_path, pegase, **{key: ""})
    assert failure(config, feeds, pegase) == (
        f"{config}: [pegase] {key} is empty: pegase fetch needs it, e.g. {key} = '{example}'"
    )
    assert pegase.seen == []


def test_the_password_file_must_be_private(pegase: FakePegase, config: Path, feeds: Path, tmp_path: Path) -> None:
    password_file = tmp_path / "secret" / "pegase-password"
    password_file.chmod(0o640)
    assert failure(config, feeds, pegase) == (
        f"{password_file}: other users may read this password file (mode 0640); run 'chmod 600 {password_file}' first"
    )
    assert pegase.seen == []
    for text, problem in [("", "is empty"), ("one\ntwo\n", "must hold one line, the password"),
                          ("\n", "is empty")]:  # fmt: skip
        password_file.write_text(text)
        password_file.chmod(0o600)
        assert failure(config, feeds, pegase) == f"{password_file}: the Pégase password file {problem}"
    # One line ending is not part of the password (CRLF from a Windows editor neither); spaces are.
    pegase.password = " with spaces "
    password_file.write_bytes(b" with spaces \r\n")
    assert fetch(config, feeds).items == 0


def test_the_configuration_holds_no_password(pegase: FakePegase, config: Path) -> None:
    config.write_text(config.read_text() + 'password = "in clear"\n')
    with pytest.raises(ConfigError, match=r"unknown key.*password.*did you mean.*password_file"):
        load_settings(config)


def test_the_password_may_come_from_the_environment_only(
    pegase: FakePegase, tmp_path: Path, feeds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path, pegase, password_file="")
    monkeypatch.delenv("SCOLPASS_PEGASE_PASSWORD", raising=False)
    assert failure(config, feeds, pegase) == (
        f"{config}: no password for Pégase: set [pegase] password_file to a private file (chmod 600) holding it, "
        "or the environment variable SCOLPASS_PEGASE_PASSWORD"
    )
    monkeypatch.setenv("SCOLPASS_PEGASE_PASSWORD", pegase.password)
    pegase.add(enrolment("00000001"))
    assert fetch(config, feeds).items == 1


def test_a_relative_password_file_is_beside_the_configuration(pegase: FakePegase, tmp_path: Path, feeds: Path) -> None:
    write_config(tmp_path, pegase)  # writes secret/pegase-password beside scolpass.toml
    config = write_config(tmp_path, pegase, password_file="secret/pegase-password")
    assert fetch(config, feeds).items == 0


def test_a_bad_output_is_refused_before_any_request(
    pegase: FakePegase, config: Path, feeds: Path, tmp_path: Path
) -> None:
    settings = load_settings(config)
    with pytest.raises(StateError, match=r"folder .*missing does not exist"):
        fetch_feed(settings, tmp_path / "missing" / "feed.json")
    with pytest.raises(StateError, match="is a folder"):
        fetch_feed(settings, feeds)
    feeds.chmod(0o777)
    try:
        with pytest.raises(StateError, match="writable by every user"):
            fetch_feed(settings, feeds / "feed.json")
    finally:
        feeds.chmod(0o700)
    assert pegase.seen == []


def test_clear_http_is_refused_beyond_this_machine(pegase: FakePegase, config: Path, feeds: Path) -> None:
    settings = load_settings(config)
    by_hand = dataclasses.replace(settings.pegase, url="http://ins.example.pc-scol.fr/api/ins/ext/v2")
    with pytest.raises(ConfigError, match=r"is not encrypted: use https://"):
        fetch_feed(dataclasses.replace(settings, pegase=by_hand), feeds / "feed.json")
    assert pegase.seen == []


# -- The command line ------------------------------------------------------------------------------
def test_the_command_fetches_and_says_what_it_wrote(
    pegase: FakePegase, config: Path, feeds: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for n in range(3):
        pegase.add(enrolment(f"{n:08d}"))
        pegase.add(enrolment(f"{n:08d}", "L1ECO"))
    out = feeds / "feed.json"
    assert main(["pegase", "fetch", "--config", str(config), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{out}: 6 enrolments of 3 learners, PER-2026 the whole period; 1 page in 2 requests\n"
    assert captured.err == ""  # no progress bar without a terminal
    assert len(reload(out)["resultats"]) == 6
    for secret in (pegase.password, *pegase.issued):
        assert secret not in captured.out + captured.err + caplog.text + out.read_text()


def test_the_command_fails_in_one_line_without_secrets(
    pegase: FakePegase, config: Path, feeds: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pegase.forbid = True
    out = feeds / "feed.json"
    assert main(["pegase", "fetch", "--config", str(config), "--out", str(out), "--period", "PER-2025"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("Error: ")
    assert captured.err.count("\n") == 1
    assert "Pégase refuses the account svc-scolpass (HTTP 403)" in captured.err
    assert "codePeriode=PER-2025" in captured.err
    for secret in (pegase.password, *pegase.issued):
        assert secret not in captured.err
    assert os.listdir(feeds) == []


def test_the_command_since_last_reads_the_registry(
    pegase: FakePegase, config: Path, feeds: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = tmp_path / "r.sqlite3"
    consumed = dataclasses.replace(read_enrolment(SAMPLES / "enrolment.csv"), feed_modified=T0)
    generate(consumed, load_settings(config), RunOptions(out_dir=tmp_path / "run", registry=registry))
    capsys.readouterr()
    out = feeds / "changes.json"
    args = ["pegase", "fetch", "--config", str(config), "--out", str(out), "--since", "last", "-q"]
    assert main([*args, "--registry", str(registry)]) == 0
    assert "changed since" in capsys.readouterr().out
    assert pegase.feed_requests()[0].query["depuis"] == str(T0 - SINCE_MARGIN)
    # --registry means nothing without --since last: a usage error, before anything is asked.
    assert main(["pegase", "fetch", "--config", str(config), "--out", str(out), "--registry", str(registry)]) == 2
    assert "--registry is read by --since last only" in capsys.readouterr().err


def test_sigterm_stops_a_fetch_without_leaving_its_temporary_file(
    pegase: FakePegase, config: Path, feeds: Path, tmp_path: Path
) -> None:
    log_path = str(tmp_path / "log.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as log:
        log.bind(log_path)
        log.settimeout(5)
        config.write_text(config.read_text() + f"\n[log]\nsyslog = {json.dumps(log_path)}\n")
        out = feeds / "feed.json"
        out.write_text("the previous feed\n")
        out.chmod(0o600)
        pegase.add(enrolment("00000001"))
        pegase.fault("feed", 200, b"{}", delay=4.0)  # Pégase slow to answer: systemctl stop meanwhile
        command = [sys.executable, "-m", "scolpass", "pegase", "fetch", "--config", str(config), "--out", str(out)]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env={**os.environ, "SCOLPASS_PEGASE_PASSWORD": ""})  # fmt: skip
        try:
            waited = time.monotonic()
            while not pegase.feed_requests():  # signed in, the temporary file open, waiting for the feed
                assert process.poll() is None, process.communicate()
                assert time.monotonic() - waited < 30
                time.sleep(0.02)
            assert (feeds / ".feed.json.tmp").exists()
            process.send_signal(signal.SIGTERM)
            stdout, stderr = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode == 143, stderr
        assert stderr == "scolpass: pegase fetch stopped by SIGTERM: nothing written\n"
        assert stdout == ""
        assert sorted(os.listdir(feeds)) == ["feed.json"]
        assert out.read_text() == "the previous feed\n"
        line = log.recv(65536).decode().rstrip("\x00")
        assert line.endswith("pegase fetch: failed=SIGTERM exit=143"), line


def test_sigterm_is_handled_only_while_a_fetch_runs(
    pegase: FakePegase, config: Path, feeds: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = signal.getsignal(signal.SIGTERM)
    seen: list[object] = []
    pegase.after_page = lambda server, page: seen.append(signal.getsignal(signal.SIGTERM))
    assert main(["pegase", "fetch", "--config", str(config), "--out", str(feeds / "feed.json"), "-q"]) == 0
    assert seen
    assert seen[0] not in (before, signal.SIG_DFL)  # while it fetched
    assert signal.getsignal(signal.SIGTERM) == before  # put back after


def test_the_password_never_goes_on_a_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    from scolpass.cli import fetch_command

    assert not [p.name for p in fetch_command.params if "pass" in (p.name or "")]
    assert main(["pegase", "fetch", "--out", "x.json", "--password", "secret"]) == 2
    assert main(["pegase", "fetch", "--help"]) == 0
    text = capsys.readouterr().out
    assert "Example:" in text
    assert "scolpass pegase fetch --out" in text
    assert "SCOLPASS_PEGASE_PASSWORD" in text


def test_the_command_shows_progress_on_a_terminal(
    pegase: FakePegase, config: Path, feeds: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    for n in range(600):
        pegase.add(enrolment(f"{n:08d}", modified=T0 + n))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    args = ["pegase", "fetch", "--config", str(config), "--out", str(feeds / "feed.json")]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "Items" in err
    assert "600/600" in err
    assert main([*args, "--since", str(T0 + 598)]) == 0
    err = capsys.readouterr().err
    assert "Changes" in err
    assert "Learners" in err
    assert "2/2" in err
    assert main([*args, "--quiet"]) == 0
    assert capsys.readouterr().err == ""
