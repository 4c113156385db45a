"""Settings that cannot work are refused when the project is loaded, not at run time."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import get_args

import pytest

from tidegate.config import load_project
from tidegate.config.models import WarehouseType
from tidegate.errors import ConfigError
from tidegate.warehouse import ADAPTERS, connect

from .. import command_line

TARGET = "columns:\n  name: {type: varchar}\n"
SOURCE = "match: '*.csv'\noutputs:\n  - target: people\n    columns: {name: name}\n"


def make_project(root: Path, project: str, target: str = TARGET) -> Path:
    files = {"tidegate.yml": project, "targets/people.yml": target, "sources/people.yml": SOURCE}
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def load_error(root: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_project(root)
    return caught.value


# --------------------------------------------------------------------------- folders


@pytest.mark.parametrize("setting", ["landing", "archive", "rejected"])
@pytest.mark.parametrize("url", ["nosuch://landing", "s4://bucket/incoming", "ftpx://b/x"])
def test_a_folder_url_of_no_known_filesystem_is_refused(
    tmp_path: Path, setting: str, url: str
) -> None:
    make_project(tmp_path, f"settle_seconds: 0\n{setting}: {url}\n")

    error = load_error(tmp_path)

    scheme = url.partition("://")[0]
    assert (error.path, error.line) == (tmp_path / "tidegate.yml", 2)
    assert error.message.startswith(f"{setting}: unknown scheme {scheme}://")
    assert "give a local folder" in error.message


@pytest.mark.parametrize("setting", ["landing", "archive", "rejected"])
def test_a_folder_in_the_process_memory_is_refused(tmp_path: Path, setting: str) -> None:
    """fsspec knows ``memory://``, but it lives inside one process: a ``tidegate run``
    would list it empty and say there is nothing new, whatever was meant to land there."""
    make_project(tmp_path, f"settle_seconds: 0\n{setting}: memory://incoming\n")

    error = load_error(tmp_path)

    assert (error.path, error.line) == (tmp_path / "tidegate.yml", 2)
    assert error.message.startswith(f"{setting}: memory:// is a filesystem inside one process")
    assert "give a local folder" in error.message


@pytest.mark.parametrize("url", ["s3://bucket/incoming/", "gs://b/x", "az://c/x", "file:///srv/in"])
def test_object_store_and_file_urls_load(tmp_path: Path, url: str) -> None:
    make_project(tmp_path, f"landing: {url}\nstorage: {{endpoint_url: 'http://127.0.0.1:9'}}\n")

    project = load_project(tmp_path)

    assert project.config.landing == url
    assert project.config.storage == {"endpoint_url": "http://127.0.0.1:9"}


def test_a_folder_url_never_shows_its_credentials(tmp_path: Path) -> None:
    make_project(tmp_path, "archive: s3x://AKIAEXAMPLE:Bucket-Secret-55@bucket/archive\n")

    assert "Bucket-Secret-55" not in str(load_error(tmp_path))


def test_local_folders_still_load(tmp_path: Path) -> None:
    make_project(tmp_path, f"landing: in/\narchive: {tmp_path / 'old'}\nrejected: C:/bad\n")

    project = load_project(tmp_path)

    assert project.path("landing") == tmp_path / "in"
    assert project.path("archive") == tmp_path / "old"


def test_run_with_a_landing_url_fails_instead_of_finding_nothing(tmp_path: Path) -> None:
    make_project(tmp_path, "landing: nosuch://incoming\n")

    done = command_line.tidegate(["run", "--project", str(tmp_path)])

    assert done.returncode == 2, done.stdout + done.stderr
    assert "tidegate.yml:1: landing: unknown scheme nosuch://" in done.stderr
    assert "nothing new" not in done.stdout + done.stderr
    assert not (tmp_path / "nosuch:").exists()


# --------------------------------------------------------------------------- warehouse


def test_warehouse_types_are_exactly_the_adapters() -> None:
    assert set(get_args(WarehouseType)) == set(ADAPTERS)


def test_an_unknown_warehouse_type_is_refused_with_the_types_there_are(tmp_path: Path) -> None:
    make_project(tmp_path, "warehouse:\n  type: snowflake\n")

    error = load_error(tmp_path)

    assert (error.path, error.line) == (tmp_path / "tidegate.yml", 2)
    assert error.message == (
        "warehouse.type: expected one of 'duckdb', 'postgres', 'sqlite', 'mssql' or 'spark',"
        " got 'snowflake'"
    )


def test_spark_settings_are_only_for_spark(tmp_path: Path) -> None:
    make_project(tmp_path, "warehouse:\n  type: duckdb\n  master: local[2]\n")

    with pytest.raises(ConfigError) as raised:
        connect(load_project(tmp_path))
    error = raised.value

    assert "master: not a setting of warehouse type 'duckdb'" in error.message
    assert "(it reads type, path, url, schemas)" in error.message


@pytest.mark.parametrize(
    ("warehouse", "message"),
    [
        ("  type: postgres\n", "warehouse: warehouse type 'postgres' needs 'url'"),
        ("  type: mssql\n", "warehouse: warehouse type 'mssql' needs 'url'"),
        (
            "  type: spark\n  master: local[1]\n  remote: sc://127.0.0.1:15002\n",
            "warehouse: give either 'master' or 'remote' (Spark Connect), not both",
        ),
        (
            "  type: sqlite\n  control: control.duckdb\n",
            "warehouse: control: not a setting of warehouse type 'sqlite'"
            " (it reads type, path, url, schemas)",
        ),
    ],
)
def test_each_adapter_says_which_settings_it_needs_and_reads(
    tmp_path: Path, warehouse: str, message: str
) -> None:
    make_project(tmp_path, "warehouse:\n" + warehouse)
    project = load_project(tmp_path)  # reading it imports no driver: connecting asks

    with pytest.raises(ConfigError) as raised:
        connect(project)

    assert (raised.value.path, raised.value.message) == (tmp_path / "tidegate.yml", message)


def test_a_spark_project_takes_its_own_settings(tmp_path: Path) -> None:
    make_project(
        tmp_path,
        "warehouse:\n  type: spark\n  master: local[1]\n  control: control.duckdb\n"
        "  conf: {spark.sql.shuffle.partitions: 2}\n",
    )

    warehouse = load_project(tmp_path).config.warehouse

    assert (warehouse.master, warehouse.control) == ("local[1]", "control.duckdb")


# --------------------------------------------------------------------------- targets


def test_a_target_table_name_is_refused_as_an_unknown_key(tmp_path: Path) -> None:
    make_project(tmp_path, "landing: in/\n", target=TARGET + "table: persons\n")

    error = load_error(tmp_path)

    assert (error.path, error.line) == (tmp_path / "targets" / "people.yml", 3)
    assert error.message.startswith("unknown key 'table'")
