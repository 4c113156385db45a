"""What SQLite and SQL Server share: a transaction of plain statements, and Arrow rows
inserted in chunks through the driver's bound parameters (``executemany``).

Each adapter says how its transaction begins, how its driver runs many rows, and how a
batch becomes the Python values its driver binds.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import pyarrow as pa
from sqlglot import exp

from tidegate.sql import ident, table
from tidegate.warehouse.base import Warehouse

__all__ = ["DBAPIWarehouse", "insert_statement"]


class DBAPIWarehouse(Warehouse):
    """A warehouse written to through a DB-API driver, ``BATCH_ROWS`` rows at a time."""

    BATCH_ROWS: ClassVar[int] = 10_000

    def begin(self) -> exp.Expression:
        """The statement that opens a transaction."""
        return exp.Transaction()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside commits together or not at all."""
        self.execute(self.begin())
        try:
            yield
        except BaseException:
            self.execute(exp.Rollback())
            raise
        self.execute(exp.Commit())

    def write_arrow(self, name: str, schema: str, batches: pa.RecordBatchReader) -> int:
        target = self.temp_table(name) if schema == self.TEMP_SCHEMA else table(name, schema)
        insert = self.render(insert_statement(target, batches.schema.names))
        rows = 0
        for batch in batches:
            for start in range(0, batch.num_rows, self.BATCH_ROWS):
                chunk = batch.slice(start, self.BATCH_ROWS)
                self._run_many(insert, self.python_rows(chunk))
                rows += chunk.num_rows
        return rows

    @abstractmethod
    def _run_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run ``sql`` once per row, through the driver's ``executemany``."""

    @abstractmethod
    def python_rows(self, batch: pa.RecordBatch) -> Iterator[tuple[Any, ...]]:
        """The rows of ``batch`` as the values the driver binds."""


def insert_statement(target: exp.Table, columns: Sequence[str]) -> exp.Insert:
    """``INSERT INTO "s"."t" ("a", "b") VALUES (?, ?)``.

    >>> insert_statement(table("t", "s"), ["a", "b"]).sql("sqlite")
    'INSERT INTO "s"."t" ("a", "b") VALUES (?, ?)'
    """
    values = exp.values([tuple(exp.Placeholder() for _ in columns)])
    return exp.insert(values, target, columns=[ident(c) for c in columns])
