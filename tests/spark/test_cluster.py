"""A run on a real standalone cluster: the fixtures' master and worker on loopback.

The driver runs in a separate process (this one's JVM holds the local session), builds its
session from a ``type: spark`` warehouse with ``master: spark://127.0.0.1:PORT`` exactly as
a project would, and runs example 003's mappings and rules, transpiled, on the cluster's
executor; the answers are compared row by row with DuckDB's there. Then it runs example
002 (a merge target, key buckets rewritten) with ``tidegate run`` on the cluster, and its
table and ledger are compared with the same example's run on DuckDB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb

from tidegate.config import load_project
from tidegate.pipeline import run
from tidegate.scaffold import example

from .conftest import warehouse_yaml, with_warehouse

HERE = Path(__file__).resolve().parent

DRIVER = """
import json, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from test_transpile import differences
from tidegate.config import load_project
from tidegate.config.models import WarehouseConfig
from tidegate.pipeline import run
from tidegate.warehouse.spark import build_session

config = WarehouseConfig(
    type="spark",
    master=sys.argv[2],
    conf={
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.executor.memory": "512m",
        "spark.cores.max": 1,
        "spark.ui.enabled": False,
        "spark.sql.shuffle.partitions": 2,
    },
)
root = Path(sys.argv[3])
spark = build_session(config, root)
compared, found = differences(spark, root)
executors = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size()
outreach = Path(sys.argv[4])
result = run(load_project(outreach))
table = sorted(tuple(r) for r in spark.sql(sys.argv[5]).collect())
print(json.dumps({"master": spark.sparkContext.master, "executors": executors,
                  "compared": compared, "found": found,
                  "files": [(f.name, f.status, f.rows_loaded) for f in result.files],
                  "table": table}, default=str))
spark.stop()
"""


OUTREACH = "002-outreach"
# The outreach table's rows, as both warehouses hold them.
TABLE = "SELECT phone, address1, company, capacity, _file_id, _row, _row_hash FROM core.outreach"


def outreach(root: Path, master: str | None) -> Path:
    """Example 002; on the cluster when ``master`` is given (a DuckDB control store)."""
    example(root, name=OUTREACH)
    config = root / "tidegate.yml"
    text = config.read_text().replace("settle_seconds: 1", "settle_seconds: 0")
    if master is not None:
        text = with_warehouse(text, warehouse_yaml(master))
    config.write_text(text)
    return root


def test_a_run_submitted_to_a_standalone_cluster(spark_cluster: str, tmp_path: Path) -> None:
    root = tmp_path / "cars"
    example(root, name="003-car-subscriptions")
    on_duckdb = outreach(tmp_path / "duckdb", None)
    expected = run(load_project(on_duckdb))
    with duckdb.connect(str(on_duckdb / "warehouse.duckdb"), read_only=True) as con:
        table = sorted(
            [str(v) if v is not None else None for v in row] for row in con.sql(TABLE).fetchall()
        )
    env = {
        **os.environ,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }
    done = subprocess.run(
        [
            *(sys.executable, "-c", DRIVER, str(HERE), spark_cluster, str(root)),
            *(str(outreach(tmp_path / "spark", spark_cluster)), TABLE),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["master"] == spark_cluster
    assert answer["executors"] >= 2  # the driver and the worker's executor
    assert answer["found"] == []
    assert answer["compared"] > 0
    files = [(f.name, f.status, f.rows_loaded) for f in expected.files]
    assert [tuple(f) for f in answer["files"]] == files
    assert files[0][1] == "loaded"
    found = sorted([str(v) if v is not None else None for v in row] for row in answer["table"])
    assert found == table
