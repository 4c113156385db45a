"""dlt doing the same loads by its fastest documented path: Arrow batches.

The files are read with pyarrow (CSV and JSON readers, typed by explicit column types),
handed to dlt as Arrow record batches, normalized to Parquet (DuckDB) or CSV (PostgreSQL,
loaded with COPY) and loaded. Churn uses dlt's ``merge`` disposition: ``scd2`` (retiring
absent rows for a full snapshot; with ``merge_key`` for a delta, so only the keys in the
file are retired), with the row version from dlt's ``add_row_hash_to_table`` as its docs
prescribe for Arrow data (it needs pandas), and ``delete-insert`` on the primary key for
``merge``.

dlt does not validate rows against rules, keep a quarantine, a raw layer or an archive:
what is measured is its typed load, the nearest equivalent.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from bench.job import Job

BLOCK_BYTES = 32 << 20
ROW_HASH = "row_hash"  # scd2 over Arrow: dlt's documented row version column
FILE_FORMAT: dict[str, Literal["parquet", "csv"]] = {"duckdb": "parquet", "postgres": "csv"}

WIDE_TYPES = {
    "lead_id": pa.int64(),
    "capacity": pa.int32(),
    "signed_up": pa.timestamp("s"),
    "revenue": pa.decimal128(12, 2),
}
CHURN_TYPES = {"credit_limit": pa.decimal128(12, 2), "customer_since": pa.date32()}


def quiet_environment(workdir: Path) -> None:
    """No telemetry, no files outside the run's folder."""
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    os.environ["DLT_DATA_DIR"] = str(workdir / ".dlt-data")


# --------------------------------------------------------------------------- readers


def csv_batches(path: Path, types: dict[str, pa.DataType]) -> Iterator[pa.RecordBatch]:
    options = pacsv.ConvertOptions(
        column_types=types, timestamp_parsers=["%m/%d/%Y", pacsv.ISO8601]
    )
    reader = pacsv.open_csv(
        path, read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES), convert_options=options
    )
    for batch in reader:
        yield _dated(batch, "signed_up")


def _dated(batch: pa.RecordBatch, name: str) -> pa.RecordBatch:
    """A column parsed as a timestamp (to accept US dates) becomes a date."""
    if name not in batch.schema.names:
        return batch
    index = batch.schema.get_field_index(name)
    column = pc.cast(batch.column(index), pa.date32())
    return batch.set_column(index, pa.field(name, pa.date32()), column)


def small_tables(landing: Path) -> Iterator[pa.Table]:
    """One table per file, with its partition values as columns."""
    for path in sorted(landing.rglob("*.jsonl.gz")):
        with gzip.open(path, "rb") as source:
            table = pajson.read_json(source)
        parts = dict(p.split("=", 1) for p in path.relative_to(landing).parts[:-1] if "=" in p)
        table = table.append_column("event_date", pa.array([parts["date"]] * len(table)))
        yield table.append_column("event_hour", pa.array([int(parts["hour"])] * len(table)))


def order_batches(path: Path) -> Iterator[tuple[str, pa.Table]]:
    """(table, rows): orders without their items, and the items with their order id."""
    reader = pajson.open_json(path, read_options=pajson.ReadOptions(block_size=BLOCK_BYTES))
    for batch in reader:
        items = batch.column("items")
        parents = pa.Table.from_batches([batch]).drop_columns(["items"])
        yield "orders", parents.append_column("item_count", pc.list_value_length(items))
        yield "order_items", _items(batch.column("order_id"), items)


def _items(order_ids: pa.Array, items: pa.ListArray) -> pa.Table:
    parents = pc.list_parent_indices(items)
    flat = pc.list_flatten(items)
    starts = pc.take(items.offsets, parents)
    line = pc.add(pc.subtract(pa.array(range(len(flat)), pa.int64()), starts), 1)
    return pa.table(
        {
            "order_id": pc.take(order_ids, parents),
            "line": line,
            "sku": flat.field("sku"),
            "quantity": flat.field("quantity"),
            "price": pc.cast(flat.field("price"), pa.decimal128(10, 2)),
        }
    )


# --------------------------------------------------------------------------- dlt


def _destination(job: Job) -> Any:
    import dlt

    if job.warehouse == "postgres":
        assert job.url is not None
        return dlt.destinations.postgres(job.url)
    return dlt.destinations.duckdb(str(job.workdir / "dlt.duckdb"))


def _resource(job: Job) -> Any:
    import dlt
    from dlt.sources.helpers.transform import add_row_hash_to_table

    if job.kind == "wide":
        return dlt.resource(csv_batches(job.files[0], WIDE_TYPES), name="leads")
    if job.kind == "churn":
        rows = dlt.resource(csv_batches(job.files[0], CHURN_TYPES), name="customers", **_churn(job))
        return rows.add_map(add_row_hash_to_table(ROW_HASH)) if job.load == "scd2" else rows
    if job.kind == "small":
        return dlt.resource(small_tables(job.landing), name="events")
    if job.kind == "nested":
        marked = (dlt.mark.with_table_name(t, name) for name, t in order_batches(job.files[0]))
        return dlt.resource(marked, name="orders")
    raise ValueError(f"no dlt load for {job.kind!r}")


def _churn(job: Job) -> dict[str, Any]:
    """Resource hints for the churn load mode."""
    if job.load == "merge":
        return {"primary_key": "customer_id", "write_disposition": "merge"}
    disposition = {"disposition": "merge", "strategy": "scd2", "row_version_column_name": ROW_HASH}
    if job.deletes == "invalidate":
        return {"write_disposition": disposition}
    return {"write_disposition": disposition, "merge_key": "customer_id"}


def dlt_load(job: Job) -> int:
    """Run the pipeline; the rows of the main table it normalized."""
    quiet_environment(job.workdir)
    import dlt

    pipeline = dlt.pipeline(
        pipeline_name="bench",
        destination=_destination(job),
        dataset_name="bench",
        pipelines_dir=str(job.workdir / ".dlt"),
    )
    pipeline.run(_resource(job), loader_file_format=FILE_FORMAT[job.warehouse])
    normalized = pipeline.last_trace.last_normalize_info if pipeline.last_trace else None
    counts = normalized.row_counts if normalized else {}
    main = {"wide": "leads", "churn": "customers", "small": "events", "nested": "orders"}
    return int(counts.get(main[job.kind], 0))
