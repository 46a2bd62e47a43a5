"""Time `scolpass check` (reading and every validation) on a large export.

    python benchmarks/bench_check.py --rows 200000

Half the students have two programme steps, as in a real export.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from bench_generate import FIRST, LAST

from scolpass import load_settings
from scolpass.checks import check

ROOT = Path(__file__).resolve().parent.parent


def write_export(path: Path, rows: int) -> None:
    lines = ["COD_ANU;COD_ETU;COD_NNE_IND;COD_CLE_NNE_IND;LIB_NOM_PAT_IND;LIB_PR1_IND;DATE_NAI_IND;LIB_VIL_NAI_ETU;"
             "COD_SEX_ETU;COD_CMP;LIB_CMP;COD_ETP;COD_VRS_VET;LIB_ETP"]  # fmt: skip
    student = 0
    while len(lines) <= rows:
        student += 1
        first, last = FIRST[student % len(FIRST)], LAST[student * 7 % len(LAST)]
        for step in range(1 + student % 2):
            lines.append(
                f"2026;{student:08d};{student:010d};A;{last};{first};{1 + student % 28:02d}/{1 + student % 12:02d}/2005;"
                f"MONTPELLIER;{'MF'[student % 2]};SCI;SCIENCES;S{step}{student % 40};1;Licence {step}"
            )
    path.write_text("\n".join(lines[: rows + 1]) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    rows = parser.parse_args().rows
    settings = load_settings(ROOT / "samples" / "scolpass.toml")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.csv"
        write_export(path, rows)
        start = time.perf_counter()
        checked = check(path, settings)
        elapsed = time.perf_counter() - start
    print(
        f"check: {rows} rows, {len(checked.enrolment.students)} students in {elapsed:.2f} s ({rows / elapsed:,.0f} rows/s)"
    )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
