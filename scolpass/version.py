"""scolpass's version, as installed (a module of its own, so that any module may name it)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("scolpass")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
