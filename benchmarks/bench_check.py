"""Time `scolpass check` (reading and every validation) on a large export.

    python benchmarks/bench_check.py --rows 200000
    python benchmarks/bench_check.py --rows 200000 --pegase   # the same enrolments as Pégase's feed

Half the students have two programme steps, as in a real export.
"""

from __future__ import annotations

import argparse
import json
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


def write_feed(path: Path, items: int) -> None:
    """The same enrolments as :func:`write_export`, as one page of Pégase's feed, with the fields a real
    feed carries beside those scolpass reads."""
    found: list[dict[str, object]] = []
    student = 0
    while len(found) < items:
        student += 1
        first, last = FIRST[student % len(FIRST)], LAST[student * 7 % len(LAST)]
        for step in range(1 + student % 2):
            found.append({
                "codeApprenant": f"{student:09d}", "INE": f"{student:010d}A", "civilite": "MF"[student % 2],
                "nomFamille": last, "nomUsage": last, "prenom": first,
                "dateDeNaissance": f"2005-{1 + student % 12:02d}-{1 + student % 28:02d}", "nationalite": "100",
                "statutInscription": "valide", "inscriptionPrincipale": step == 0, "formation": "F-SCI-LIC",
                "chemin": [{"code": "F-SCI-LIC", "type": "FORMATION", "libelleCourt": "LIC", "libelleLong": "Licence",
                            "idChemin": 1, "idPeriode": 26},
                           {"code": f"S{step}{student % 40}", "type": "ANNEE", "libelleCourt": f"L{step}",
                            "libelleLong": f"Licence {step}", "idChemin": 2, "idPeriode": 26}],
                "anneeUniversitaire": 2026, "periode": "Année 2026-2027", "UAI": "0341087X", "regime": "10",
                "statutPaiement": "paye", "dateInscription": "2026-07-15T00:00:00",
                "derniereModification": 1_780_000_000 + student, "derniereModificationApprenant": 1_780_000_000,
            })  # fmt: skip
    path.write_text(json.dumps({"totalElements": items, "resultats": found[:items]}, ensure_ascii=False), "utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--pegase", action="store_true", help="a Pégase feed (JSON) instead of Apogée's CSV")
    arguments = parser.parse_args()
    rows = arguments.rows
    settings = load_settings(ROOT / "samples" / "scolpass.toml")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("feed.json" if arguments.pegase else "export.csv")
        if arguments.pegase:
            write_feed(path, rows)
        else:
            write_export(path, rows)
        print(f"{path.name}: {path.stat().st_size / 2**20:.0f} MiB")
        start = time.perf_counter()
        checked = check(path, settings)
        elapsed = time.perf_counter() - start
    print(
        f"check: {rows} rows, {len(checked.enrolment.students)} students in {elapsed:.2f} s ({rows / elapsed:,.0f} rows/s)"
    )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
