"""Time a whole `generate` run on synthetic students, stage by stage.

    python benchmarks/bench_generate.py --students 2000

Prints one line a stage (seconds, and students per second) and the peak RSS.
Timings vary on shared machines: run it three times and keep the median.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

from scolpass import generate_passwords, load_settings
from scolpass import pipeline as pl
from scolpass.passwords import hash_passwords
from scolpass.sheet import Sheet, SheetRenderer

ROOT = Path(__file__).resolve().parent.parent
FIRST = ["Jean", "Marie", "Anne-Sophie", "Łukasz", "Aïssatou", "Seán", "Élodie", "Ελένη", "Анастасия", "Noël"]
LAST = ["MARTIN", "DE LA FONTAINE", "N'DIAYE", "LE GOFF", "WAŁĘSA", "O'BRIEN", "ΠΑΠΑΔΟΠΟΥΛΟΥ", "ИВАНОВА", "DUPONT"]


def write_enrolment(path: Path, count: int) -> None:
    """``count`` students, each a different person (name and birth date), with many homonyms."""
    lines = [
        "COD_ANU;COD_ETU;LIB_NOM_PAT_IND;LIB_PR1_IND;DATE_NAI_IND;LIB_VIL_NAI_ETU;COD_SEX_ETU;LIB_CMP;COD_ETP;LIB_ETP"
    ]
    pairs = len(FIRST) * len(LAST)
    for n in range(count):
        first, last = FIRST[n % len(FIRST)], LAST[(n // len(FIRST)) % len(LAST)]
        born = date(1996, 1, 1) + timedelta(days=(n // pairs) % 3650)  # injective below 90 x 3,650 students
        lines.append(
            f"2026;{n:08d};{last};{first};{born:%d/%m/%Y};MONTPELLIER;{'MF'[n % 2]};SCIENCES;SI1;L1 Informatique"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@contextmanager
def stage(name: str, count: int) -> Iterator[None]:
    start = time.perf_counter()
    yield
    elapsed = time.perf_counter() - start
    print(f"{name:<28} {elapsed:8.2f} s  {count / elapsed:10.0f} students/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=2000)
    count = parser.parse_args().students
    settings = load_settings(ROOT / "samples" / "scolpass.toml")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv_path = folder / "enrolment.csv"
        write_enrolment(csv_path, count)
        with stage("read and check CSV", count):
            enrolment = pl.load_checked(csv_path, settings)
        passwords = generate_passwords(count, settings.password)
        with stage("hash passwords (all cores)", count):
            hash_passwords(passwords, settings.credentials)
        renderer = SheetRenderer(settings, "2026/2027")
        sheets = [Sheet(s, "jean.martin@etu.umontpellier.fr", "jean.martin@etu.umontpellier.fr", p, "")
                  for s, p in zip(enrolment.students, passwords, strict=True)]  # fmt: skip
        with stage("render sheets (PDF)", count):
            renderer.render(sheets, folder / "render.pdf", "bench")
        with stage("whole run (generate)", count):
            result = pl.generate(enrolment, settings, out_dir=folder / "out", registry=folder / "r.sqlite3")
        assert result.count("new") == count
        size = sum(f.stat().st_size for f in result.out_dir.glob("sheets-*.pdf"))
        print(
            f"PDF: {size / count / 1024:.1f} KB a sheet; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
        )


if __name__ == "__main__":
    main()
