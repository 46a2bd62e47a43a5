"""The benchmarks still run (on a few students): figures in the README come from them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import ROOT, require_postgres

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


def test_the_engines_benchmark_runs_on_a_server_of_its_own() -> None:
    require_postgres()
    result = subprocess.run(
        [sys.executable, "bench_generate.py", "--students", "30", "--engines"],
        cwd=ROOT / "benchmarks", capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "reissue of 3" in result.stdout
    assert "whole run" in result.stdout
