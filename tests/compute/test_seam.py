"""The compute seam: no module outside ``compute/`` and ``warehouse/`` imports an engine's
driver, and the DuckDB engine is an ``Engine``."""

from __future__ import annotations

import ast
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from sqlglot import exp

import tidegate
from tidegate.compute import Engine, local
from tidegate.compute.duckdb import DuckDBEngine, size_in_bytes
from tidegate.compute.engine import DelimitedRead, JsonRead, ParquetRead
from tidegate.errors import ComputeError, TransientComputeError

SOURCE = Path(tidegate.__file__).parent
ENGINE_PACKAGES = ("compute", "warehouse")  # the only ones that may import a driver
DRIVERS = ("duckdb", "pyspark")


def imported(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, top-level module) of every import in a module, at any depth."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def driver_imports() -> list[str]:
    offending: list[str] = []
    for path in sorted(SOURCE.rglob("*.py")):
        relative = path.relative_to(SOURCE)
        if relative.parts[0] in ENGINE_PACKAGES:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        offending += [
            f"{relative}:{line} imports {module}"
            for line, module in imported(tree)
            if module in DRIVERS
        ]
    return offending


def test_no_module_outside_compute_and_warehouse_imports_an_engine() -> None:
    assert driver_imports() == []


def test_the_walk_sees_imports_inside_functions() -> None:
    tree = ast.parse("def f():\n    import duckdb\n    from pyspark.sql import SparkSession\n")
    assert [module for _, module in imported(tree)] == ["duckdb", "pyspark"]


@pytest.fixture
def engine() -> DuckDBEngine:
    made = local()
    assert isinstance(made, DuckDBEngine)
    return made


def test_the_duckdb_engine_is_an_engine(engine: DuckDBEngine) -> None:
    assert isinstance(engine, Engine)
    assert engine.dialect == "duckdb"


def test_work_relations_from_a_query_and_from_arrow(engine: DuckDBEngine) -> None:
    engine.create("_tg_a", exp.select(exp.alias_(exp.Literal.number(1), "x")))
    engine.create("_tg_b", pa.table({"y": ["u", "v"]}), view=False)
    engine.create("_tg_v", exp.select("x").from_("_tg_a"), view=True)
    engine.append("_tg_b", pa.table({"y": ["w"]}))

    assert engine.execute(exp.select("x").from_("_tg_v")) == [(1,)]
    assert engine.fetch_arrow(exp.select("y").from_("_tg_b")).column("y").to_pylist() == [
        "u",
        "v",
        "w",
    ]
    assert [(r.name, r.view) for r in engine.work_relations()] == [
        ("_tg_v", True),  # views first: they read the tables
        ("_tg_a", False),
        ("_tg_b", False),
    ]
    assert [name for name, _ in engine.columns("_tg_b")] == ["y"]
    engine.drop("_tg_v", "_tg_a", "_tg_b", "_tg_absent")
    assert engine.work_relations() == []


def test_batches_stream_and_registered_arrow_reads(engine: DuckDBEngine) -> None:
    engine.register("_tg_arrow", pa.table({"n": list(range(10))}))
    query = exp.select("n").from_("_tg_arrow")
    reader = engine.batches(query, rows=4)
    sizes = [batch.num_rows for batch in reader]
    engine.unregister("_tg_arrow")
    assert sum(sizes) == 10 and max(sizes) <= 4


def test_reading_each_format_into_a_work_table(engine: DuckDBEngine, tmp_path: Path) -> None:
    csv = tmp_path / "a.csv"
    csv.write_text("id,name\n1,Ada\n2,Grace,extra\n3,Lin\n", encoding="utf-8")
    engine.execute("CREATE TEMP TABLE _tg_csv (_row BIGINT, id VARCHAR, name VARCHAR)")
    spec = DelimitedRead(str(csv), ["id", "name"], delimiter=",", quote='"', escape='"')
    rejected = engine.read_delimited(spec, "_tg_csv")
    assert engine.execute("SELECT id, name FROM _tg_csv ORDER BY id") == [
        ("1", "Ada"),
        ("3", "Lin"),
    ]
    assert [(r.line, r.error, r.raw) for r in rejected] == [
        (3, "TOO MANY COLUMNS", "2,Grace,extra")
    ]

    doc = tmp_path / "d.json"
    doc.write_text('{"data": {"items": [{"a": 1}, {"a": 2}]}}', encoding="utf-8")
    engine.execute("CREATE TEMP TABLE _tg_json (_row BIGINT, _line BIGINT, _text VARCHAR)")
    assert engine.read_json(JsonRead(str(doc), "unstructured", pointer="$.data.items"), "_tg_json")
    assert engine.execute("SELECT _text FROM _tg_json") == [('{"a":1}',), ('{"a":2}',)]
    assert not engine.read_json(JsonRead(str(doc), "unstructured", pointer="$.nope"), "_tg_json")

    parquet = tmp_path / "p.parquet"
    engine.execute(f"COPY (SELECT 7 AS \"A b\" UNION ALL SELECT 8) TO '{parquet}'")
    engine.read_parquet(ParquetRead(str(parquet), [("A b", "a_b")]), "_tg_parquet")
    assert engine.execute("SELECT _row, a_b FROM _tg_parquet ORDER BY 1") == [(1, 7), (2, 8)]


def test_engine_errors_are_translated_by_kind(engine: DuckDBEngine) -> None:
    with pytest.raises(engine.errors) as bind:
        engine.execute(
            exp.select("nope").from_(
                exp.Values(expressions=[exp.Tuple(expressions=[exp.Literal.number(1)])])
            )
        )
    assert engine.kind(bind.value) == "bind"
    with pytest.raises(engine.errors) as data:
        engine.execute(exp.select(exp.cast(exp.Literal.string("x"), "int")))
    assert engine.kind(data.value) == "data"
    problem = engine.translate(data.value, "f.csv")
    assert isinstance(problem, ComputeError) and str(problem).startswith("f.csv: ")
    assert not isinstance(problem, TransientComputeError)


def test_a_shared_connection_plans_without_the_passes_superlinear_in_columns() -> None:
    """The DuckDB warehouse's own connection, made an engine, runs without the two
    optimizer passes whose time grows faster than a projection's columns (a file of
    10,000 columns spent minutes in them)."""
    con = duckdb.connect()
    DuckDBEngine(con, owned=False)
    setting = con.execute("SELECT current_setting('disabled_optimizers')").fetchall()[0][0]
    assert set(str(setting).split(",")) >= {"common_subexpressions", "projection_placement"}


@pytest.mark.parametrize(
    ("text", "size"),
    [("1GB", 10**9), ("512 MiB", 512 * 2**20), ("2.5gb", 25 * 10**8), ("4096", 4096)],
)
def test_a_memory_limit_is_read_as_duckdb_reads_it(text: str, size: int) -> None:
    assert size_in_bytes(text) == size


def test_a_memory_limit_it_does_not_know_is_left_as_given() -> None:
    assert size_in_bytes("lots") is None
    assert size_in_bytes("3 parsecs") is None


def test_a_wide_file_reads_under_a_limit_its_columns_alone_would_pass(tmp_path: Path) -> None:
    """Each column of a read holds buffers of its own: 3 rows of 4,000 columns need more
    than 300 MB in DuckDB. The limit is for the data; the read allows for its columns and
    the next, narrow read goes back to the limit."""
    columns = [f"c{i}" for i in range(4000)]
    wide = tmp_path / "wide.csv"
    rows = [",".join(f"v{r}_{i}" for i in range(len(columns))) for r in range(3)]
    wide.write_text("\n".join([",".join(columns), *rows]) + "\n", encoding="utf-8")
    engine = DuckDBEngine(duckdb.connect(config={"memory_limit": "300MB"}), memory_limit="300MB")
    defs = ", ".join(f'"{c}" VARCHAR' for c in ["_row", *columns])
    engine.execute(f"CREATE TEMP TABLE _tg_wide ({defs})")
    spec = DelimitedRead(str(wide), columns, delimiter=",", quote='"', escape='"')
    assert engine.read_delimited(spec, "_tg_wide") == []
    assert engine.execute('SELECT count(*), max("c3999") FROM _tg_wide') == [(3, "v2_3999")]
    limit = "SELECT current_setting('memory_limit')"
    assert engine.execute(limit) != [("286.1 MiB",)]

    narrow = tmp_path / "narrow.csv"
    narrow.write_text("a\n1\n", encoding="utf-8")
    engine.execute("CREATE TEMP TABLE _tg_narrow (_row BIGINT, a VARCHAR)")
    engine.read_delimited(DelimitedRead(str(narrow), ["a"], ",", '"', '"'), "_tg_narrow")
    assert engine.execute(limit) == [("286.3 MiB",)]  # 300 MB and one column's 256 KiB
