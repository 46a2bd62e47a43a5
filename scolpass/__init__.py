"""scolpass: SCOL'PASS sheets and student accounts from an enrolment export.

A run in a few lines::

    from scolpass import generate, load_settings

    result = generate("enrolment.csv", load_settings("scolpass.toml"), year=2026)
    print(result.out_dir, result.count("new"))
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("scolpass")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

from .academic_year import AcademicYear, resolve_academic_year
from .enrolment import Enrolment, read_enrolment, students_from_dataframe
from .errors import ConfigError, InputError, Problem, ScolpassError, StateError
from .identifiers import assign_identifiers, name_part
from .passwords import generate_password, generate_passwords, hash_password
from .pipeline import Outcome, Purge, RunResult, generate, purge, reissue
from .protect import PdfProtection
from .registry import Registry, open_registry
from .settings import Settings, load_settings, settings_from_dict
from .student import Step, Student

__all__ = [
    "AcademicYear",
    "ConfigError",
    "Enrolment",
    "InputError",
    "Outcome",
    "PdfProtection",
    "Problem",
    "Purge",
    "Registry",
    "RunResult",
    "ScolpassError",
    "Settings",
    "StateError",
    "Step",
    "Student",
    "__version__",
    "assign_identifiers",
    "generate",
    "generate_password",
    "generate_passwords",
    "hash_password",
    "load_settings",
    "name_part",
    "open_registry",
    "purge",
    "read_enrolment",
    "reissue",
    "resolve_academic_year",
    "settings_from_dict",
    "students_from_dataframe",
]
