"""A real Spark for the Spark tests: one local session, and a standalone cluster on loopback.

``spark`` (session)
    One ``SparkSession`` in local mode (``local[1]``, two shuffle partitions, UTC, no UI)
    for the whole test session: a session costs seconds to start, and a JVM holds one.
``spark_cluster`` (session)
    The URL (``spark://127.0.0.1:PORT``) of a standalone cluster: a master and one worker
    (one core, 512 MB) started from the pyspark installation's ``bin/spark-class`` on
    loopback, stopped after the session. A run is submitted to it from a separate process,
    since this process's JVM already holds the local session.

Every test here is in one xdist group, so that one worker holds the one local session (a
second JVM would cost a second start and the memory of two on a small machine).

When Java or pyspark is missing, or Spark does not start, the tests that use these
fixtures are skipped with the reason, except under ``CI=true``, where they fail: CI must
never pass by skipping them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from bench.postgres import free_port
from tests.conftest import unavailable

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Seconds a master or worker may take to come up on a machine shared by many builds.
START_TIMEOUT = 300.0

LOCAL_CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "1",
    "spark.default.parallelism": "1",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.catalogImplementation": "in-memory",
    "spark.driver.memory": "1g",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    # Tiny data: a query's plan costs more than its rows. No adaptive re-planning, no
    # generated code to compile, one partition after a shuffle.
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
}


HERE = Path(__file__).resolve().parent

# A test project's settings for tiny data (its session is the test session's; a process
# of its own takes them from here).
PROJECT_CONF = (
    "{spark.ui.enabled: false, spark.sql.shuffle.partitions: 1, spark.sql.adaptive.enabled: false}"
)


def warehouse_yaml(master: str = "local[1]", core: str | None = None) -> str:
    """The ``warehouse:`` block of a test project on Spark: tables under ``lake``, the
    ledger in a DuckDB control file, four key buckets; schemas of its own when ``core`` is
    given, as the test session's catalog is shared by the tests."""
    lines = [
        "warehouse:",
        "  type: spark",
        f"  master: {master}",
        "  warehouse_dir: lake",
        "  control: control.duckdb",
        "  buckets: 4",
        f"  conf: {PROJECT_CONF}",
    ]
    if core is not None:
        lines.append(f"  schemas: {{core: {core}, raw: raw_{core}, models: marts_{core}}}")
    return "\n".join(lines) + "\n"


def with_warehouse(config: str, warehouse: str) -> str:
    """A ``tidegate.yml`` text with its ``warehouse:`` block replaced by ``warehouse``."""
    return re.sub(r"^warehouse:\n(?:  .*\n)+", warehouse, config, count=1, flags=re.MULTILINE)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests of this folder run on one xdist worker, with one session among them."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.xdist_group("spark"))


def _unavailable(reason: str) -> None:
    unavailable("Spark", reason)


def spark_home() -> Path | None:
    try:
        import pyspark
    except ImportError:
        return None
    return Path(pyspark.__file__).parent


def spark_env() -> dict[str, str]:
    """Loopback only, and no user configuration or ``~/.ivy2`` writes from the machine."""
    env = dict(os.environ)
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    env["SPARK_LOCAL_HOSTNAME"] = "localhost"
    env.pop("SPARK_CONF_DIR", None)
    home = spark_home()
    if home is not None:
        env["SPARK_HOME"] = str(home)
    return env


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    """The session's local Spark (see the module docstring)."""
    if spark_home() is None:
        _unavailable("pyspark is not installed (pip install 'tidegate[spark]')")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        _unavailable("java is neither on PATH nor in JAVA_HOME")
    os.environ.update({k: v for k, v in spark_env().items() if k.startswith("SPARK_")})
    from pyspark.sql import SparkSession

    root = tmp_path_factory.mktemp("spark")
    builder: Any = SparkSession.builder.master("local[1]").appName("tidegate-tests")
    for key, value in {**LOCAL_CONF, "spark.sql.warehouse.dir": str(root / "warehouse")}.items():
        builder = builder.config(key, value)
    builder = builder.config("spark.local.dir", str(root / "scratch"))
    try:
        session: SparkSession = builder.getOrCreate()
    except Exception as exc:  # a JVM that does not start raises whatever py4j meets
        _unavailable(f"the local session did not start: {str(exc).strip().splitlines()[0]}")
        raise
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()


@dataclass
class Daemon:
    """One Spark daemon (master or worker) started through ``bin/spark-class``."""

    process: subprocess.Popen[bytes]
    log: Path

    def tail(self) -> str:
        try:
            return " | ".join(self.log.read_text(errors="replace").strip().splitlines()[-5:])
        except OSError:
            return "no log"

    def wait_for(self, text: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"exited with {self.process.returncode}: {self.tail()}")
            try:
                if text in self.log.read_text(errors="replace"):
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"did not log {text!r} in {START_TIMEOUT:.0f} s: {self.tail()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


def _daemon(home: Path, root: Path, name: str, *args: str) -> Daemon:
    log = root / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(home / "bin" / "spark-class"), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**spark_env(), "SPARK_WORKER_DIR": str(root / "work")},
            cwd=root,
        )
    return Daemon(process, log)


@pytest.fixture(scope="session")
def spark_cluster() -> Iterator[str]:
    """``spark://127.0.0.1:PORT`` of a standalone master with one worker (see above)."""
    home = spark_home()
    if home is None or not (home / "bin" / "spark-class").is_file():
        _unavailable("pyspark's bin/spark-class is missing (pip install 'tidegate[spark]')")
        return
    root = Path(tempfile.mkdtemp(prefix="tidegate-spark-"))
    port = free_port()
    url = f"spark://127.0.0.1:{port}"
    daemons: list[Daemon] = []
    try:
        master = _daemon(
            home,
            root,
            "master",
            "org.apache.spark.deploy.master.Master",
            *("--host", "127.0.0.1", "--port", str(port), "--webui-port", str(free_port())),
        )
        daemons.append(master)
        master.wait_for("I have been elected leader")
        worker = _daemon(
            home,
            root,
            "worker",
            "org.apache.spark.deploy.worker.Worker",
            url,
            *("--host", "127.0.0.1", "--cores", "1", "--memory", "512m"),
            *("--webui-port", str(free_port()), "--work-dir", str(root / "work")),
        )
        daemons.append(worker)
        master.wait_for("Registering worker")
        worker.wait_for("Successfully registered with master")
    except (RuntimeError, OSError) as exc:
        for daemon in reversed(daemons):
            daemon.stop()
        shutil.rmtree(root, ignore_errors=True)
        _unavailable(f"the standalone cluster did not start: {exc}")
        return
    try:
        yield url
    finally:
        for daemon in reversed(daemons):
            daemon.stop()
        shutil.rmtree(root, ignore_errors=True)
