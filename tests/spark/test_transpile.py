"""The compute dialect (DuckDB) rendered as Spark SQL means the same thing.

Every mapping, cast and rule of the five example projects runs on their own landing files,
once in DuckDB and once in Spark (transpiled), and the two answers are compared row by row:
the typed values, the mapped values kept beside them, and every quarantine reason.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pytest
from sqlglot import exp

from tidegate.compute import Engine, local
from tidegate.compute.reserved import rename_reserved
from tidegate.config import load_project
from tidegate.config.models import Project
from tidegate.discover.context import FileContext
from tidegate.discover.landing import LandingFile, scan
from tidegate.discover.routing import route
from tidegate.errors import TranspileError
from tidegate.read import peek_columns, read_file
from tidegate.scaffold import example, example_names
from tidegate.sql import parse
from tidegate.store import LocalStore
from tidegate.transform.evaluate import set_file_values
from tidegate.transform.mapping import FILE_CTE, ITEM, ROW, checked, source_rows
from tidegate.transform.spark import java_format, to_spark

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def _peek(file: LandingFile, source: Any) -> list[str]:
    return peek_columns(file.path, source.read, source.format)


# Files compared per source: each source's expressions meet its data shapes in the first
# ones; every further file costs Spark jobs and adds little.
FILES_PER_SOURCE = 2
# Records compared per file: the first ones of a file show its shapes as well as all do.
ROWS_PER_FILE = 2000


def _files(project: Project) -> Iterator[tuple[LandingFile, str]]:
    taken: dict[str, int] = {}
    for file in scan(LocalStore(project.path("landing")), 0):
        name = route(file, project.sources, _peek)
        taken[name] = taken.get(name, 0) + 1
        if taken[name] <= FILES_PER_SOURCE:
            yield file, name


def list_columns(con: Engine, query: exp.Select) -> set[str]:
    """Names of the columns of ``query`` that the DuckDB engine types as lists."""
    con.create("_tg_lists", query, view=True)
    try:
        lists = (exp.DataType.Type.ARRAY, exp.DataType.Type.LIST)
        return {name for name, kind in con.columns("_tg_lists") if kind.is_type(*lists)}
    finally:
        con.drop("_tg_lists")


def plain(value: Any) -> Any:
    """A value from either engine in one comparable form."""
    if hasattr(value, "asDict"):
        value = value.asDict(recursive=True)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    # Numbers compare as numbers: Spark's list_sum is a DOUBLE where DuckDB's is a DECIMAL
    # (the target column's cast makes both the same type).
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float):
        return round(value, 9) if math.isfinite(value) else str(value)
    if isinstance(value, dt.datetime):
        return (
            value.replace(tzinfo=None)
            if value.tzinfo is None
            else value.astimezone(dt.UTC).replace(tzinfo=None)
        )
    return value


def _rows(names: list[str], rows: list[Any]) -> list[dict[str, Any]]:
    out = [dict(zip(names, (plain(v) for v in row), strict=True)) for row in rows]
    return sorted(out, key=lambda r: (r[ROW], r.get(ITEM) or 0))


def _push(spark: SparkSession, con: Engine, name: str) -> None:
    """The DuckDB work table ``name`` as a Spark temporary view of the same name, as text
    (Spark reads files as text too; JSON values as their JSON text)."""
    casts = [
        exp.alias_(exp.cast(exp.column(c, quoted=True), "varchar"), c, quoted=True)
        if c != ROW
        else exp.column(ROW, quoted=True)
        for c, _ in con.columns(name)
    ]
    data = con.fetch_arrow(exp.select(*casts).from_(exp.to_table(name)))
    spark.createDataFrame(data).createOrReplaceTempView(name)


def differences(spark: SparkSession, root: Path) -> tuple[int, list[str]]:
    """Rows compared, and every row where Spark's answer is not DuckDB's (first 3 per output)."""
    project = load_project(root)
    compared, found = 0, []
    for file, name in _files(project):
        source = project.sources[name]
        con = local()
        read = read_file(con, file.path, source.read, source.format)
        read, _ = rename_reserved(con, read)
        over = exp.column(ROW, quoted=True) > ROWS_PER_FILE
        con.execute(exp.delete(read.table, where=over))
        values = FileContext.of(file, source).values()
        set_file_values(con, values)
        _push(spark, con, read.table)
        spark.sql(to_spark(values)).createOrReplaceTempView(FILE_CTE)
        for index, output in enumerate(source.outputs):
            label = f"{file.relative} -> outputs[{index}] ({output.target})"
            target = project.targets[output.target]
            query = checked(read.table, source.derive, output, target)
            expected = con.fetch_arrow(query)
            names = expected.column_names
            want = _rows(names, [tuple(r.values()) for r in expected.to_pylist()])
            arrays = list_columns(con, source_rows(read.table, source.derive, output))
            try:
                got = spark.sql(to_spark(query, arrays))
                have = _rows(got.columns, got.collect())
            except Exception as exc:
                found.append(f"{label}: {str(exc).strip().splitlines()[0]}")
                continue
            if len(have) != len(want):
                found.append(f"{label}: {len(have)} rows on Spark, {len(want)} on DuckDB")
            wrong = [(t, o) for t, o in zip(have, want, strict=False) if t != o]
            for theirs, ours in wrong[:3]:
                diff = {k: (theirs.get(k), v) for k, v in ours.items() if theirs.get(k) != v}
                found.append(f"{label}, row {ours[ROW]}: (spark, duckdb) {diff}")
            compared += len(want)
        con.close()
    return compared, found


# Example 004 protects personal data: its keys come from the environment.
KEYS = {
    "TIDEGATE_SECRET": "spark-test-secret-0123456789abcdef",
    "TIDEGATE_VAULT_KEY": "spark-test-vault-key-0123456789abcdef",
}


@pytest.mark.parametrize("name", example_names())
def test_every_mapping_and_rule_of_the_examples_means_the_same_on_spark(
    spark: SparkSession, tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in KEYS.items():
        monkeypatch.setenv(key, value)
    root = tmp_path / name
    example(root, name=name)
    compared, found = differences(spark, root)
    assert found == []
    assert compared > 0


# --------------------------------------------------------------------------- single forms


@pytest.mark.parametrize(
    ("duckdb_sql", "spark_sql"),
    [
        ("try_strptime(x, '%d/%m/%Y')", "TRY_TO_TIMESTAMP(x, 'd/M/yyyy')"),
        ("items[1]", "TRY_ELEMENT_AT(items, 1)"),
        ("items[len(items)]", "TRY_ELEMENT_AT(items, SIZE(items))"),
        ("list_filter(items, i -> i > 1)", "FILTER(items, i -> i > 1)"),
        ("json_valid(x)", "NOT TRY_PARSE_JSON(x) IS NULL"),
        ("regexp_full_match(x, 'a+')", "x RLIKE '^(?:a+)$'"),
        ("regexp_replace(x, '[^0-9]', '', 'g')", "REGEXP_REPLACE(x, '[^0-9]', '')"),
        ("regexp_replace(x, 'a', 'b')", "REGEXP_REPLACE(x, '^(.*?)(?:a)', '$1b')"),
        ("from_json(x, '[\"JSON\"]')", "FROM_JSON(x, 'array<string>')"),
    ],
)
def test_duckdb_only_forms_have_a_spark_form(duckdb_sql: str, spark_sql: str) -> None:
    assert to_spark(parse(duckdb_sql), arrays={"items"}) == spark_sql


def test_a_try_cast_tidegate_builds_stays_a_try_cast() -> None:
    # Spark 4 runs in ANSI mode: a plain CAST of 'x' to INT fails the whole statement.
    built = exp.TryCast(this=exp.column("x"), to=exp.DataType.build("int"))
    assert to_spark(built) == "TRY_CAST(x AS INT)"


@pytest.mark.parametrize(
    ("duckdb_sql", "why"),
    [
        ("try_strptime(x, fmt)", "a strptime format must be a text literal"),
        ("try_strptime(x, '%Q')", "the format directive %Q"),
        ("items[1:2]", "a list slice"),
        ("regexp_replace(x, 'a', 'b', 'gs')", "regexp_replace option 'gs'"),
    ],
)
def test_what_has_no_spark_form_says_why(duckdb_sql: str, why: str) -> None:
    with pytest.raises(TranspileError, match=why):
        to_spark(parse(duckdb_sql))


def test_two_digit_years_read_as_duckdb_reads_them(spark: SparkSession) -> None:
    sql = "try_strptime(x, '%m/%d/%y')"
    values = ["01/02/68", "01/02/69", "12/31/99", "1/2/05"]
    con = duckdb.connect(":memory:")
    for value in values:
        wanted = con.execute(f"SELECT {sql} FROM (SELECT ? AS x)", [value]).fetchone()
        tree = exp.select(parse(sql)).from_(
            exp.select(exp.alias_(exp.Literal.string(value), "x")).subquery()
        )
        got = spark.sql(to_spark(tree)).collect()[0][0]
        assert wanted is not None
        assert plain(got) == plain(wanted[0]), value
    assert java_format("%Y%m%d %H:%M") == "yyyyMMd H:mm"
