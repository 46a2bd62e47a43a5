"""One summary line a command to the system log (journald or syslog), for the IT team's monitoring.

A nightly job runs unattended: what it did must be findable where every other service's
record is (``journalctl -t scolpass``, the syslog server). A line holds counts, a run id,
an output folder and an exit code, as ``key=value`` words a monitoring rule can match; never
a name, a birth date, a login or a password, and never an error's message (it may quote a
value of the file): only what kind of error it was.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import socket
import sys
import urllib.parse
from collections.abc import Mapping

from .errors import ScolpassError

# Where the local syslog daemon or journald listens (systemd-journald serves /dev/log).
DEFAULT_ADDRESS = "/dev/log"
FACILITIES = ("user", "daemon", *(f"local{n}" for n in range(8)))
IDENT = "scolpass"


class SystemLogError(ScolpassError):
    """The system log configured cannot be written to."""


def summary(command: str, fields: Mapping[str, object]) -> str:
    """``generate: run=12 new=3 ...``: the line, its values escaped so that words stay words."""
    # Percent-encoded as in a URL: a space, a line break or a control character in a path would
    # split the line or forge another; letters and the punctuation of paths stay readable.
    words = [f"{key}={urllib.parse.quote(str(value), safe='/:.,_+@-')}" for key, value in fields.items()
             if value is not None]  # fmt: skip
    return " ".join([f"{command}:", *words])


def log_summary(
    command: str, fields: Mapping[str, object], address: str = DEFAULT_ADDRESS, facility: str = "user"
) -> bool:
    """Write a command's summary line (see :func:`summary`) to the system log; see :func:`write_line`."""
    return write_line(summary(command, fields), address, facility)


def write_line(line: str, address: str = DEFAULT_ADDRESS, facility: str = "user") -> bool:
    """Send ``line`` to the system log at ``address`` (a socket path, or ``host:port`` for UDP).

    Returns False when there is no system log at the default address (a container, a
    developer's machine): nothing to write to is no error there. Any other failure is a
    :class:`SystemLogError`, naming the address.
    """
    if not address:
        return False
    if address == DEFAULT_ADDRESS and not os.path.exists(address):
        return False
    target: str | tuple[str, int]
    if address.startswith("/"):
        if not os.path.exists(address):
            raise SystemLogError(f"the system log at {address} cannot be reached: no socket there")
        target = address
    else:
        host, _, port = address.rpartition(":")
        target = (host, int(port))
    try:
        handler = logging.handlers.SysLogHandler(
            address=target,
            facility=logging.handlers.SysLogHandler.facility_names[facility],
            socktype=socket.SOCK_DGRAM,
        )
    except OSError as exc:
        raise SystemLogError(f"the system log at {address} cannot be reached: {exc.strerror or exc}") from None
    handler.ident = f"{IDENT}[{os.getpid()}]: "
    # The handler reports its own failures through handleError, which prints a traceback: raise instead.
    failures: list[BaseException] = []
    handler.handleError = lambda record: failures.append(sys.exc_info()[1] or OSError())  # type: ignore[method-assign]
    try:
        handler.emit(logging.LogRecord(IDENT, logging.INFO, __file__, 0, line, None, None))
    finally:
        handler.close()
    if failures:
        reason = failures[0].strerror if isinstance(failures[0], OSError) and failures[0].strerror else failures[0]
        raise SystemLogError(f"the system log at {address} refused the line: {reason}")
    return True
