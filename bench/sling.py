"""Sling (slingdata.io) doing the same loads: its CLI, one ``sling run`` per step.

Sling is a Go binary. It comes from PyPI as ``sling-linux-amd64`` (the ``sling`` wrapper
package would download it at run time instead). Into DuckDB Sling drives the DuckDB CLI,
which it would also download: ``duckdb-cli`` and the json, parquet and httpfs extension
wheels give it offline. ``duckdb-cli`` brings its own Python ``duckdb`` too, so everything
is installed into a folder of its own, ``bench/.data/sling-tools`` (``python -m bench.sling
install``; ``make bench`` does it), never into the project's environment, whose duckdb it
would replace.

The measured process is the binary itself (``env`` sets its variables and execs it): a
connection variable per warehouse, ``DUCKDB_PATH`` to the installed CLI, and a ``HOME``
whose ``.duckdb/extensions`` is the installed extensions, so the CLI loads them offline.

Per case: the wide CSV and the churn files with the contract's column types (``--columns``);
the folder of small gzipped JSON Lines files as one stream into one table (the partition
values are not columns: ``_sling_stream_url`` keeps each row's file); the nested orders
flattened (``flatten``), which makes columns of nested objects but keeps the items array as
one JSON column, so there is no items table; merge as ``incremental`` on the primary key
(an upsert). Sling has no scd2 history: those cases are skipped. The rows counted are the
rows Sling reports inserted.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from bench.datasets import DATA_ROOT

TOOLS = DATA_ROOT / "sling-tools"
PACKAGES = (
    "sling-linux-amd64==1.4.11",
    "duckdb-cli==1.4.4",
    "duckdb-ext-json==1.4.4.20260205",
    "duckdb-ext-parquet==1.4.4.20260205",
    "duckdb-ext-httpfs==1.4.4.20260205",
)
BINARY = TOOLS / "sling_linux_amd64" / "bin" / "sling-linux-amd64"
DUCKDB_CLI = TOOLS / "bin" / "duckdb"
EXTENSIONS = TOOLS / "duckdb_ext" / "extensions"
TARGET = "TARGET"  # the connection variable sling is pointed at
# A step of Sling into DuckDB now and then never finishes (Sling waiting on its DuckDB CLI):
# past this many seconds it is stopped and reported as failed.
TIMEOUT_ENV = "TIDEGATE_BENCH_SLING_TIMEOUT"
TIMEOUT_SECONDS = 3600
TIMED_OUT = 124  # coreutils timeout's exit status
NO_SCD2 = (
    "Sling has no scd2 mode (no history: its incremental mode with a primary key upserts"
    " rows in place)"
)

# Each case's table and the types the contract gives its columns (the rest Sling infers).
TABLES = {"wide": "leads", "churn": "customers", "small": "events", "nested": "orders"}
COLUMNS = {
    "wide": '{lead_id: bigint, capacity: integer, signed_up: date, revenue: "decimal(12,2)"}',
    "churn": '{credit_limit: "decimal(12,2)", customer_since: date}',
}
JSON_LINES = "{format: jsonlines, flatten: true}"
INSERTED = re.compile(r"inserted ([\d,]+) rows into")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


# --------------------------------------------------------------------------- installing


def supported() -> bool:
    """The PyPI binary installed here is Linux x86-64's."""
    return sys.platform == "linux" and platform.machine() in ("x86_64", "AMD64")


def installed() -> bool:
    return os.access(BINARY, os.X_OK) and os.access(DUCKDB_CLI, os.X_OK) and EXTENSIONS.is_dir()


def missing() -> str | None:
    """Why Sling cannot run here, or None."""
    if not supported():
        return f"Sling's PyPI binary is installed for Linux x86-64 only, not {sys.platform}"
    if not installed():
        return f"Sling is not installed (python -m bench.sling install, into {TOOLS.name})"
    return None


def install() -> None:
    """The pinned binaries into their own folder (a no-op when they are there)."""
    if not (BINARY.is_file() and DUCKDB_CLI.is_file() and EXTENSIONS.is_dir()):
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--upgrade", "--target"]
        subprocess.run([*pip, str(TOOLS), *PACKAGES], check=True)
    # The wheel ships the DuckDB CLI without its executable bit.
    DUCKDB_CLI.chmod(DUCKDB_CLI.stat().st_mode | 0o111)


# --------------------------------------------------------------------------- running


def prepare(workdir: Path) -> None:
    """The home the DuckDB CLI looks in for extensions: the installed ones."""
    folder = workdir / "home" / ".duckdb"
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "extensions"
    if not link.exists():
        link.symlink_to(EXTENSIONS, target_is_directory=True)


def connection(warehouse: str, workdir: Path, url: str | None) -> str:
    """Sling's connection URL of the run's warehouse."""
    if warehouse == "duckdb":
        # Sling's default (a CLI process per statement), as documented. Its ``interactive``
        # mode (one CLI process) hung on a busy machine; the default now and then fails
        # with DuckDB's "Could not set lock", which the result reports as Sling's error.
        return f"duckdb://{workdir / 'sling.duckdb'}"
    assert url is not None
    return postgres_url(url)


def postgres_url(url: str) -> str:
    """``url`` as Sling's driver takes it: a URL, with TLS off for a local server unless
    the URL says otherwise (the driver's default is to require TLS, and it has no
    ``prefer``)."""
    if "://" not in url:
        import psycopg

        parts = psycopg.conninfo.conninfo_to_dict(url)
        user, password = parts.get("user", ""), parts.get("password", "")
        login = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host, port = parts.get("host", "localhost"), parts.get("port", 5432)
        url = f"postgresql://{login}{host}:{port}/{parts.get('dbname', '')}"
    split = urlsplit(url)
    local = split.hostname in (None, "", "localhost", "127.0.0.1", "::1")
    if not local or "sslmode" in dict(parse_qsl(split.query)):
        return url
    return url + ("&" if split.query else "?") + "sslmode=disable"


def environment(warehouse: str, workdir: Path, url: str | None) -> dict[str, str]:
    return {
        TARGET: connection(warehouse, workdir, url),
        "DUCKDB_PATH": str(DUCKDB_CLI),
        "HOME": str(workdir / "home"),
        "SLING_HOME_DIR": str(workdir / ".sling"),
        "SLING_DISABLE_TELEMETRY": "true",
        # Each small file's path: the partition values dlt and tidegate make columns of.
        "SLING_STREAM_URL_COLUMN": "true",
    }


def arguments(kind: str, load: str, warehouse: str, source: Path) -> list[str]:
    """``sling run`` of one step: ``source`` (a file, or the folder of small files)."""
    schema = "main" if warehouse == "duckdb" else "public"
    stream = source.as_uri() + ("/" if source.is_dir() else "")
    run = [str(BINARY), "run", "--src-stream", stream, "--tgt-conn", TARGET]
    run += ["--tgt-object", f"{schema}.{TABLES[kind]}"]
    if kind in COLUMNS:
        run += ["--columns", COLUMNS[kind]]
    if kind in ("small", "nested"):
        run += ["--src-options", JSON_LINES]
    if load == "merge":
        return [*run, "--mode", "incremental", "--primary-key", "customer_id"]
    # Every run starts on an empty warehouse: a full refresh loads what an append would.
    return [*run, "--mode", "full-refresh"]


def command(
    kind: str, load: str, warehouse: str, source: Path, workdir: Path, url: str | None
) -> list[str]:
    """The measured command: ``timeout`` runs ``env``, which execs the binary with its
    variables set."""
    variables = [f"{k}={v}" for k, v in environment(warehouse, workdir, url).items()]
    limit = ["timeout", "--kill-after=10", str(timeout_seconds())]
    return [*limit, "env", *variables, *arguments(kind, load, warehouse, source)]


def timeout_seconds() -> int:
    given = os.environ.get(TIMEOUT_ENV, "")
    return int(given) if given.isdigit() and int(given) > 0 else TIMEOUT_SECONDS


# --------------------------------------------------------------------------- output


def inserted(log: str) -> int | None:
    """Rows Sling reports inserted (its log: ``inserted N rows into "schema"."table"``)."""
    counts = INSERTED.findall(ANSI.sub("", log))
    return sum(int(count.replace(",", "")) for count in counts) if counts else None


def failure(log: str, returncode: int = 1) -> str:
    """Sling's error: the lines after ``fatal:``, on one line."""
    if returncode == TIMED_OUT:
        return f"Sling did not finish within {timeout_seconds()} s ({TIMEOUT_ENV}): stopped"
    lines = [line.strip(" ~") for line in ANSI.sub("", log).splitlines() if line.strip(" ~")]
    for index, line in enumerate(lines):
        if line.startswith("fatal:"):
            rest = [line.removeprefix("fatal:").strip(), *lines[index + 1 :]]
            return " ".join(part for part in rest if part)[:500] or "fatal"
    return lines[-1][:300] if lines else "failed without a message"


def main(argv: list[str]) -> int:
    if argv != ["install"]:
        sys.stderr.write("usage: python -m bench.sling install\n")
        return 2
    if not supported():
        # Not an error: the bench then reports Sling's rows as skipped, with this reason.
        sys.stdout.write(f"Sling not installed: {missing()}\n")
        return 0
    install()
    sys.stdout.write(f"Sling: {BINARY}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
