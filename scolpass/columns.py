"""The columns of an enrolment export: scolpass's names, Apogée's, a university's own."""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .errors import Problem


@dataclass(frozen=True)
class Column:
    """One value scolpass reads."""

    name: str  # scolpass's own header
    apogee: str  # Apogée's header, "" when Apogée has none
    required: bool
    max_length: int
    meaning: str
    # Pégase's headers, as its feed and its extraction screens spell them. Matched as written, and
    # only when neither scolpass's nor Apogée's header is there: "Prénom" or "Civilité" beside
    # LIB_PR1_IND in an Apogée export is a column of the university's own, not this value.
    pegase: tuple[str, ...] = ()

    @property
    def headers(self) -> tuple[str, ...]:
        """Every header recognised without ``[columns]``."""
        return (self.name, *((self.apogee,) if self.apogee else ()), *self.pegase)


COLUMNS = (
    Column("student_number", "COD_ETU", True, 20, "student number (letters and digits)",
           ("codeApprenant", "CODE_APPRENANT")),
    Column("ine", "COD_NNE_IND", False, 11, "INE, whole or without its key"),  # "INE" is its own name
    Column("ine_key", "COD_CLE_NNE_IND", False, 1, "INE check key, when apart"),
    Column("birth_name", "LIB_NOM_PAT_IND", True, 100, "birth name (Nom patr.)", ("nomFamille", "NOM_FAMILLE")),
    Column("usual_name", "LIB_NOM_USU_IND", False, 100, "usual name, printed beside the birth name",
           ("nomUsage", "NOM_USAGE")),
    Column("first_name", "LIB_PR1_IND", True, 100, "first name", ("prenom", "PRENOM")),
    Column("birth_date", "DATE_NAI_IND", True, 10, "birth date, DD/MM/YYYY or YYYY-MM-DD",
           ("dateDeNaissance", "DATE_NAISSANCE", "DATE_DE_NAISSANCE")),
    Column("birth_place", "LIB_VIL_NAI_ETU", False, 100, "birth place"),
    Column("sex", "COD_SEX_ETU", False, 1, "M or F, printed as M. or Mme", ("civilite", "CIVILITE")),
    Column("faculty_code", "COD_CMP", False, 20, "faculty code"),
    Column("faculty", "LIB_CMP", True, 150, "faculty (Composante d'inscription)"),
    Column("step_code", "COD_ETP", True, 20, "programme step code"),
    Column("step_version", "COD_VRS_VET", False, 10, "programme step version"),
    Column("step_label", "LIB_ETP", False, 150, "programme step label"),
    Column("academic_year", "COD_ANU", False, 4, "first year of the academic year (2026)",
           ("anneeUniversitaire", "ANNEE_UNIVERSITAIRE")),
    # A cancelled enrolment is set aside, never issued.
    Column("enrolment_state", "ETA_IAE", False, 20, "A cancelled or E current; Pégase's annulee or valide",
           ("statutInscription", "STATUT_INSCRIPTION")),
    Column("status", "", False, 60, "status, printed instead of 'Étudiant'"),
    Column("social_security_date", "", False, 10, "date of affiliation to student social security"),
    Column("paying_centre", "", False, 100, "social security paying centre (Centre payeur)"),
    Column("language", "", False, 3, "language of the sheet (fr, en...); default [sheet] language"),
    # SUPANN components of a step's supannEtuInscription, when the export carries them.
    Column("regimeinsc", "", False, 20, "SISE enrolment regime ({SISE}10)"),
    Column("sectdisc", "", False, 20, "SISE discipline sector"),
    Column("typedip", "", False, 20, "SISE diploma type"),
    Column("cursusann", "", False, 20, "SUPANN curriculum year ({SUPANN}L1)"),
    Column("diplome", "", False, 30, "SISE diploma code"),
)  # fmt: skip
# The most characters a value may have in any column, used or not (the ones above have
# their own, lower limits; the INE's length is a warning, so it has only this one).
# Ten times a long French address line; a longer value is a paste gone wrong.
MAX_FIELD_CHARS = 1_000
BY_NAME = {c.name: c for c in COLUMNS}
REQUIRED = tuple(c.name for c in COLUMNS if c.required)


def normalise_header(name: str) -> str:
    """Header matching ignores case, accents and surrounding spaces."""
    decomposed = unicodedata.normalize("NFKD", name.strip())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def map_columns(
    source: str, header: Sequence[str], configured: Mapping[str, str]
) -> tuple[dict[str, int], list[Problem]]:
    """Which file column holds each value: ``{column name: index}``, and the header's problems.

    ``configured`` is the ``[columns]`` table: scolpass name to the file's header,
    for layouts that are neither scolpass's nor Apogée's.
    """
    problems: list[Problem] = []
    keys = [normalise_header(h) for h in header]
    seen: dict[str, int] = {}
    for index, key in enumerate(keys):
        if key and key in seen:
            problems.append(
                Problem(source, 1, header[index], None, f"is a duplicated header (also column {seen[key] + 1})")
            )
        seen.setdefault(key, index)
    exact: dict[str, int] = {}
    for index, name in enumerate(header):
        exact.setdefault(name.strip(), index)
    found: dict[str, int] = {}
    for column in COLUMNS:
        names = [configured[column.name]] if column.name in configured else list(column.headers)
        primary = names if column.name in configured else [column.name, column.apogee]
        matches = [seen[normalise_header(n)] for n in primary if n and normalise_header(n) in seen]
        if not matches and column.name not in configured:
            matches = [exact[n] for n in column.pegase if n in exact]
        if len(matches) > 1:
            titles = " and ".join(repr(header[i]) for i in matches)
            problems.append(Problem(source, 1, None, None, f"columns {titles} both give {column.name}; keep one"))
        if matches:
            found[column.name] = matches[0]
        elif column.required or column.name in configured:
            wanted = _either([repr(n) for n in names if n])
            close = _closest([normalise_header(n) for n in names if n], keys)
            hint = f" (closest header found: {header[seen[close]]!r})" if close is not None else ""
            origin = " (from [columns])" if column.name in configured else ""
            problems.append(Problem(source, 1, None, None, f"required column {wanted}{origin} is missing{hint}"))
    # A configured header may also be another value's default name (usual_name = "LIB_NOM_PAT_IND").
    by_index: dict[int, str] = {}
    for name, index in found.items():
        if index in by_index:
            reason = f"would give both {by_index[index]} and {name}; check [columns]"
            problems.append(Problem(source, 1, header[index], None, reason))
        by_index.setdefault(index, name)
    if "ine_key" in found and "ine" not in found:
        problems.append(Problem(source, 1, header[found["ine_key"]], None, "gives an INE key without the INE column"))
    return found, problems


def _either(names: Sequence[str]) -> str:
    """'a', 'b' or 'c'."""
    return " or ".join(names) if len(names) < 3 else f"{', '.join(names[:-1])} or {names[-1]}"


def _closest(wanted: Sequence[str], keys: Sequence[str]) -> str | None:
    """The header most like any of the wanted names, if it is like enough to be a slip."""
    score, best = max(
        ((difflib.SequenceMatcher(None, w, k).ratio(), k) for w in wanted for k in keys if k), default=(0.0, "")
    )
    return best if score >= 0.6 else None
