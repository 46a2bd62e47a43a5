"""scolpass: SCOL'PASS sheets and student accounts from an enrolment export.

A run in a few lines::

    from scolpass import RunOptions, generate, load_settings

    result = generate("enrolment.csv", load_settings("scolpass.toml"), RunOptions(year=2026))
    print(result.out_dir, result.count("new"))

Everything here is the public API: the command line uses nothing else, and the
help desk's functions are in :mod:`scolpass.helpdesk`.
"""

from . import helpdesk
from .academic_year import AcademicYear, resolve_academic_year
from .admin import (
    UNSETTLED,
    Purge,
    Reservation,
    existing_registry,
    import_existing,
    purge,
    read_registry,
    registry_location,
    settle_run,
)
from .admin import copy as copy_registry
from .admin import init as init_registry
from .checks import Checked, check
from .checks import report as check_report
from .enrolment import Enrolment, read_enrolment, students_from_dataframe
from .errors import ConfigError, InputError, Problem, ScolpassError, ServiceError, StateError
from .helpdesk import HandedReissue, History, reissue_now
from .identifiers import assign_identifiers, name_part
from .passwords import generate_password, generate_passwords, hash_password
from .pegase_fetch import FetchResult, fetch_feed
from .pipeline import generate, reissue
from .preview import preview
from .protect import MIN_LENGTH as MIN_PDF_PASSWORD_LENGTH
from .protect import PdfProtection, read_password_file
from .registry import IssuedAccount, Location, Registry, ReissueRecord, RunRecord, is_postgres, open_registry
from .run import STATUSES, Outcome, RunOptions, RunResult, Status
from .settings import DEFAULT_CONFIG_NAME, Settings, config_template, load_settings, settings_from_dict
from .student import Account, Step, Student
from .systemlog import SystemLogError, log_summary
from .version import __version__

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "MIN_PDF_PASSWORD_LENGTH",
    "STATUSES",
    "UNSETTLED",
    "AcademicYear",
    "Account",
    "Checked",
    "ConfigError",
    "Enrolment",
    "FetchResult",
    "HandedReissue",
    "History",
    "InputError",
    "IssuedAccount",
    "Location",
    "Outcome",
    "PdfProtection",
    "Problem",
    "Purge",
    "Registry",
    "ReissueRecord",
    "Reservation",
    "RunOptions",
    "RunRecord",
    "RunResult",
    "ScolpassError",
    "ServiceError",
    "Settings",
    "StateError",
    "Status",
    "Step",
    "Student",
    "SystemLogError",
    "__version__",
    "assign_identifiers",
    "check",
    "check_report",
    "config_template",
    "copy_registry",
    "existing_registry",
    "fetch_feed",
    "generate",
    "generate_password",
    "generate_passwords",
    "hash_password",
    "helpdesk",
    "import_existing",
    "init_registry",
    "is_postgres",
    "load_settings",
    "log_summary",
    "name_part",
    "open_registry",
    "preview",
    "purge",
    "read_enrolment",
    "read_password_file",
    "read_registry",
    "registry_location",
    "reissue",
    "reissue_now",
    "resolve_academic_year",
    "settings_from_dict",
    "settle_run",
    "students_from_dataframe",
]
