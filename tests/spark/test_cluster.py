"""A run on a real standalone cluster: the fixtures' master and worker on loopback.

The driver runs in a separate process (this one's JVM holds the local session), builds its
session from a ``type: spark`` warehouse with ``master: spark://127.0.0.1:PORT`` exactly as
a project would, and runs example 003's mappings and rules, transpiled, on the cluster's
executor; the answers are compared row by row with DuckDB's there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tidegate.scaffold import example

HERE = Path(__file__).resolve().parent

DRIVER = """
import json, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from test_transpile import differences
from tidegate.config.models import WarehouseConfig
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
print(json.dumps({"master": spark.sparkContext.master, "executors": executors,
                  "compared": compared, "found": found}))
spark.stop()
"""


def test_a_run_submitted_to_a_standalone_cluster(spark_cluster: str, tmp_path: Path) -> None:
    root = tmp_path / "cars"
    example(root, name="003-car-subscriptions")
    env = {
        **os.environ,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(HERE), spark_cluster, str(root)],
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
