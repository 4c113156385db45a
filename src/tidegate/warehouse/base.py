"""The warehouse adapter contract.

One base class; abilities are class constants; a subclass overrides only what differs.
``execute`` is the one place SQL text is produced, rendered from a sqlglot tree in the
adapter's dialect. Driver errors are translated into ``tidegate.errors`` in ``_translate``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
from sqlglot import exp

from tidegate.config.models import WarehouseConfig
from tidegate.sql import col, create_table, ident, lit, table

Row = tuple[Any, ...]


class Warehouse(ABC):
    """A connection to one warehouse, able to stage Arrow batches and run sqlglot trees."""

    NAME: ClassVar[str]
    DIALECT: ClassVar[str]
    SUPPORTS_TRANSACTIONS: ClassVar[bool] = True
    SUPPORTS_MERGE: ClassVar[bool] = False
    MAX_IDENTIFIER_LENGTH: ClassVar[int] = 63

    def __init__(self, config: WarehouseConfig, root: Path) -> None:
        self.config = config
        self.root = root
        self.schemas = config.schemas

    # -- connection -------------------------------------------------------------------

    @abstractmethod
    def connect(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Warehouse:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def description(self) -> str:
        """Where this warehouse is, for messages; never includes a password."""
        return f"{self.NAME} warehouse"

    # -- SQL --------------------------------------------------------------------------

    def render(self, expression: exp.Expression) -> str:
        return expression.sql(dialect=self.DIALECT)

    def execute(self, expression: exp.Expression) -> list[Row]:
        """Run one statement and return its rows (empty for statements without rows)."""
        return self._run(self.render(expression))

    @abstractmethod
    def _run(self, sql: str) -> list[Row]: ...

    def scalar(self, expression: exp.Expression) -> Any:
        rows = self.execute(expression)
        return rows[0][0] if rows else None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside commits together or not at all."""
        self._run("BEGIN")
        try:
            yield
        except BaseException:
            self._run("ROLLBACK")
            raise
        self._run("COMMIT")

    # -- tables -----------------------------------------------------------------------

    def ensure_schema(self, name: str) -> None:
        self.execute(exp.Create(this=table(name).this, kind="SCHEMA", exists=True))

    def columns_of(self, name: str, schema: str) -> dict[str, str] | None:
        """Column name -> type of an existing table, or None when it does not exist."""
        query = (
            exp.select(col("column_name"), col("data_type"))
            .from_(table("columns", "information_schema"))
            .where(col("table_schema").eq(lit(schema)))
            .where(col("table_name").eq(lit(name)))
            .order_by(col("ordinal_position"))
        )
        rows = self.execute(query)
        return {str(r[0]): str(r[1]) for r in rows} if rows else None

    def ensure_table(
        self,
        name: str,
        schema: str,
        columns: Sequence[tuple[str, exp.DataType]],
        primary_key: Sequence[str] = (),
    ) -> list[str]:
        """Create the table, or add the columns it lacks. Returns the added column names."""
        existing = self.columns_of(name, schema)
        if existing is None:
            self.execute(create_table(table(name, schema), columns, primary_key))
            return []
        known = {c.lower() for c in existing}
        added = [(c, kind) for c, kind in columns if c.lower() not in known]
        for column, kind in added:
            self.add_column(name, schema, column, kind)
        return [c for c, _ in added]

    def add_column(self, name: str, schema: str, column: str, kind: exp.DataType) -> None:
        alter = exp.Alter(
            this=table(name, schema),
            kind="TABLE",
            actions=[exp.ColumnDef(this=ident(column), kind=kind)],
        )
        self.execute(alter)

    def count(self, name: str, schema: str, where: exp.Expression | None = None) -> int:
        query = exp.select(exp.Count(this=exp.Star())).from_(table(name, schema))
        if where is not None:
            query = query.where(where)
        return int(self.scalar(query) or 0)

    # -- bulk -------------------------------------------------------------------------

    @abstractmethod
    def write_arrow(self, name: str, schema: str, batches: pa.RecordBatchReader) -> int:
        """Append every batch to an existing table, matching columns by name.

        Streams: never holds the whole input in memory. Returns the rows written.
        """

    def lock(self, key: str) -> bool:
        """Take a session lock on ``key`` (a file's content hash); False if another run has it.

        Embedded warehouses are opened by one process at a time, so the lock is free.
        """
        return True

    def unlock(self, key: str) -> None:
        return None
