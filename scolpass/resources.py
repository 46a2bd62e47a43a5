"""Where the shipped templates and fonts are, installed or in a source checkout."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from .errors import ScolpassError

_PACKAGE = Path(__file__).resolve().parent


@cache
def data_dir(name: str) -> Path:
    """The folder ``templates`` or ``fonts``.

    A wheel carries them inside the package (``scolpass/templates``); a source
    checkout or an editable install has them at the project's top level.
    """
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise ScolpassError(f"scolpass is installed without its {name!r} folder; reinstall it")
