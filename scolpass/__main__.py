"""``python -m scolpass``."""

from .cli import run

run()
