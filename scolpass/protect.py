"""``--encrypt-pdf``: sheet PDFs encrypted with AES-256 for the way to a print shop.

qpdf (through pikepdf) writes the PDF 2.0 standard security handler, revision 6:
AES-256 with a SHA-256-based key derivation. ReportLab's own encryption is RC4
only, which no print shop should have to accept. The sheets are encrypted in
memory before they are written, so an unencrypted sheet never reaches the disk.
"""

from __future__ import annotations

import io
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError
from .workers import crash_point

# R6 derives its key with a few dozen SHA-2 rounds, cheap to guess at: a short
# password would be the weak point of the transport.
MIN_LENGTH = 12


@dataclass(frozen=True)
class PdfProtection:
    """The password that opens the encrypted sheets (never shown in a repr or a traceback)."""

    password: str = field(repr=False)

    def __post_init__(self) -> None:
        problem = password_problem(self.password)
        if problem:
            raise ConfigError(f"PDF password: {problem}")

    def encrypt(self, data: bytes) -> bytes:
        """``data`` (a whole PDF) encrypted with AES-256; printing and copying stay allowed to its readers."""
        # Imported here: qpdf costs 70 ms at every start of scolpass, and only --encrypt-pdf needs it.
        import pikepdf

        crash_point("encrypting")
        out = io.BytesIO()
        with pikepdf.open(io.BytesIO(data)) as pdf:
            # The owner password is the user's: whoever may open the file may print it, nothing more to unlock.
            pdf.save(out, encryption=pikepdf.Encryption(user=self.password, owner=self.password, R=6, aes=True))
        return out.getvalue()


def password_problem(password: str) -> str | None:
    """Why ``password`` cannot protect the sheets, or None."""
    if len(password) < MIN_LENGTH:
        return f"at least {MIN_LENGTH} characters are needed"
    if any(not c.isprintable() for c in password):
        return "it holds a control character"
    return None


def read_password_file(path: str | Path) -> PdfProtection:
    """The PDF password from the first line of ``path`` (the line ending is not part of it).

    A file others may read is refused: the password would protect nothing.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8-sig")  # an editor's BOM is not part of the password
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the PDF password: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the PDF password file is not UTF-8 text") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path}: other users may read this PDF password file (mode {stat.S_IMODE(mode):04o}); "
            f"run 'chmod 600 {path}' first"
        )
    lines = text.splitlines()
    password = lines[0] if lines else ""
    if len(lines) > 1 and any(line.strip() for line in lines[1:]):
        raise ConfigError(f"{path}: the PDF password file must hold one line, the password")
    try:
        return PdfProtection(password)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
