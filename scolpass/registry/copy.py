"""Copying a registry from one engine to another (an office's SQLite file into the university's
PostgreSQL, and back), verified row by row.

Every table is copied whole, its ids kept: runs keep their numbers (the output folders and the
manifests name them), reissues their runs, links their order. The target must be empty; the copy
is one transaction, so that a failure leaves it empty again; and the target is read back and
compared with the source, table by table, before the copy is called done.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import StateError
from .base import Registry

# Table, its columns in the order copied, and the order rows are compared in. numbers' order of
# linking is its rowid (SQLite's own, an identity column on PostgreSQL): kept by inserting in it.
TABLES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("accounts", ("student_number", "identifier", "short_identifier", "first_year", "issued_at", "state", "run_id",
                  "ine", "identity_key", "number_key", "student", "last_year"), "student_number"),
    ("reserved", ("identifier", "source", "reserved_at"), "identifier"),
    ("runs", ("id", "command", "state", "started_at", "finished_at", "os_user", "academic_year", "input_name",
              "input_sha256", "output", "staging", "counts", "actor", "host"), "id"),
    ("reissues", ("id", "student_number", "run_id", "reissued_at"), "id"),
    ("numbers", ("student_number", "account", "number_key", "year", "linked_at", "run_id"), "rowid"),
)  # fmt: skip
# Of meta, only the feed marks are copied: each engine keeps its own schema version.


@dataclass(frozen=True)
class Copied:
    """What :func:`copy_registry` copied, by table, once verified."""

    source: str
    target: str
    rows: dict[str, int]


def copy_registry(source: Registry, target: Registry) -> Copied:
    """Copy every row of ``source`` into the empty ``target``, then verify the two hold the same.

    The check that the target is empty, the copy and the reading back are one transaction of
    the target: a difference found undoes the whole copy, and no other writer slips in between.
    """
    rows = {table: source.table_rows(table, columns, order) for table, columns, order in TABLES}
    marks = source.feed_marks()
    with target.transaction():
        counts = {table: len(target.table_rows(table, columns[:1], order)) for table, columns, order in TABLES}
        if any(counts.values()):
            held = ", ".join(f"{n} {table}" for table, n in counts.items() if n)
            raise StateError(f"{target.location}: the target registry is not empty ({held}): copy into a new one only")
        for table, columns, _ in TABLES:
            target.load_rows(table, columns, rows[table])
        target.load_rows("meta", ("key", "value"), marks)
        target.after_load()
        for table, columns, order in TABLES:
            # Compared as sets of rows: the engines order text differently (PostgreSQL by its collation).
            copied = target.table_rows(table, columns, order)
            if sorted(copied, key=repr) != sorted(rows[table], key=repr):
                raise StateError(
                    f"{target.location}: the copy of {table} differs from {source.location} ({len(copied)} rows "
                    f"against {len(rows[table])}); nothing was copied"
                )
        if sorted(target.feed_marks()) != sorted(marks):
            raise StateError(f"{target.location}: the copy of the feed marks differs from {source.location}")
    return Copied(source.location, target.location, {table: len(found) for table, found in rows.items()})
