"""How the bench drives Sling: its connection URLs, its command line, and reading its log."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bench import sling

LOG = (
    '\x1b[90m3:46AM\x1b[0m \x1b[32mINF\x1b[0m created table "public"."leads"\n'
    '\x1b[90m3:46AM\x1b[0m \x1b[32mINF\x1b[0m inserted 12,345 rows into "public"."leads"'
    " in 3 secs [4,115 r/s]\n"
    "\x1b[90m3:46AM\x1b[0m \x1b[32mINF\x1b[0m execution succeeded\n"
)
FATAL = (
    "\x1b[90m3:39AM\x1b[0m \x1b[32mINF\x1b[0m \x1b[31mexecution failed\x1b[0m\n\n"
    "\x1b[31mfatal:\n~ could not connect to database\npq: SSL is not enabled on the server\x1b[0m\n"
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@127.0.0.1:5432/db", "postgresql://u:p@127.0.0.1:5432/db?sslmode=disable"),
        ("postgresql://u@localhost/db?application_name=x",
         "postgresql://u@localhost/db?application_name=x&sslmode=disable"),
        ("postgresql://u:p@127.0.0.1/db?sslmode=require", "postgresql://u:p@127.0.0.1/db?sslmode=require"),
        ("postgresql://u:p@db.example.com/db", "postgresql://u:p@db.example.com/db"),
        ("host=127.0.0.1 port=5433 user=u password=p dbname=db",
         "postgresql://u:p@127.0.0.1:5433/db?sslmode=disable"),
    ],
)  # fmt: skip
def test_a_local_server_is_reached_without_tls_unless_the_url_says_so(
    given: str, expected: str
) -> None:
    """Sling's driver requires TLS by default and has no ``prefer``: a local server
    without TLS refused it (``pq: SSL is not enabled on the server``)."""
    assert sling.postgres_url(given) == expected


def test_the_rows_are_what_sling_reports_inserted() -> None:
    assert sling.inserted(LOG) == 12_345
    assert sling.inserted("execution succeeded\n") is None


def test_a_failure_is_the_fatal_message_on_one_line() -> None:
    assert sling.failure(FATAL) == (
        "could not connect to database pq: SSL is not enabled on the server"
    )


def test_each_case_is_one_sling_run(tmp_path: Path) -> None:
    csv, folder = tmp_path / "leads.csv", tmp_path / "landing"
    csv.touch()
    folder.mkdir()
    wide = sling.arguments("wide", "append", "duckdb", csv)
    assert wide[1:5] == ["run", "--src-stream", csv.as_uri(), "--tgt-conn"]
    assert wide[wide.index("--tgt-object") + 1] == "main.leads"
    assert "signed_up: date" in wide[wide.index("--columns") + 1]
    assert wide[-2:] == ["--mode", "full-refresh"]
    small = sling.arguments("small", "append", "postgres", folder)
    assert small[small.index("--src-stream") + 1] == folder.as_uri() + "/"
    assert small[small.index("--tgt-object") + 1] == "public.events"
    assert "flatten: true" in small[small.index("--src-options") + 1]
    merge = sling.arguments("churn", "merge", "duckdb", csv)
    assert merge[-4:] == ["--mode", "incremental", "--primary-key", "customer_id"]


def test_the_command_sets_sling_s_environment_and_execs_it(tmp_path: Path) -> None:
    argv = sling.command("wide", "append", "duckdb", tmp_path / "a.csv", tmp_path, None)
    assert argv[:4] == ["timeout", "--kill-after=10", str(sling.TIMEOUT_SECONDS), "env"]
    variables = dict(a.split("=", 1) for a in argv[4 : argv.index(str(sling.BINARY))])
    assert variables[sling.TARGET] == f"duckdb://{tmp_path / 'sling.duckdb'}"
    assert variables["DUCKDB_PATH"] == str(sling.DUCKDB_CLI)
    assert variables["HOME"] == str(tmp_path / "home")
    sling.prepare(tmp_path)
    assert (tmp_path / "home" / ".duckdb" / "extensions").resolve() == sling.EXTENSIONS.resolve()


def test_a_step_that_hangs_is_stopped_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(sling.TIMEOUT_ENV, "1")
    argv = sling.command("wide", "append", "duckdb", tmp_path / "a.csv", tmp_path, None)
    hanging = [*argv[: argv.index("env")], "sleep", "30"]
    done = subprocess.run(hanging, capture_output=True, text=True, timeout=60)
    assert done.returncode == sling.TIMED_OUT
    assert sling.failure(done.stderr, done.returncode) == (
        f"Sling did not finish within 1 s ({sling.TIMEOUT_ENV}): stopped"
    )
