"""No password reaches the terminal: not in a configuration error, not in a connection error,
not in the traceback ``--debug`` prints. Checked through the real command line."""

from __future__ import annotations

import subprocess
import textwrap
import traceback
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tidegate.config import WarehouseConfig, load_project
from tidegate.config.redact import hide_passwords, url_problem
from tidegate.errors import ConfigError, ConnectionFailed
from tidegate.warehouse.mssql import _reason as mssql_reason
from tidegate.warehouse.postgres import PostgresWarehouse

from .. import command_line

SECRET = "Hunter2-Very-Secret"  # the value every test looks for in the output
TARGET = "columns:\n  name: {type: varchar}\n"
SOURCE = "match: '*.csv'\noutputs:\n  - target: people\n    columns: {name: name}\n"


def make_project(root: Path, project: str) -> Path:
    files = {"tidegate.yml": project, "targets/people.yml": TARGET, "sources/people.yml": SOURCE}
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    (root / "landing").mkdir(exist_ok=True)
    return root


def tidegate(root: Path, command: str, *, debug: bool) -> subprocess.CompletedProcess[str]:
    """The command line (in this process); ``--debug`` prints tracebacks."""
    options = ["--debug"] if debug else []
    return command_line.tidegate([*options, command, "--project", str(root)])


def with_credentials(url: str, password: str, database: str | None = None) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username}:{password}@{parts.hostname}:{parts.port}"
    path = f"/{database}" if database is not None else parts.path
    return urlunsplit(parts._replace(netloc=netloc, path=path))


def assert_failed_without(done: subprocess.CompletedProcess[str], *secrets: str) -> str:
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    for secret in secrets:
        assert secret not in output
    return output


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("command", ["check", "run"])
def test_a_url_given_for_the_warehouse_mapping_never_shows_its_password(
    tmp_path: Path, command: str, debug: bool
) -> None:
    make_project(tmp_path, f"warehouse: postgresql://loader:{SECRET}@db.example:5433/dw\n")

    done = tidegate(tmp_path, command, debug=debug)

    output = assert_failed_without(done, SECRET)
    assert "tidegate.yml:1: warehouse: expected a mapping, got a URL" in output
    assert "url: ${TIDEGATE_WAREHOUSE_URL}" in output
    if not debug:
        assert done.returncode == 2


@pytest.mark.parametrize("debug", [False, True])
def test_a_bad_percent_escape_is_refused_without_the_password(
    tmp_path: Path, postgres_url: str, debug: bool
) -> None:
    bad = with_credentials(postgres_url, f"{SECRET}%zz")
    make_project(tmp_path, f"warehouse:\n  type: postgres\n  url: '{bad}'\n")

    done = tidegate(tmp_path, "run", debug=debug)

    output = assert_failed_without(done, SECRET, "%zz")
    assert "tidegate.yml:3: warehouse.url: the password has an invalid %-escape" in output
    assert "%25" in output


def test_a_value_echoed_in_any_config_error_has_its_password_hidden(tmp_path: Path) -> None:
    long = "x" * 60 + SECRET  # longer than an echoed value is shown
    make_project(
        tmp_path,
        f"""\
        settle_seconds: postgresql://loader:{long}@db.example:5432/dw
        memory_limit: [postgresql://loader:{SECRET}@db/dw]
        warehouse:
          type: postgres
          url: {{user: loader, password: {SECRET}}}
        """,
    )

    error = load_error(tmp_path)

    text = str(error)
    assert SECRET not in text and "x" * 20 not in text
    assert "settle_seconds: expected a number, got 'postgresql://loader:***@db.example" in text
    assert "warehouse.url: expected a string, got {'user': 'loader', 'password': '***'}" in text


def test_a_secret_setting_of_the_wrong_type_is_not_shown(tmp_path: Path) -> None:
    make_project(tmp_path, "privacy:\n  secret: 8675309867530986753\n  vault_key: [Hunter2]\n")

    error = load_error(tmp_path)

    assert "8675309867530986753" not in str(error) and "Hunter2" not in str(error)
    assert error.message.startswith(
        "privacy.secret: expected a string, got a value of type int (not shown"
    )


def load_error(root: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_project(root)
    return caught.value


# --------------------------------------------------------------------------- connecting


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("password", ["wrong", "right"])
def test_a_failed_connection_names_the_server_and_never_the_password(
    tmp_path: Path, postgres_url: str, password: str, debug: bool
) -> None:
    # To a database that does not exist, so that even the right password (or a server that
    # trusts every login) fails, after the server has answered.
    given = SECRET if password == "wrong" else str(urlsplit(postgres_url).password)
    url = with_credentials(postgres_url, given, database="no_such_database")
    make_project(tmp_path, f"warehouse:\n  type: postgres\n  url: '{url}'\n")

    done = tidegate(tmp_path, "run", debug=debug)

    output = assert_failed_without(done, given)
    parts = urlsplit(postgres_url)
    server = f"postgres://{parts.username}@{parts.hostname}:{parts.port}/no_such_database"
    assert f"cannot connect to {server}: " in output
    if not debug:
        assert done.returncode == 2
        assert [line for line in output.splitlines() if line] == [
            line for line in output.splitlines() if line.startswith("error: cannot connect")
        ]


@pytest.mark.parametrize("form", ["url", "keywords"])
def test_a_url_libpq_refuses_names_its_server_and_chains_no_driver_error(
    tmp_path: Path, postgres_url: str, form: str
) -> None:
    # Past validation (a warehouse built in code): libpq's own error quotes the bad part.
    parts = urlsplit(postgres_url)
    if form == "url":
        bad = with_credentials(postgres_url, f"{SECRET}%zz", database="dw")
    else:  # an unclosed quote
        bad = f"host={parts.hostname} port={parts.port} dbname=dw user={parts.username}"
        bad += f" password='{SECRET}%zz"
    config = WarehouseConfig.model_construct(type="postgres", url=bad, path=None)

    with pytest.raises(ConnectionFailed) as caught:
        PostgresWarehouse(config, tmp_path).connect()

    assert caught.value.target == f"postgres://{parts.username}@{parts.hostname}:{parts.port}/dw"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    printed = "".join(traceback.format_exception(caught.value))
    assert SECRET not in printed and "%zz" not in printed
    if form == "url":
        assert "invalid %-escape" in caught.value.reason


def test_an_odbc_reason_never_holds_the_password() -> None:
    url = f"DRIVER={{x}};SERVER=db,1433;UID=sa;PWD={{{SECRET};x}}"
    error = Exception("28000", f"[Microsoft][ODBC] Login failed: bad string {url}")

    assert SECRET not in mssql_reason(error, url)


# --------------------------------------------------------------------------- the rules


@pytest.mark.parametrize(
    "text",
    [
        f"postgresql://u:{SECRET}@h/db",
        f"postgresql://u:{SECRET}@with-at@h:5/db",
        f"s3://key:{SECRET}@bucket/x",
        f"host=h password={SECRET} dbname=d",
        f"host=h password='{SECRET} x' dbname=d",
        f"UID=sa;PWD={SECRET};DATABASE=dw",
        f"UID=sa;pwd={{{SECRET};}}}}x}};DATABASE=dw",
    ],
)
def test_hide_passwords(text: str) -> None:
    assert SECRET not in hide_passwords(f"got {text!r} here")


def test_url_problem_names_the_part_never_the_text() -> None:
    assert url_problem(f"postgresql://loader:{SECRET}%@db/dw") == (
        "the password has an invalid %-escape; write a '%' in it as %25"
    )
    assert url_problem("postgresql://lo%zader@db/dw") is not None
    assert url_problem("postgresql://loader:p%40ss@db/d%20w") is None
    assert url_problem("postgresql://loader@db/dw?options=%zz") is not None
