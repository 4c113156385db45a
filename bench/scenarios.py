"""The cases: which files each tool loads, in which steps, with which load mode.

A case is built only when it is selected, since building it generates its data set.
Every tool runs the same steps in order on a fresh warehouse (churn: the first snapshot,
then the change), and each step is measured on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from bench import datasets
from bench.sizes import Sizes
from bench.spark import WAREHOUSES as SPARK

BOTH = ("duckdb", "postgres")
TOOLS = ("floor", "tidegate", "dlt", "sling")


@dataclass(frozen=True)
class Step:
    """Files to land (generated file, path under landing) and the records they hold."""

    name: str
    files: tuple[tuple[Path, str], ...]
    rows: int


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # the data set and contract: wide | churn | small | nested
    title: str
    steps: tuple[Step, ...]
    repeats: int
    load: str = "append"
    deletes: str = "ignore"
    warehouses: tuple[str, ...] = BOTH
    tools: tuple[str, ...] = TOOLS
    landing: Path | None = None  # the generated tree of many small files
    units: int = 1  # files per run (many small files), for per-file figures

    @property
    def bytes(self) -> int:
        """Size of the first step's files (the file a memory target speaks of)."""
        return sum(source.stat().st_size for source, _ in self.steps[0].files)


def _lines(path: Path) -> int:
    """Data rows of a CSV with a header (no quoted newlines in generated files)."""
    count = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            count += chunk.count(b"\n")
    return count - 1


def _one(path: Path, name: str, rows: int) -> Step:
    return Step(name, ((path, path.name),), rows)


def wide_csv(sizes: Sizes) -> Scenario | None:
    path = datasets.wide(sizes.wide_rows)
    return Scenario(
        "wide_csv",
        "wide",
        f"Wide CSV, {sizes.wide_rows:,} rows x 8 columns, append with validation",
        (_one(path, "load", sizes.wide_rows),),
        sizes.repeats,
        tools=("floor", "tidegate", "tidegate-noraw", "dlt", "sling"),
    )


def wide_csv_4x(sizes: Sizes) -> Scenario | None:
    if not sizes.wide_big_rows:
        return None
    path = datasets.wide(sizes.wide_big_rows)
    return Scenario(
        "wide_csv_4x",
        "wide",
        f"Wide CSV, {sizes.wide_big_rows:,} rows (memory as the file grows)",
        (_one(path, "load", sizes.wide_big_rows),),
        1,
        warehouses=("duckdb",),
        tools=("floor", "tidegate"),
    )


def object_store(sizes: Sizes) -> Scenario | None:
    """The wide CSV (1 GB at full size) loaded from an S3 bucket and from a local folder:
    the object is streamed into a local copy while it is hashed, never held in memory."""
    path = datasets.wide(sizes.wide_rows)
    return Scenario(
        "object_store",
        "wide",
        f"Wide CSV, {sizes.wide_rows:,} rows, from an S3 bucket (moto's server) and from"
        " a local folder: peak memory",
        (_one(path, "load", sizes.wide_rows),),
        1,
        warehouses=("duckdb",),
        tools=("tidegate", "tidegate-s3"),
    )


def _churn(
    name: str, spec: datasets.Churn, change: str, load: str, deletes: str
) -> Callable[[Sizes], Scenario]:
    def build(sizes: Sizes) -> Scenario:
        folder = datasets.churn(spec)
        first, second = folder / datasets.SNAPSHOT_0, folder / change
        what = "full snapshot" if change == datasets.SNAPSHOT_1 else "delta file"
        return Scenario(
            name,
            "churn",
            f"Dimension churn, {spec.keys:,} keys, {load}"
            + (f" (deletes: {deletes})" if load == "scd2" else "")
            + f": initial load, then a {what} with {spec.changed:,} changed, {spec.new:,} new"
            + (f", {spec.deleted:,} deleted" if change == datasets.SNAPSHOT_1 else "")
            + " keys",
            (_one(first, "initial", _lines(first)), _one(second, "change", _lines(second))),
            sizes.repeats,
            load=load,
            deletes=deletes,
            tools=(*TOOLS, "tidegate-resident"),  # the change step without a process start
        )

    return build


def churn_scd2_snapshot(sizes: Sizes) -> Scenario | None:
    spec = datasets.Churn.percent(sizes.churn_keys)
    return _churn("churn_scd2_snapshot", spec, datasets.SNAPSHOT_1, "scd2", "invalidate")(sizes)


def churn_scd2_delta(sizes: Sizes) -> Scenario | None:
    spec = datasets.Churn.percent(sizes.churn_keys)
    return _churn("churn_scd2_delta", spec, datasets.DELTA, "scd2", "ignore")(sizes)


def churn_merge_delta(sizes: Sizes) -> Scenario | None:
    spec = datasets.Churn.percent(sizes.churn_keys)
    return _churn("churn_merge_delta", spec, datasets.DELTA, "merge", "ignore")(sizes)


def churn_scd2_delta_10x(sizes: Sizes) -> Scenario | None:
    """The same delta (as many changed and new keys as at 1x) into a 10x dimension."""
    if not sizes.churn_big_keys:
        return None
    small = datasets.Churn.percent(sizes.churn_keys)
    spec = datasets.Churn(sizes.churn_big_keys, small.changed, small.new, small.deleted)
    scenario = _churn("churn_scd2_delta_10x", spec, datasets.DELTA, "scd2", "ignore")(sizes)
    return Scenario(
        scenario.name,
        scenario.kind,
        scenario.title,
        scenario.steps,
        1,
        load="scd2",
        warehouses=("duckdb",),
    )


def small_files(sizes: Sizes) -> Scenario | None:
    landing = datasets.small(sizes.small_files)
    files = tuple(
        (path, path.relative_to(landing).as_posix())
        for path in sorted(landing.rglob(f"*{datasets.SMALL_NAME}"))
    )
    return Scenario(
        "small_files",
        "small",
        f"Many small files: {len(files):,} gzipped JSON Lines files of 10-100 rows"
        " in date=/hour= folders",
        (Step("load", files, datasets.small_rows(landing)),),
        sizes.repeats,
        landing=landing,
        units=len(files),
    )


def nested_jsonl(sizes: Sizes) -> Scenario | None:
    path = datasets.nested(sizes.nested_parents)
    return Scenario(
        "nested_jsonl",
        "nested",
        f"Nested JSON Lines: {sizes.nested_parents:,} orders with 1-10 items"
        f" ({datasets.nested_children(path):,} items) into two tables",
        (_one(path, "load", sizes.nested_parents),),
        sizes.repeats,
    )


# --------------------------------------------------------------------------- Spark


def spark_wide_csv(sizes: Sizes) -> Scenario | None:
    """The wide CSV: does the work scale with the cores."""
    wide = wide_csv(replace(sizes, wide_rows=sizes.spark_wide_rows))
    return _on_spark(wide, tools=("floor", "tidegate")) if wide else None


def spark_churn_scd2_delta(sizes: Sizes) -> Scenario | None:
    churn = churn_scd2_delta(replace(sizes, churn_keys=sizes.spark_churn_keys))
    return _on_spark(churn, tools=("tidegate",)) if churn else None


def spark_small_files(sizes: Sizes) -> Scenario | None:
    """Many small files: what each file costs on Spark."""
    small = small_files(replace(sizes, small_files=sizes.spark_small_files))
    return _on_spark(small, tools=("tidegate",)) if small else None


def _on_spark(scenario: Scenario, tools: tuple[str, ...]) -> Scenario:
    """``scenario`` run once on DuckDB and on Spark local[1] and local[2]."""
    return replace(
        scenario,
        name=f"spark_{scenario.name}",
        title=f"On Spark at 1 and 2 cores, beside DuckDB: {scenario.title}",
        repeats=1,
        warehouses=("duckdb", *SPARK),
        tools=tools,
    )


BUILDERS: dict[str, Callable[[Sizes], Scenario | None]] = {
    "wide_csv": wide_csv,
    "wide_csv_4x": wide_csv_4x,
    "churn_scd2_snapshot": churn_scd2_snapshot,
    "churn_scd2_delta": churn_scd2_delta,
    "churn_merge_delta": churn_merge_delta,
    "churn_scd2_delta_10x": churn_scd2_delta_10x,
    "small_files": small_files,
    "nested_jsonl": nested_jsonl,
    "object_store": object_store,
    "spark_wide_csv": spark_wide_csv,
    "spark_churn_scd2_delta": spark_churn_scd2_delta,
    "spark_small_files": spark_small_files,
}
