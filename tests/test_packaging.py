"""The wheel carries templates and fonts: `pip install .` works from any folder."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import ROOT, SAMPLES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        check=True,
    )
    (path,) = out.glob("scolpass-*.whl")
    return path


def test_wheel_contains_templates_fonts_and_licences(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "scolpass/templates/sheet.fr.j2",
        "scolpass/fonts/DejaVuSans.ttf",
        "scolpass/fonts/DejaVuSansMono-Bold.ttf",
        "scolpass/fonts/LICENSE-DejaVu.txt",
        "scolpass/config_template.toml",
        "scolpass/py.typed",
    ):
        assert required in names, required


def test_installed_wheel_runs_from_another_folder(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)], check=True
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run(
        [sys.executable, "-m", "scolpass", "generate", str(SAMPLES / "enrolment.csv"), "--config",
         str(SAMPLES / "scolpass.toml"), "--out", "out"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (elsewhere / "out" / "sheets-lettres.pdf").stat().st_size > 10_000
    where = subprocess.run(
        [sys.executable, "-c", "import scolpass.resources as r; print(r.data_dir('templates'))"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert where.startswith(str(target))
