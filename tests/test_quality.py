"""Lint, format and strict typing are part of the suite, so main stays clean."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "ruff", "check", "scolpass", "tests", "benchmarks"],
        [sys.executable, "-m", "ruff", "format", "--check", "scolpass", "tests", "benchmarks"],
        [sys.executable, "-m", "mypy"],
    ],
    ids=["ruff-check", "ruff-format", "mypy-strict"],
)
def test_tool_is_clean(command: list[str]) -> None:
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_test_the_guarantees_name_exists() -> None:
    # docs/guarantees.md backs each claim with test names: a renamed or deleted test must not leave a claim
    # pointing at nothing.
    import re

    guarantees = (ROOT / "docs" / "guarantees.md").read_text(encoding="utf-8")
    named = set(re.findall(r"\b(test_\w+)(?!\.py)\b", guarantees)) - {"test_files"}
    defined = {
        m for p in (ROOT / "tests").glob("test_*.py") for m in re.findall(r"^def (test_\w+)", p.read_text(), re.M)
    }
    assert len(named) > 40
    assert sorted(named - defined) == []
