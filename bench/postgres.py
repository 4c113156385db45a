"""A PostgreSQL server for the benchmark: the one given by a URL, or a throwaway local one.

The local server is started from the PostgreSQL binaries on PATH (or ``pg_config
--bindir``) in a temporary folder, listening on 127.0.0.1 only. As root it runs as the
``postgres`` user through ``runuser``, since ``initdb`` refuses root. Durability settings
are off for both tidegate and the floor alike: the comparison is about the loading path.
Every measured run gets a fresh database, dropped afterwards.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ENV_URL = "TIDEGATE_BENCH_POSTGRES_URL"
SUPERUSER = "postgres"
PASSWORD = "tidegate-bench-only"  # of a throwaway server that listens on 127.0.0.1 only
SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_wal_size": "4GB",
    "shared_buffers": "512MB",
    "maintenance_work_mem": "512MB",
    "work_mem": "64MB",
}


def bindir() -> Path | None:
    """Where ``pg_ctl`` and ``initdb`` are: PATH, else ``pg_config --bindir`` (the tests'
    server fixture uses this too)."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return None
    out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
    path = Path(out.stdout.strip())
    return path if (path / "pg_ctl").exists() else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _run(binaries: Path, *command: str) -> None:
    argv = [str(binaries / command[0]), *command[1:]]
    if os.geteuid() == 0:
        argv = ["runuser", "-u", SUPERUSER, "--", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {done.stderr.strip() or done.stdout.strip()}")


def _options(port: int, root: Path) -> str:
    settings = [f"-c {name}={value}" for name, value in SETTINGS.items()]
    return " ".join([f"-h 127.0.0.1 -p {port} -k {shlex.quote(str(root))}", *settings])


@contextmanager
def local_server() -> Iterator[str]:
    """A superuser URL of a new local server, stopped and removed afterwards."""
    binaries = bindir()
    if binaries is None:
        raise RuntimeError("pg_ctl is neither on PATH nor in `pg_config --bindir`")
    root = Path(tempfile.mkdtemp(prefix="tidegate-bench-pg-"))
    data, port = root / "data", free_port()
    try:
        if os.geteuid() == 0:
            shutil.chown(root, SUPERUSER, SUPERUSER)
        secret = root / "password"
        secret.write_text(PASSWORD + "\n")
        if os.geteuid() == 0:
            shutil.chown(secret, SUPERUSER, SUPERUSER)
        _run(binaries, "initdb", "-D", str(data), "-U", SUPERUSER, "--pwfile", str(secret),
             "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync")  # fmt: skip
        _run(binaries, "pg_ctl", "-D", str(data), "-l", str(root / "server.log"), "-w",
             "-o", _options(port, root), "start")  # fmt: skip
        try:
            yield f"postgresql://{SUPERUSER}:{PASSWORD}@127.0.0.1:{port}/postgres"
        finally:
            _run(binaries, "pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def server(url: str | None) -> Iterator[str]:
    """The given server, or a local one for the duration."""
    if url:
        yield url
        return
    with local_server() as started:
        yield started


def with_database(url: str, name: str) -> str:
    """``url`` (a URL or a libpq keyword string) pointing at database ``name`` instead."""
    if "://" in url:
        parts = urlsplit(url)
        return urlunsplit(parts._replace(path=f"/{name}"))
    import psycopg

    return psycopg.conninfo.make_conninfo(url, dbname=name)


def create_database(url: str, prefix: str = "tidegate_bench") -> str:
    """A URL of a new, empty database on the server at ``url`` (a superuser's)."""
    import psycopg
    from psycopg import sql

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(url, name)


def drop_database(url: str, database_url: str) -> None:
    """Drop the database of ``database_url``, made by ``create_database``, connections and all."""
    import psycopg
    from psycopg import sql

    name = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    with psycopg.connect(url, autocommit=True) as admin:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        admin.execute(drop.format(sql.Identifier(str(name))))


@contextmanager
def fresh_database(url: str, prefix: str = "tidegate_bench") -> Iterator[str]:
    """A URL of a new, empty database on the server at ``url``, dropped afterwards."""
    made = create_database(url, prefix)
    try:
        yield made
    finally:
        drop_database(url, made)
