"""``--encrypt-pdf``: AES-256 sheets that open with the password only."""

from __future__ import annotations

import io
from pathlib import Path

import pikepdf
import pytest
from pypdf import PdfReader
from reportlab.pdfgen.canvas import Canvas

from scolpass import ConfigError
from scolpass.protect import PdfProtection, read_password_file

PASSWORD = "print-shop transport 2026"


def tiny_pdf(text: str) -> bytes:
    out = io.BytesIO()
    c = Canvas(out)
    c.drawString(72, 720, text)
    c.save()
    return out.getvalue()


def test_encrypted_with_aes_256_and_opens_with_the_password_only() -> None:
    data = PdfProtection(PASSWORD).encrypt(tiny_pdf("Mot de passe provisoire : Xk7pQ9rT2mW4zNa"))
    assert b"Xk7pQ9rT2mW4zNa" not in data
    with pytest.raises(pikepdf.PasswordError):
        pikepdf.open(io.BytesIO(data))
    with pikepdf.open(io.BytesIO(data), password=PASSWORD) as pdf:
        assert pdf.is_encrypted
        assert pdf.encryption.R == 6  # PDF 2.0's AES-256 handler
        assert pdf.encryption.bits == 256
        assert str(pdf.encryption.stream_method) == "EncryptionMethod.aesv3"
        plain = io.BytesIO()
        pdf.save(plain)
    assert "Xk7pQ9rT2mW4zNa" in PdfReader(plain).pages[0].extract_text()


@pytest.mark.parametrize(
    ("password", "reason"),
    [("short", "at least 12 characters"), ("twelve chars\n", "control character"), ("", "at least 12")],
)
def test_weak_passwords_are_refused(password: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason) as caught:
        PdfProtection(password)
    if password.strip():
        assert password.strip() not in str(caught.value)


def test_the_password_never_shows_in_a_repr() -> None:
    assert PASSWORD not in repr(PdfProtection(PASSWORD))


def test_password_file(tmp_path: Path) -> None:
    path = tmp_path / "pdf-password"
    path.write_text(PASSWORD + "\n", encoding="utf-8")
    path.chmod(0o600)
    assert read_password_file(path).password == PASSWORD
    path.chmod(0o640)
    with pytest.raises(ConfigError, match="other users may read"):
        read_password_file(path)
    path.chmod(0o600)
    path.write_text(PASSWORD + "\nsecond line\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="one line"):
        read_password_file(path)
    path.write_text("\ufeff" + PASSWORD + "\n", encoding="utf-8")  # saved by an editor that adds a BOM
    assert read_password_file(path).password == PASSWORD
    path.write_text("too short\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=f"{path}: PDF password: at least 12 characters are needed$"):
        read_password_file(path)
    with pytest.raises(ConfigError, match="cannot read"):
        read_password_file(tmp_path / "missing")
