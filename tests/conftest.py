"""Fixtures for every test folder: a real PostgreSQL server.

``postgres_url`` (session)
    A superuser URL of one server for the whole session (of each pytest-xdist worker): the
    server named by ``TIDEGATE_TEST_POSTGRES_URL`` when set, otherwise a PostgreSQL started
    from the binaries on PATH (``initdb``, ``pg_ctl``; ``pg_config --bindir`` as a fallback)
    in a temporary directory, listening on 127.0.0.1 on a free port, with password
    authentication on TCP.
    As root (as in CI) the server runs as the ``postgres`` user through ``runuser``, since
    ``initdb`` refuses root.
``postgres_db_url`` (function)
    A fresh, empty database on that server for one test, dropped afterwards.

When no server can be had, the tests that use these fixtures are skipped with the reason,
except under ``CI=true``, where they fail: CI must never pass by skipping them. A server
left running by a test session that was killed before its teardown is stopped by the next
session.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
from bench.postgres import bindir as find_bindir
from bench.postgres import create_database, drop_database, free_port, fresh_database

ENV_URL = "TIDEGATE_TEST_POSTGRES_URL"
PREFIX = "tidegate-pg-"
DATABASE_PREFIX = "tidegate_test"
OWNER = "owner.pid"  # the pytest process that started the server in this folder
SUPERUSER = "postgres"
PASSWORD = "tidegate-test-only"  # of a throwaway server that listens on 127.0.0.1 only
SERVER_SETTINGS = {  # durability is not what these tests are about
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "50",
}


def unavailable(what: str, reason: str) -> NoReturn:
    """A part a test needs cannot start: the test fails under CI (CI=true), skips elsewhere."""
    message = f"{what} is not available: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _unavailable(reason: str) -> None:
    unavailable("PostgreSQL", reason)


@dataclass
class LocalServer:
    """A PostgreSQL cluster in a temporary directory, run as ``postgres`` when we are root."""

    bindir: Path
    root: Path
    port: int

    @property
    def as_root(self) -> bool:
        return os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}:{PASSWORD}@127.0.0.1:{self.port}/postgres"

    def run(self, *command: str) -> None:
        argv = [str(self.bindir / command[0]), *command[1:]]
        if self.as_root:
            argv = ["runuser", "-u", SUPERUSER, "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> None:
        (self.root / OWNER).write_text(str(os.getpid()))
        if self.as_root:
            shutil.chown(self.root, SUPERUSER, SUPERUSER)
        (self.root / "password").write_text(PASSWORD + "\n")
        if self.as_root:
            shutil.chown(self.root / "password", SUPERUSER, SUPERUSER)
        self.run(
            "initdb",
            *("-D", str(self.data), "-U", SUPERUSER, "--pwfile", str(self.root / "password")),
            *("--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"),
        )
        self.run(
            "pg_ctl",
            *("-D", str(self.data), "-l", str(self.log), "-w", "-t", "60"),
            *("-o", self._options(), "start"),
        )

    def _options(self) -> str:
        settings = [f"-c {k}={v}" for k, v in SERVER_SETTINGS.items()]
        listen = f"-h 127.0.0.1 -p {self.port} -k {shlex.quote(str(self.root))}"
        return " ".join([listen, *settings])

    def stop(self) -> None:
        try:
            self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def log_tail(self) -> str:
        try:
            return " | ".join(self.log.read_text().strip().splitlines()[-5:])
        except OSError:
            return "no server log"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process may linger as a zombie until its parent reaps it
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def _reap_stale_servers(bindir: Path) -> None:
    """Stop servers left running by test sessions that were killed before their teardown."""
    for root in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            owner = int((root / OWNER).read_text())
        except (OSError, ValueError):
            continue
        if not _alive(owner):
            server = LocalServer(bindir, root, 0)
            try:
                server.stop()
            except (RuntimeError, OSError, subprocess.TimeoutExpired):
                shutil.rmtree(root, ignore_errors=True)


def _local_server() -> Iterator[str]:
    bindir = find_bindir()
    if bindir is None:
        _unavailable("pg_ctl is neither on PATH nor in `pg_config --bindir`")
        return
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        _unavailable("running as root, and runuser is missing to start the server as postgres")
    # A short path in the system temporary folder: the socket path must stay under 107 bytes,
    # and the postgres user must be able to reach it (pytest's own folders are root-only).
    _reap_stale_servers(bindir)
    server = _started(bindir)
    try:
        yield server.url
    finally:
        server.stop()


def _started(bindir: Path, attempts: int = 3) -> LocalServer:
    """A started server of this process. Each pytest-xdist worker starts its own, so a free
    port may be taken by another worker between the probe and the start: try another."""
    reason = ""
    for _ in range(attempts):
        server = LocalServer(bindir, Path(tempfile.mkdtemp(prefix=PREFIX)), free_port())
        try:
            server.start()
            return server
        except (RuntimeError, OSError, LookupError, subprocess.TimeoutExpired) as exc:
            reason = f"{exc}; log: {server.log_tail()}"
            shutil.rmtree(server.root, ignore_errors=True)
    _unavailable(reason)
    raise AssertionError("unreachable")  # _unavailable skips or fails


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A superuser URL of the session's PostgreSQL server (see the module docstring)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed (pip install -e '.[dev]')")
    given = os.environ.get(ENV_URL)
    if given:
        _check_reachable(given)
        yield given
        return
    yield from _local_server()


def _check_reachable(url: str) -> None:
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=10).close()
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        _unavailable(f"{ENV_URL} is set but the server refused: {first}")


@pytest.fixture
def postgres_db_url(postgres_url: str) -> Iterator[str]:
    """A URL of a new, empty database on the session's server, dropped after the test."""
    with fresh_database(postgres_url, DATABASE_PREFIX) as url:
        yield url


@pytest.fixture
def new_postgres_database(postgres_url: str) -> Iterator[Callable[[], str]]:
    """Make as many fresh databases as a test needs; all are dropped after it."""
    made: list[str] = []

    def make() -> str:
        made.append(create_database(postgres_url, DATABASE_PREFIX))
        return made[-1]

    yield make
    for url in made:
        drop_database(postgres_url, url)


# --------------------------------------------------------------------------- warehouses

WAREHOUSES = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres), "sqlite"]
"""Every warehouse the suite runs one body against: the one list for every test folder."""
SERVED_WAREHOUSES = [kind for kind in WAREHOUSES if kind != "duckdb"]
"""Those of them that several connections may open at once (an embedded DuckDB file has
one writer)."""


@pytest.fixture(params=WAREHOUSES)
def warehouse(request: pytest.FixtureRequest) -> Callable[[], str]:
    """Makes the ``warehouse:`` line of a new project's tidegate.yml, one per call (on
    PostgreSQL a new database each)."""
    kind = request.param
    if kind == "postgres":
        make_database = request.getfixturevalue("new_postgres_database")
        return lambda: f'warehouse: {{type: postgres, url: "{make_database()}"}}'
    if kind == "sqlite":
        return lambda: "warehouse: {type: sqlite, path: warehouse.sqlite}"
    return lambda: "warehouse: {type: duckdb, path: warehouse.duckdb}"
