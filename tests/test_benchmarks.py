"""The benchmarks still run (on a few students): figures in the README come from them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("script", "args", "expected"),
    [
        ("bench_generate.py", ["--students", "30"], "a sheet costs"),
        ("bench_check.py", ["--rows", "60"], "check: 60 rows"),
        ("bench_check.py", ["--rows", "60", "--pegase"], "check: 60 rows"),
    ],
)
def test_benchmark_runs(script: str, args: list[str], expected: str) -> None:
    result = subprocess.run(
        [sys.executable, script, *args], cwd=ROOT / "benchmarks", capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout
