"""The runs that matter, on a local folder and on S3, from one body each.

Each test gets its project's landing, archive and rejected either as local folders or
as prefixes of a fresh bucket on a real S3 API (moto's server), and asserts the same
outcomes: exactly once, duplicates, crash and rerun, concurrent runs, rejection, the
archive layout and erasure of archived copies.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlglot import exp
from tests.pipeline.conftest import (
    PEOPLE_SOURCE,
    PEOPLE_TARGET,
    SNAPSHOT_TABLES,
    _table_rows,
    people_csv,
    tidegate,
)
from tests.privacy.conftest import CUSTOMERS_CSV, FILES, ORDERS_JSONL, jsonl
from tests.privacy.conftest import keys as privacy_keys  # noqa: F401  (autouse: secrets)

from tidegate.checking import check_samples
from tidegate.clock import utcnow
from tidegate.config import load_project
from tidegate.pipeline import run
from tidegate.sql import col, table
from tidegate.store.fsspec import FsspecStore
from tidegate.warehouse import connect
from tidegate.warehouse import ledger as ledger_table

from .conftest import Place, PlaceMaker

ADA = ("1", "Ada", "ada@example.org", "12/10/1815")
ALAN = ("2", "Alan", "alan@example.org", "06/23/1912")
GRACE = ("3", "Grace", "grace@example.org", "12/09/1906")
BAD = ("9", "", "bad", "x")

PROJECT = "warehouse: {type: duckdb, path: warehouse.duckdb}\nsettle_seconds: 0\n"


def write_project(place: Place, files: dict[str, str] | None = None) -> Place:
    contents = {
        "tidegate.yml": PROJECT + place.config(),
        "targets/people.yml": PEOPLE_TARGET,
        "sources/people.yml": PEOPLE_SOURCE,
        **(files or {}),
    }
    for name, text in contents.items():
        path = place.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return place


def ledger(place: Place, *columns: str) -> list[tuple[Any, ...]]:
    with connect(load_project(place.root)) as wh:
        query = exp.select(*[col(c) for c in columns]).from_(table(ledger_table.FILES, "tidegate"))
        found = wh.execute(query.order_by(col("path")))
    return [tuple(row) for row in found]


def snapshot(place: Place) -> dict[str, Any]:
    """Tables and folders, minus times, run ids and the bucket's name."""
    state: dict[str, Any] = {}
    with connect(load_project(place.root)) as wh:
        for schema, name in SNAPSHOT_TABLES:
            state[f"{schema}.{name}"] = _table_rows(wh, schema, name)
    for folder in ("landing", "archive", "rejected"):
        state[folder] = place.folder(folder)
    text = json.dumps(state, sort_keys=True)
    return json.loads(text.replace(place.bucket, "BUCKET") if place.bucket else text)


def test_each_file_loads_exactly_once_and_a_renamed_copy_is_a_duplicate(place: Place) -> None:
    write_project(place)
    place.land("people_1.csv", people_csv(ADA, ALAN, BAD))
    [file] = run(load_project(place.root)).files
    assert (file.status, file.rows_read, file.rows_loaded, file.rows_quarantined) == (
        "loaded",
        3,
        2,
        1,
    )
    assert place.folder("landing") == {}
    before = snapshot(place)

    assert run(load_project(place.root)).files == []
    place.land("renamed/copy_of_people.csv", people_csv(ADA, ALAN, BAD))
    sources = {"sources/people.yml": PEOPLE_SOURCE.replace('"people*.csv"', '"*people*.csv"')}
    write_project(place, sources)
    [again] = run(load_project(place.root)).files

    assert again.status == "duplicate"
    after = snapshot(place)
    assert after["core.people"] == before["core.people"]
    assert after["tidegate.quarantine"] == before["tidegate.quarantine"]
    assert place.folder("landing") == {}
    assert len(place.folder("archive")) == 2  # the copy is archived too, beside the first


@pytest.mark.parametrize(
    "fault", ["read:2", "commit:1", "committed:2", "copied:1", "copied:3", "archived:2"]
)
def test_a_killed_run_and_a_rerun_equal_one_clean_run(new_place: PlaceMaker, fault: str) -> None:
    def prepared(name: str) -> Place:
        place = write_project(new_place(name))
        place.land("people_1.csv", people_csv(ADA))
        place.land("people_2.csv", people_csv(ALAN, BAD))
        place.land("more/people_3.csv", people_csv(GRACE))
        place.land("people_copy.csv", people_csv(ADA))
        return place

    clean = prepared("clean")
    assert tidegate(clean.root, "run").returncode == 0
    crashed = prepared("crashed")
    killed = tidegate(crashed.root, "run", env={"TIDEGATE_FAULT": fault})
    assert killed.returncode == -9, killed.stderr
    rerun = tidegate(crashed.root, "run")
    assert rerun.returncode == 0, rerun.stderr
    assert snapshot(crashed) == snapshot(clean)
    assert not list((crashed.root / ".tidegate").glob("spool/*"))  # the dead run's copies


def test_a_copy_cut_before_its_delete_is_finished_not_taken_for_a_duplicate(
    place: Place,
) -> None:
    write_project(place)
    place.land("people_1.csv", people_csv(ADA))
    killed = tidegate(place.root, "run", env={"TIDEGATE_FAULT": "copied:1"})
    assert killed.returncode == -9, killed.stderr
    assert list(place.folder("landing")) == ["people_1.csv"]  # archived, but not yet removed
    assert len(place.folder("archive")) == 1

    assert tidegate(place.root, "run").returncode == 0

    assert place.folder("landing") == {}
    assert len(place.folder("archive")) == 1
    assert ledger(place, "path", "status") == [("people_1.csv", "loaded")]


def test_two_runs_at_once_load_each_file_exactly_once(place: Place) -> None:
    write_project(place)
    for n in range(12):
        place.land(f"people_{n:02}.csv", people_csv((str(n), f"P{n}", f"p{n}@x.org", "01/01/2000")))
    command = [sys.executable, "-m", "tidegate.cli", "run", "--json", "--project", str(place.root)]
    both = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outcomes = [p.communicate(timeout=300) for p in both]
    assert [p.returncode for p in both] == [0, 0], [err for _, err in outcomes]
    loaded = [path for path, status in ledger(place, "path", "status") if status == "loaded"]
    assert loaded == [f"people_{n:02}.csv" for n in range(12)]
    with connect(load_project(place.root)) as wh:
        ids = sorted(
            int(r[0]) for r in wh.execute(exp.select(col("id")).from_(table("people", "core")))
        )
    assert ids == list(range(12))
    assert place.folder("landing") == {}
    assert len(place.folder("archive")) == 12


def test_a_rejected_file_goes_to_rejected_with_its_reason(place: Place) -> None:
    write_project(place)
    place.land("orders.csv", "a,b\n1,2\n")
    place.land("people_1.csv", people_csv(ADA))

    files = {f.name: f for f in run(load_project(place.root)).files}

    assert files["orders.csv"].status == "rejected"
    assert files["people_1.csv"].status == "loaded"  # one bad file never stops the others
    texts = place.texts("rejected")
    assert sorted(texts) == ["orders.csv", "orders.csv.reason.txt"]
    assert texts["orders.csv"] == "a,b\n1,2\n"
    assert "matches no source" in texts["orders.csv.reason.txt"]
    [(stored,)] = ledger(place, "archive_path")[:1]
    assert stored == place.store("rejected").location("orders.csv") or stored.endswith(
        "rejected/orders.csv"
    )


def test_the_archive_layout_is_source_date_name(place: Place) -> None:
    write_project(
        place, {"sources/people.yml": PEOPLE_SOURCE.replace('"people*.csv"', '"people*"')}
    )
    place.land("people_1.csv", people_csv(ADA))
    place.land("date=2026-01-02/people_2.csv", people_csv(ALAN))
    place.land("people_3.csv.gz", gzip_bytes(people_csv(GRACE)))
    today = utcnow()

    assert {f.status for f in run(load_project(place.root)).files} == {"loaded"}

    day = f"people/{today:%Y}/{today:%m}/{today:%d}"
    archived = place.folder("archive")
    assert sorted(archived) == [
        f"{day}/people_1.csv.gz",
        f"{day}/people_2.csv.gz",
        f"{day}/people_3.csv.gz",
    ]
    archive = place.store("archive")
    stored = sorted(path for (path,) in ledger(place, "archive_path"))
    if place.bucket:
        assert stored == sorted(archive.location(key) for key in archived)
    else:
        assert stored == sorted(f"archive/{key}" for key in archived)
    assert place.folder("landing") == {}


def gzip_bytes(text: str) -> bytes:
    import gzip

    return gzip.compress(text.encode("utf-8"))


ADA_VALUES = ["Ada Lovelace", "ada@example.org", "+44 20 7946 0001"]


def test_erasure_rewrites_the_archived_copies(place: Place) -> None:
    files = dict(FILES)
    files["tidegate.yml"] = FILES["tidegate.yml"] + place.config()
    for name, text in files.items():
        path = place.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    place.land("customers_1.csv", CUSTOMERS_CSV)
    place.land("orders_1.jsonl", jsonl(ORDERS_JSONL))
    assert {f.status for f in run(load_project(place.root)).files} == {"loaded"}
    place.land("again/customers_1.csv", CUSTOMERS_CSV)  # a re-delivered copy
    assert [f.status for f in run(load_project(place.root)).files] == ["duplicate"]
    assert any("Ada Lovelace" in text for text in place.texts("archive").values())

    done = tidegate(place.root, "erase", "--subject", "customer_id=067318", "--json")

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert len(report["touched"]["archives"]) == 3
    texts = place.texts("archive")
    assert len(texts) == 3
    assert [(k, v) for k, t in texts.items() for v in ADA_VALUES if v in t] == []
    assert any("Alan Turing" in text for text in texts.values())


def test_an_object_is_downloaded_once(
    place: Place, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Hashing, routing by columns, reading and archiving all use the one spooled copy."""
    opened: list[str] = []
    real = FsspecStore.open

    def counted(self: FsspecStore, key: str) -> Any:
        opened.append(key)
        return real(self, key)

    monkeypatch.setattr(FsspecStore, "open", counted)
    write_project(
        place,
        {
            "sources/people.yml": PEOPLE_SOURCE.replace(
                'match: "people*.csv"', "match: {columns: [ID, Full Name, E-mail, Born]}"
            )
        },
    )
    place.land("people_1.csv", people_csv(ADA, ALAN))
    place.land("people_2.csv", people_csv(GRACE))

    files = run(load_project(place.root)).files

    assert [f.status for f in files] == ["loaded", "loaded"]
    assert sorted(opened) == ([] if place.bucket is None else ["people_1.csv", "people_2.csv"])
    assert not list((place.root / ".tidegate").glob("spool/*"))


def test_check_reads_the_sample_files_where_landing_is(place: Place) -> None:
    write_project(place)
    place.land("orders.csv", "a,b\n1,2\n")
    place.land("people_1.csv", "id,name\n1,Ada\n")  # the source maps columns it lacks

    problems = check_samples(load_project(place.root))

    assert len(problems) == 2, problems
    assert any("orders.csv" in p and "matches no source" in p for p in problems), problems
    assert any(p.startswith("people_1.csv: source people maps columns") for p in problems)
    assert place.folder("landing").keys() == {"orders.csv", "people_1.csv"}  # nothing moved
    assert not list((place.root / ".tidegate" / "spool").glob("*/*"))  # copies removed


def test_the_dagster_sensor_sees_new_files_where_landing_is(place: Place) -> None:
    import dagster as dg

    from tidegate.dagster import tidegate_sensor

    write_project(place)
    sensor = tidegate_sensor(place.root)
    with dg.instance_for_test() as instance:

        def tick(cursor: str | None) -> dg.SensorResult:
            result = sensor(dg.build_sensor_context(instance=instance, cursor=cursor))
            assert isinstance(result, dg.SensorResult)
            return result

        empty = tick(None)
        assert not empty.run_requests
        place.land("people_1.csv", people_csv(ADA))
        first = tick(empty.cursor)
        assert [len(r.asset_selection or []) for r in first.run_requests or []] == [1]
        assert not tick(first.cursor).run_requests  # asked once
    assert not list((place.root / ".tidegate" / "spool").glob("*/*"))  # copies removed
