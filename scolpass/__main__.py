"""``python -m scolpass``."""

from .cli import run

# Guarded: worker processes are spawned, and a spawned process imports the main module again.
if __name__ == "__main__":
    run()
