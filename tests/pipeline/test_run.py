"""A landing folder loaded exactly once, whatever happens."""

from __future__ import annotations

import gzip
import json
import shutil
import textwrap
from datetime import date
from pathlib import Path

import duckdb
import pytest

from tidegate import archive
from tidegate.config import load_project
from tidegate.pipeline import run

from ..command_line import runs_finished, wait_until
from .conftest import land, people_csv, snapshot, tidegate, write_project

ADA = ("1", " Ada Lovelace ", "ADA@example.org", "12/10/1815")
ALAN = ("2", "Alan Turing", "alan@example.org", "06/23/1912")
GRACE = ("3", "Grace Hopper", "grace@example.org", "12/09/1906")


def rows(root: Path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_loads_a_file_with_lineage_raw_layer_ledger_and_archive(project: Path) -> None:
    land(project, "people_1.csv", people_csv(ADA, ALAN))
    result = run(load_project(project))

    [file] = result.files
    assert (file.status, file.rows_read, file.rows_loaded, file.rows_quarantined) == (
        "loaded",
        2,
        2,
        0,
    )
    assert rows(
        project, "SELECT id, name, email, born, _file_id, _row FROM core.people ORDER BY id"
    ) == [
        (
            1,
            "Ada Lovelace",
            "ada@example.org",
            date(1815, 12, 10),
            file.file_id,
            1,
        ),
        (
            2,
            "Alan Turing",
            "alan@example.org",
            date(1912, 6, 23),
            file.file_id,
            2,
        ),
    ]
    assert rows(
        project, 'SELECT "_file_id", "_row", "Full Name" FROM raw.people ORDER BY "_row"'
    ) == [
        (file.file_id, 1, " Ada Lovelace "),
        (file.file_id, 2, "Alan Turing"),
    ]
    [(status, archive_path, sha)] = rows(
        project, "SELECT status, archive_path, sha256 FROM tidegate.files"
    )
    assert status == "loaded"
    assert archive_path.startswith("archive/people/") and archive_path.endswith("people_1.csv.gz")
    assert (project / archive_path).exists()
    assert not (project / "landing" / "people_1.csv").exists()
    assert file.file_id == sha[:16]


def test_second_run_changes_nothing(project: Path) -> None:
    land(project, "people_1.csv", people_csv(ADA, ALAN))
    run(load_project(project))
    before = snapshot(project)
    assert run(load_project(project)).files == []
    assert snapshot(project) == before


def test_same_content_under_another_name_is_a_duplicate(project: Path) -> None:
    land(project, "people_1.csv", people_csv(ADA, ALAN))
    first = run(load_project(project)).files[0]
    land(project, "elsewhere/people_copy.csv", people_csv(ADA, ALAN))
    [again] = run(load_project(project)).files
    assert again.status == "duplicate"
    assert rows(project, "SELECT count(*) FROM core.people") == [(2,)]
    assert rows(project, "SELECT duplicate_of FROM tidegate.files WHERE status = 'duplicate'") == [
        (first.file_id,)
    ]
    assert not (project / "landing" / "elsewhere" / "people_copy.csv").exists()


def test_changed_content_under_the_same_name_is_a_new_file(project: Path) -> None:
    land(project, "people_1.csv", people_csv(ADA))
    run(load_project(project))
    land(project, "people_1.csv", people_csv(ALAN, GRACE))
    [second] = run(load_project(project)).files
    assert (second.status, second.rows_loaded) == ("loaded", 2)
    assert rows(project, "SELECT count(*) FROM core.people") == [(3,)]
    archived = sorted(p.name for p in (project / "archive").rglob("*.gz"))
    assert len(archived) == 2


def test_bad_rows_are_quarantined_with_reasons_and_original_values(project: Path) -> None:
    land(project, "people_1.csv", people_csv(ADA, ("x", "", "nope", "13/45/1900"), GRACE))
    [file] = run(load_project(project)).files
    assert (file.rows_read, file.rows_loaded, file.rows_quarantined) == (3, 2, 1)
    [(row, reasons, record)] = rows(project, "SELECT row, reasons, record FROM tidegate.quarantine")
    assert row == 2
    assert json.loads(record) == {
        "ID": "x",
        "Full Name": None,
        "E-mail": "nope",
        "Born": "13/45/1900",
    }
    assert sorted((r["rule"], r["column"]) for r in json.loads(reasons)) == [
        ("pattern", "email"),
        ("required", "name"),
        ("type", "born"),
        ("type", "id"),
    ]


def test_ragged_rows_are_bad_rows_not_a_lost_file(project: Path) -> None:
    land(
        project,
        "people_1.csv",
        "ID,Full Name,E-mail,Born\n1,Ada,a@b.c,01/01/2000\n2,Alan\n3,Grace,g@h.i,01/01/2000\n",
    )
    [file] = run(load_project(project)).files
    assert (file.status, file.rows_read, file.rows_loaded, file.rows_quarantined) == (
        "loaded",
        3,
        2,
        1,
    )
    [(row, reasons, record)] = rows(project, "SELECT row, reasons, record FROM tidegate.quarantine")
    assert row == 2
    assert json.loads(reasons)[0]["rule"] == "read"
    assert "2,Alan" in json.loads(record)["_line"]
    assert rows(project, "SELECT _row FROM core.people ORDER BY _row") == [(1,), (3,)]


def test_unmatched_file_is_rejected_with_its_reason(project: Path) -> None:
    land(project, "orders.csv", "a\n1\n")
    [file] = run(load_project(project)).files
    assert file.status == "rejected"
    assert "matches no source" in (file.error or "")
    assert (project / "rejected" / "orders.csv").exists()
    assert "matches no source" in (project / "rejected" / "orders.csv.reason.txt").read_text()
    assert not (project / "landing" / "orders.csv").exists()


def test_missing_mapped_columns_reject_the_file(project: Path) -> None:
    land(project, "people_1.csv", "ID,Name\n1,Ada\n")
    [file] = run(load_project(project)).files
    assert file.status == "rejected"
    assert (
        file.error
        == "missing columns ['Born', 'E-mail', 'Full Name'] needed by the mapping; the file has ['ID', 'Name']"
    )
    assert rows(project, "SELECT count(*) FROM core.people") == [(0,)]  # made empty, from its YAML


def test_empty_file_is_rejected(project: Path) -> None:
    land(project, "people_1.csv", "")
    [file] = run(load_project(project)).files
    assert file.status == "rejected"
    assert "no records" in (file.error or "")


def test_threshold_rejects_the_whole_file(tmp_path: Path) -> None:
    target = (tmp_path / "x").parent
    root = write_project(
        target / "p",
        {
            "targets/people.yml": textwrap.dedent("""\
        columns:
          id:     {type: integer}
          name:   {type: varchar}
          email:  {type: varchar}
          born:   {type: date}
        reject_file_over: 40%
        """)
        },
    )
    land(
        root,
        "people_1.csv",
        people_csv(("1", "a", "x", "bad"), ("2", "b", "y", "bad"), ("3", "c", "z", "2000-01-01")),
    )
    [file] = run(load_project(root)).files
    assert file.status == "rejected"
    assert file.error == "2 of 3 rows failed, over the limit of 40%"
    assert (root / "rejected" / "people_1.csv").exists()
    assert rows(root, "SELECT count(*) FROM tidegate.quarantine") == [(0,)]


def test_a_large_file_is_compressed_while_it_loads(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files from ``EARLY_BYTES`` are gzipped on a thread during the load; the archive gets
    the same bytes, and a rejected file leaves no partial copy behind."""
    monkeypatch.setattr(archive, "EARLY_BYTES", 1)
    content = people_csv(ADA, ALAN, GRACE)
    land(project, "people_1.csv", content)
    land(project, "people_2.csv", people_csv(("x", "", "", "")))  # every row bad: rejected
    threshold = "reject_file_over: 50%\n"
    target = project / "targets" / "people.yml"
    target.write_text(target.read_text() + threshold)

    loaded, rejected = run(load_project(project)).files

    assert (loaded.status, loaded.rows_loaded, rejected.status) == ("loaded", 3, "rejected")
    [archived] = (project / "archive").rglob("people_1.csv.gz")
    assert gzip.decompress(archived.read_bytes()).decode() == content
    assert (project / "rejected" / "people_2.csv").exists()
    assert not (project / "archive" / archive.PARTIAL).exists()
    assert sorted(p.name for p in (project / "archive").rglob("*") if p.is_file()) == [
        "people_1.csv.gz"
    ]


def test_new_columns_are_recorded_and_kept_in_raw(project: Path) -> None:
    land(project, "people_1.csv", people_csv(ADA))
    run(load_project(project))
    land(
        project, "people_2.csv", "ID,Full Name,E-mail,Born,Shoe Size\n2,Alan,a@b.c,01/01/1912,44\n"
    )
    [file] = run(load_project(project)).files
    assert (file.status, file.new_columns) == ("loaded", ["Shoe Size"])
    assert rows(
        project,
        "SELECT new_columns FROM tidegate.files WHERE status = 'loaded' ORDER BY started_at DESC LIMIT 1",
    ) == [('["Shoe Size"]',)]
    assert rows(project, 'SELECT "ID", "Shoe Size" FROM raw.people ORDER BY "_file_id" DESC') in (
        [("2", "44"), ("1", None)],
        [("1", None), ("2", "44")],
    )


def test_cli_run_json_and_exit_codes(project: Path) -> None:
    land(project, "people_1.csv", people_csv(ADA))
    land(project, "stray.txt", "hello\n")
    done = tidegate(project, "run", "--json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    statuses = {f["name"]: f["status"] for f in report["files"]}
    assert statuses == {"people_1.csv": "loaded", "stray.txt": "rejected"}
    assert set(report["files"][0]) >= {
        "name",
        "source",
        "status",
        "rows_read",
        "rows_loaded",
        "rows_quarantined",
        "error",
    }
    again = tidegate(project, "run", "--json")
    assert (again.returncode, json.loads(again.stdout)["files"]) == (0, [])


@pytest.mark.parametrize(
    ("files", "where"),
    [
        (
            {"targets/people.yml": "columns:\n  id: {type: integer, requried: true}\n"},
            "targets/people.yml:2: unknown key 'requried'",
        ),
        (
            {"targets/people.yml": "columns:\n  id: {type: integer, required: maybe}\n"},
            "targets/people.yml:2:",
        ),
    ],
)
def test_config_errors_are_one_line_and_exit_2(
    project: Path, files: dict[str, str], where: str
) -> None:
    write_project(project, files)
    done = tidegate(project, "run")
    assert done.returncode == 2
    assert where in done.stderr.replace("\n", " ")
    assert "Traceback" not in done.stderr


def test_missing_project_file_exits_2(tmp_path: Path) -> None:
    done = tidegate(tmp_path, "check")
    assert done.returncode == 2
    assert "tidegate.yml" in done.stderr and "tidegate init" in done.stderr


def test_check_validates_without_moving_data(project: Path) -> None:
    land(project, "people_1.csv", people_csv(ADA))
    done = tidegate(project, "check")
    assert done.returncode == 0, done.stderr
    assert (project / "landing" / "people_1.csv").exists()


def test_init_then_run_loads_every_sample_file(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    made = tidegate(None, "init", str(root))
    assert made.returncode == 0, made.stderr
    samples = sorted(p.name for p in (root / "landing").iterdir())
    assert samples
    loaded = tidegate(root, "run", "--json")
    assert loaded.returncode == 0, loaded.stderr
    files = json.loads(loaded.stdout)["files"]
    assert sorted(f["name"] for f in files if f["status"] == "loaded") == samples
    assert all(f["rows_read"] == f["rows_loaded"] + f["rows_quarantined"] for f in files)
    again = tidegate(root, "run", "--json")
    assert json.loads(again.stdout)["files"] == []


def test_init_from_files_drafts_a_project_that_loads(tmp_path: Path) -> None:
    data = tmp_path / "incoming"
    data.mkdir()
    (data / "orders_2024-01-31.csv").write_text(
        "Order ID,Amount,Ordered On,Note\n1,9.50,01/31/2024,x\n2,3,02/01/2024,\n", encoding="utf-8"
    )
    (data / "customers.jsonl").write_text(
        '{"id": "c1", "tags": ["a"]}\n{"id": "c2", "tags": []}\n', encoding="utf-8"
    )
    root = tmp_path / "drafted"
    made = tidegate(
        None,
        "init",
        str(root),
        "--from",
        str(data / "orders_2024-01-31.csv"),
        "--from",
        str(data / "customers.jsonl"),
    )
    assert made.returncode == 0, made.stderr
    target = (root / "targets" / "orders.yml").read_text()
    assert "order_id: {type: bigint}" in target
    assert 'amount: {type: "decimal(18,2)"}' in target
    assert 'ordered_on: {type: date, formats: ["%m/%d/%Y"]}' in target
    assert "key: [order_id]" in target
    assert "orders_*.csv.gz" in (root / "sources" / "orders.yml").read_text()
    loaded = tidegate(root, "run", "--json")
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert sorted(f["status"] for f in json.loads(loaded.stdout)["files"]) == ["loaded", "loaded"]
    shutil.rmtree(root)


def test_check_names_mapped_columns_missing_from_a_sample_file(project: Path) -> None:
    land(project, "people_1.csv", "ID,Name\n1,Ada\n")
    done = tidegate(project, "check")
    assert done.returncode == 2
    assert (
        "people_1.csv: source people maps columns ['Born', 'E-mail', 'Full Name']"
        in done.stderr.replace("\n", " ")
    )
    assert (project / "landing" / "people_1.csv").exists()


def test_watch_loads_files_as_they_arrive_and_stops_on_sigterm(project: Path) -> None:
    import signal
    import subprocess
    import sys

    watcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tidegate.cli",
            "watch",
            "--json",
            "--heartbeat",
            "0.5",
            "--project",
            str(project),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: runs_finished(project) >= 1, "the watch's first run")
        arrived = land(project, "people_1.csv", people_csv(ADA))
        wait_until(lambda: not arrived.exists(), "the file is loaded")
    finally:
        watcher.send_signal(signal.SIGTERM)
        out, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 0, err
    runs = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert any(f["status"] == "loaded" for r in runs for f in r["files"])


def test_the_raw_layer_keeps_its_text_compressed_with_zstd(project: Path) -> None:
    """The records as read are written once and seldom read: DuckDB stores their text
    columns with zstd (cheaper to write than its default), the lineage as it chooses."""
    people = [(str(n), f"Person {n}", f"p{n}@example.org", "01/02/1990") for n in range(1, 5001)]
    land(project, "people_1.csv", people_csv(*people))
    [file] = run(load_project(project)).files
    assert (file.status, file.rows_loaded) == ("loaded", 5000)
    storage = rows(
        project,
        "SELECT DISTINCT column_name, compression FROM pragma_storage_info('raw.people')"
        " WHERE segment_type = 'VARCHAR'",
    )
    kinds: dict[str, set[str]] = {}
    for column, compression in storage:
        kinds.setdefault(str(column), set()).add(str(compression))
    for column in ("ID", "Full Name", "E-mail", "Born"):
        assert "ZSTD" in kinds[column] and kinds[column] <= {"ZSTD", "Constant"}, kinds
    assert "ZSTD" not in kinds["_file_id"], kinds
    assert rows(project, 'SELECT "Full Name" FROM raw.people WHERE "ID" = \'4321\'') == [
        ("Person 4321",)
    ]
