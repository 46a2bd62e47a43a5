"""A run's output folder: written aside, published whole, recovered after a crash.

The order of writes makes every crash harmless:

1. the run and its new accounts are committed to the registry as ``pending``;
2. every file is written into a hidden staging folder beside the target,
   made durable (``fsync``), and the run is marked ``written``;
3. the staging folder is renamed to the target in one step (``rename(2)``);
4. the run is confirmed: its accounts become ``issued``.

A run killed before 2 ends is undone by the next run: the decision is committed
first, then its staging folder is removed, so that a crash in the middle of
that cleanup leaves a run already undone and some litter, never a pending run
whose folder has vanished. Its identifiers are free again: nobody got them, no
sheet left the staging folder. A run killed after 2 is finished by the next
run: its folder is published if it is still staged, and the run confirmed. A
pending run is confirmed only on positive evidence that its output was
complete (the registry's ``written`` mark, or a published folder whose manifest
names the run and whose files are all there, owned by this user); never
because a folder is missing. So no printed password is ever missing from the
credential files, and no student is issued twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from .academic_year import AcademicYear
from .errors import StateError
from .files import PRIVATE_FOLDER, make_folder, refuse_unsafe, sync_folder
from .registry import Registry, RunRecord, RunState

MANIFEST = "manifest.json"
OUTPUT_ROOT = "scolpass-output"


def checkpoint(name: str) -> None:
    """Fault injection for the crash and concurrency tests: ``SCOLPASS_CRASH_AT=name`` kills the process
    here; ``SCOLPASS_HOLD_AT=name`` holds it here, with the file ``SCOLPASS_HOLD_GATE`` names: it makes
    that path with ``.reached`` added, then waits until the file is gone."""
    if os.environ.get("SCOLPASS_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("SCOLPASS_HOLD_AT") == name:
        gate = Path(os.environ["SCOLPASS_HOLD_GATE"])
        gate.with_name(gate.name + ".reached").touch()
        while gate.exists():
            time.sleep(0.05)


def output_folder(requested: str | Path | None, year: AcademicYear, now: datetime, group: int | None = None) -> Path:
    """The run's own folder: ``requested`` if absent or empty, else a new dated one (``-2``... if taken).

    Refused before anything is rendered: a folder already holding files, one
    this user cannot write in, one another user could have made or can change
    (see :func:`refuse_unsafe`), and a mount point (publishing renames a folder
    into place, which cannot replace a mount point).
    """
    if requested is not None:
        path = Path(requested)
        real = path.resolve()  # a symlink: the run is written beside the folder it points to
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise StateError(
                f"{path}: the output folder must not exist or be empty (an earlier run's files would be mixed in)"
            )
        if path.is_dir():
            refuse_unsafe(real, "output folder", group)
            if os.path.ismount(real):
                raise StateError(
                    f"{path}: the output folder is a mount point; a run is written beside its folder and renamed "
                    f"into place, which cannot replace a mount point: give a folder inside it, like {path / 'run'}"
                )
        _refuse_unwritable_parent(real, group)
        return path
    base = Path(OUTPUT_ROOT) / year.slug / now.strftime("%Y-%m-%d_%H%M%S")
    for folder in (base.parent.parent, base.parent):
        if folder.exists():
            refuse_unsafe(folder, "output folder", group)
    _refuse_unwritable_parent(base, group)
    return _free(base)


def _free(base: Path, n: int = 1) -> Path:
    """``base``, else ``base-2``... (from ``base-n``): the first name no folder, published or staged, has."""
    path = base if n == 1 else base.with_name(f"{base.name}-{n}")
    while path.exists() or any(path.parent.glob(f".{path.name}.partial-*")):
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def claim_folder(dated: Path, group: int | None = None, mode: int = PRIVATE_FOLDER) -> tuple[Path, list[Path]]:
    """A dated output folder (from :func:`output_folder`) made now, empty, with the folders above it; returns
    it (the next free name if another run made it meanwhile) and the folders made, outermost first.

    Runs on a shared registry take no lock: two starting in the same second on one machine must not
    choose one folder. Publishing renames the run's folder over this empty one.
    """
    made = make_parents(dated, group, mode)
    base, _, suffix = dated.name.rpartition("-")
    n, base_path = (int(suffix), dated.with_name(base)) if base and suffix.isdigit() else (1, dated)
    path = dated
    while True:
        try:
            make_folder(path, group, mode)
            return path, [*made, path]
        except FileExistsError:  # another run took it first
            n += 1
            path = _free(base_path, n)


def _refuse_unwritable_parent(path: Path, group: int | None) -> None:
    existing = next(p for p in path.absolute().parents if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise StateError(f"{path}: cannot write the output: {existing} is not a folder this user may write in")
    refuse_unsafe(existing, "folder the output goes in", group)


def staging_folder(target: Path, run_id: int) -> Path:
    """The hidden folder beside ``target`` where run ``run_id`` writes (same disk: the rename is atomic)."""
    return target.with_name(f".{target.name}.partial-{run_id}")


def make_parents(target: Path, group: int | None = None, mode: int = PRIVATE_FOLDER) -> list[Path]:
    """Create the folders above ``target`` with ``mode`` (the run folder's: a print group reading the
    sheets must pass through them); returns those made, outermost first."""
    made: list[Path] = []
    for folder in reversed(target.parents):
        if not folder.exists():
            try:
                make_folder(folder, group, mode)
                made.append(folder)
            except FileExistsError:
                pass
    return made


def remove_empty(folders: Sequence[Path]) -> None:
    """Remove folders this run made, innermost first, stopping at the first that holds something."""
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            return


def make_durable(staging: Path) -> None:
    """Put every written file, and the folder's list of them, on disk before the run is marked written."""
    for child in staging.iterdir():
        with child.open("rb") as handle:
            os.fsync(handle.fileno())
    sync_folder(staging)
    sync_folder(staging.parent)  # the folder's own name, so that a power cut cannot lose it once marked written


def put_in_place(staging: Path, target: Path) -> None:
    """Move the written folder into place in one step (then :func:`make_placed_durable`)."""
    try:
        # rename(2) replaces an empty folder (a --out made empty in advance) and refuses a full one.
        staging.rename(target)
    except OSError as exc:
        raise StateError(f"{target}: cannot put the output in place: {exc.strerror}") from None


def make_placed_durable(target: Path) -> None:
    """Put the rename on disk. Apart from :func:`put_in_place`: once renamed, the run is published
    whatever happens next, and a failure here must not undo it."""
    try:
        sync_folder(target.parent)
    except OSError as exc:
        raise StateError(f"{target}: published, but its folder could not be synced: {exc.strerror}") from None


def recover(registry: Registry, now: datetime, touch_files: bool = True, group: int | None = None) -> list[str]:
    """Settle the runs a crash left pending; returns what was done, for the terminal.

    Only a run no living process holds is settled (:meth:`Registry.claim_run`: on
    SQLite every run, since this is called under the run lock; on PostgreSQL a
    run whose connection has ended, however its process did), and held while it
    is, so that two runs never settle it at once. A ``written`` run is finished:
    its staging folder published if it is still there, then confirmed. A
    ``pending`` run is confirmed only if its target is a complete folder it
    published (see :func:`_published_by`), and otherwise undone: the decision
    committed first, its staging folder removed after. A run left pending by a
    scolpass before schema 4 (``pending-v3``, which published before it could
    mark anything) keeps that version's rule: undone while its staging folder
    exists, confirmed otherwise, since undoing a published run would give its
    logins to others. ``touch_files=False`` (a dry run, on a copy of the
    registry) leaves the folders alone.

    On a shared registry (PostgreSQL) a run is settled only on what this
    machine can see: a run of another machine is left to it (its folders are
    there, not here), and so is a pending run whose staging folder is not here
    (a machine with the same name); each is named, for ``scolpass registry
    settle RUN --abandon`` once its machine is known to be gone.
    """
    done = []
    for run in registry.runs("pending", "written", LEGACY_PENDING):
        if not registry.claim_run(run.id):
            continue  # running now, on this machine or another
        try:
            done.append(settle(registry, run, now, touch_files, group))
        except Unsettled as left:
            done.append(str(left))
        finally:
            registry.release_run(run.id)
    if touch_files:
        # What a crash left of an abandoned run's staging folder, after the decision was committed.
        for run in registry.runs("abandoned"):
            if run.staging and (not registry.concurrent or on_this_host(run)):
                _remove(registry, run.id, Path(run.staging))
    return done


class Unsettled(StateError):
    """A dead run that this machine has no evidence to settle: its own machine, or an administrator, must."""


def on_this_host(run: RunRecord) -> bool:
    """Whether ``run`` ran on this machine, by name (a run recorded before schema 7 has none: any machine's)."""
    return not run.host or run.host == socket.gethostname()


def settle(
    registry: Registry, run: RunRecord, now: datetime, touch_files: bool = True, group: int | None = None
) -> str:
    """Settle one dead run (held by this process) on the evidence of its folders; returns what was done.

    Raises :class:`Unsettled` where a shared registry's run has no evidence here (see :func:`recover`).
    """
    target, staging = Path(run.output), Path(run.staging) if run.staging else None
    when = f"run {run.id} of {run.started_at}"
    if registry.concurrent and not on_this_host(run):
        raise Unsettled(
            f"{when} on {run.host} stopped before it was confirmed: settle it from {run.host} "
            f"('scolpass registry settle {run.id}'), or with --abandon once that machine is known to be gone"
        )
    if run.state == "written":
        return _finish(registry, run.id, when, staging, target, now, touch_files)
    if _published_by(run.id, target, group):
        registry.confirm(run.id, _counts(target), now)
        return f"{when} had written {target} completely: confirmed"
    if run.state == LEGACY_PENDING and not _is_dir(staging):
        registry.confirm(run.id, _counts(target), now)
        return f"{when} (left by an older scolpass) was published to {target}: confirmed"
    if registry.concurrent and not _is_dir(staging):
        raise Unsettled(
            f"{when} on {run.host or 'an unnamed machine'} stopped before it was confirmed, and neither its "
            f"folder {target} nor its staging folder is on this machine: settle it where they are, or with "
            f"'scolpass registry settle {run.id} --abandon' once its machine is known to be gone"
        )
    abandon(registry, run, now, touch_files)
    return f"{when} stopped before its output was complete: undone"


def abandon(registry: Registry, run: RunRecord, now: datetime, touch_files: bool = True) -> None:
    """Undo a dead run (held by this process): the decision committed first, then its staging folder removed
    (on this machine only)."""
    registry.abandon(run.id, now)
    checkpoint("undone")
    if touch_files and run.staging and (not registry.concurrent or on_this_host(run)):
        _remove(registry, run.id, Path(run.staging))


LEGACY_PENDING: RunState = "pending-v3"


def _is_dir(path: Path | None) -> bool:
    # An unreadable place (another registrar's home) is not a reason to stop every run.
    try:
        return path is not None and path.is_dir()
    except OSError:
        return False


def _remove(registry: Registry, run_id: int, staging: Path) -> None:
    """Remove an undone run's staging folder; once it is gone the run no longer names one."""
    shutil.rmtree(staging, ignore_errors=True)
    try:
        gone = not staging.exists()
    except OSError:
        return
    if gone:
        registry.forget_staging(run_id)


def _finish(
    registry: Registry, run_id: int, when: str, staging: Path | None, target: Path, now: datetime, touch_files: bool
) -> str:
    """Confirm a run whose output was complete, publishing it first if it is still staged."""
    if staging is not None and _is_dir(staging):
        counts = _counts(staging)
        if not touch_files:
            registry.confirm(run_id, counts, now)
            return f"{when} had written its output completely; the next run publishes it to {target}"
        try:
            put_in_place(staging, target)
        except StateError as exc:
            registry.confirm(run_id, counts, now)
            return f"{when} had written its output completely, but {exc}; confirmed: its files are in {staging}"
        make_placed_durable(target)  # before confirming; if it fails, the run stays written, and is found there
        registry.confirm(run_id, counts, now)
        return f"{when} had written its output completely: published to {target} and confirmed"
    registry.confirm(run_id, _counts(target), now)
    if _is_dir(target) and (target / MANIFEST).exists():
        return f"{when} had written {target} completely: confirmed"
    return (
        f"{when} was published to {target}, which is no longer there: confirmed (its sheets and credential "
        "files were moved or deleted; if they are lost, reissue its students with 'scolpass reissue')"
    )


def _published_by(run_id: int, target: Path, group: int | None) -> bool:
    """Whether ``target`` is a complete folder published by run ``run_id``: its manifest names the run,
    every file it lists is there with its checksum, and neither could have been made by another user."""
    manifest = _manifest(target / MANIFEST)
    files = manifest.get("files") if manifest else None
    if manifest is None or type(manifest.get("run")) is not int or manifest.get("run") != run_id:
        return False
    if not isinstance(files, list):
        return False
    try:
        for path in (target, target / MANIFEST):
            refuse_unsafe(path, "output", group)
        for entry in files:
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                return False
            file = target / entry["path"]
            if file.parent != target or not file.is_file() or file.is_symlink():
                return False
            refuse_unsafe(file, "output", group)
            if hashlib.sha256(file.read_bytes()).hexdigest() != entry.get("sha256"):
                return False
    except (OSError, StateError):
        return False
    return True


def _counts(folder: Path) -> dict[str, int]:
    manifest = _manifest(folder / MANIFEST)
    counts = manifest.get("counts") if manifest else None
    return counts if isinstance(counts, dict) else {}


def _manifest(path: Path) -> dict[str, object] | None:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # RecursionError: a forged, deeply nested one
        return None
    return loaded if isinstance(loaded, dict) else None
