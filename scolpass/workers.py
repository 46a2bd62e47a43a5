"""Worker processes for the stages that use every core (hashing, rendering and encrypting sheets).

A worker must never outlive the run that started it, nor hold what the run
holds. Two things make sure of it:

- Workers are *spawned* (a fresh interpreter), not forked: a forked worker
  inherits every descriptor of the run, the registry's among them and so its
  ``flock``, and an orphaned one kept every later run waiting on the lock.
  Python opens files close-on-exec, and spawning passes only the pipes the
  pool needs.
- Each worker asks the kernel for SIGKILL when the process that started it
  dies (``PR_SET_PDEATHSIG``), whatever kills it: SIGKILL, the out-of-memory
  killer, SIGTERM. Python's own pool only notices a dead parent when it next
  reads from it, which a worker busy on a 2,000-sheet part does not do.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes that die with this one."""
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_die_with,
        initargs=(os.getpid(),),
    )


def _die_with(parent: int) -> None:
    """In a worker, first thing: be killed when ``parent`` dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        # Not Linux, or refused: a worker that might outlive its run must not start at all.
        raise OSError(ctypes.get_errno(), "cannot tie a worker process to its run (prctl PR_SET_PDEATHSIG)")
    if os.getppid() != parent:
        # The run died before the request above took effect: nobody will read this worker's results.
        os._exit(1)


def crash_point(stage: str) -> None:
    """Fault injection for the crash tests: ``SCOLPASS_CRASH_AT=stage`` kills the run from inside a worker.

    The run's main process is SIGKILLed while this worker is in the middle of
    ``stage`` (``hashing``, ``rendering``, ``encrypting``), as an operator or the
    out-of-memory killer would; the worker then goes on working for a while, as
    one busy on a 2,000-sheet part would.
    """
    if os.environ.get("SCOLPASS_CRASH_AT") == stage and multiprocessing.parent_process() is not None:
        os.kill(os.getppid(), signal.SIGKILL)
        time.sleep(10)
