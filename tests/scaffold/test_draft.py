"""``tidegate init --from``: a draft that loads its own sample files, whatever they are called.

Each hostile case drafts a project from real files, loads it with the project's loader and
runs it: every sample file must be loaded, row for row.
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import zipfile
from pathlib import Path
from typing import Any

import duckdb
import openpyxl
import pytest
import yaml

from tidegate import scaffold
from tidegate.compute.duckdb import DuckDBEngine
from tidegate.config import load_project
from tidegate.discover.landing import LandingFile
from tidegate.discover.routing import glob_matches
from tidegate.errors import ConfigError
from tidegate.pipeline import RunResult, run

from ..pipeline.conftest import tidegate

PEOPLE = "id,name\n1,Ada\n2,Alan\n"


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def draft_and_run(tmp_path: Path, *files: Path) -> tuple[Path, RunResult]:
    root = tmp_path / "drafted"
    scaffold.draft(root, files)
    return root, run(load_project(root))


def loaded(result: RunResult) -> dict[str, int]:
    assert [f.error for f in result.files if f.status != "loaded"] == []
    return {f.name: f.rows_loaded for f in result.files}


def rows(root: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def only(root: Path, folder: str) -> dict[str, Any]:
    [path] = (root / folder).glob("*.yml")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def probe(name: str) -> LandingFile:
    return LandingFile(Path(name), name, 0, 0.0, "")


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "name",
    [
        "odd\nname.csv",
        "weird[1]*?name.csv",
        "quote\"and'colon: #hash.csv",
        "  leading space & ünïcode 😀.csv",
        "yes.csv",
        "2024-01-31.csv",
    ],
)
def test_a_hostile_file_name_drafts_yaml_that_loads_and_a_glob_that_matches_it(
    tmp_path: Path, name: str
) -> None:
    sample = write(tmp_path / "in", name, PEOPLE)
    root, result = draft_and_run(tmp_path, sample)
    assert loaded(result) == {name: 2}
    source = only(root, "sources")
    assert all(isinstance(glob, str) for glob in source["match"])
    assert glob_matches(source["match"][0], probe(name))
    assert (
        "Drafted from" in (root / "targets" / f"{source['outputs'][0]['target']}.yml").read_text()
    )


def test_a_glob_keeps_glob_characters_of_the_name_literal() -> None:
    glob = scaffold.family_glob("weird[1]*?name.csv")
    assert glob_matches(glob, probe("weird[7]*?name.csv"))
    assert not glob_matches(glob, probe("weird[7]xyname.csv"))
    assert not glob_matches(glob, probe("weird1name.csv"))


def test_hostile_column_names_round_trip_and_stay_distinct(tmp_path: Path) -> None:
    header = '"line\nbreak","say ""hi""",#hash,a: b,yes,null,A b,a_b,,😀,Order-ID'
    sample = write(tmp_path / "in", "cols.csv", header + "\n1,2,3,4,5,6,7,8,9,10,11\n")
    root, result = draft_and_run(tmp_path, sample)
    assert loaded(result) == {"cols.csv": 1}
    target = only(root, "targets")
    names = list(target["columns"])
    assert len(set(names)) == 11
    assert {"yes", "null", "a_b", "a_b_2", "order_id"} <= set(names)
    mapping = only(root, "sources")["outputs"][0]["columns"]
    assert mapping["line_break"] == '"line\nbreak"'
    assert mapping["say_hi"] == '"say ""hi"""'
    [row] = rows(root, 'SELECT "line_break", "say_hi", "order_id" FROM core.cols')
    assert row == (1, 2, 11)


def test_drafting_several_hostile_files_from_the_command_line_then_run_exits_0(
    tmp_path: Path,
) -> None:
    names = ["odd\nname.csv", "weird[1]*?name.csv", "stock.csv", "events_1.csv"]
    # Different contents: a file with the content of one already loaded is a duplicate.
    files = [write(tmp_path / "in", name, f"{PEOPLE}{n},x\n") for n, name in enumerate(names, 3)]
    root = tmp_path / "drafted"
    made = tidegate(None, "init", str(root), *(a for f in files for a in ("--from", str(f))))
    assert made.returncode == 0, made.stderr
    done = tidegate(root, "run", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)["files"]
    assert sorted((f["name"], f["status"], f["rows_loaded"]) for f in report) == sorted(
        (name, "loaded", 3) for name in names
    )


# --------------------------------------------------------------------------- compressed copies


def test_the_globs_take_gzip_and_zip_copies_of_the_same_name(tmp_path: Path) -> None:
    sample = write(tmp_path / "in", "events_1.csv", PEOPLE)
    root = tmp_path / "drafted"
    scaffold.draft(root, [sample])
    landing = root / "landing"
    (landing / "events_x.csv.gz").write_bytes(gzip.compress(b"id,name\n3,Grace\n4,Edsger\n"))
    for zipped, member in (("events_2.csv.zip", "events_2.csv"), ("events_3.zip", "events_3.csv")):
        with zipfile.ZipFile(landing / zipped, "w") as archive:
            archive.writestr(member, f"id,name\n{len(zipped)},Barbara\n9,{member}\n")
    for path in landing.iterdir():  # settled: the run takes them at once
        os.utime(path, (1_000_000_000, 1_000_000_000))
    result = run(load_project(root))
    assert loaded(result) == {
        "events_1.csv": 2,
        "events_x.csv.gz": 2,
        "events_2.csv.zip": 2,
        "events_3.zip": 2,
    }
    assert not glob_matches(only(root, "sources")["match"][0], probe("events_x.json"))


def test_a_compressed_sample_drafts_the_family_of_its_plain_name(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "orders_7.csv.gz").write_bytes(gzip.compress(PEOPLE.encode()))
    with zipfile.ZipFile(folder / "refunds.zip", "w") as archive:
        archive.writestr("refunds_2.csv", PEOPLE)
    assert scaffold.draft_globs([folder / "orders_7.csv.gz", folder / "refunds.zip"]) == [
        ["orders_*.csv", "orders_*.csv.gz", "orders_*.csv.zip", "orders_*.zip"],
        ["refunds_*.csv", "refunds_*.csv.gz", "refunds_*.csv.zip", "refunds_*.zip", "refunds.zip"],
    ]
    _, result = draft_and_run(tmp_path, folder / "orders_7.csv.gz", folder / "refunds.zip")
    assert loaded(result) == {"orders_7.csv.gz": 2, "refunds.zip": 2}


def test_a_family_glob_that_would_catch_another_sample_falls_back_to_the_names(
    tmp_path: Path,
) -> None:
    files = [write(tmp_path / "in", n, PEOPLE) for n in ("a1.csv", "a2b.csv")]
    [first, second] = scaffold.draft_globs(files)
    assert first[0] == "a1.csv" and second[0] == "a*b.csv"


def test_two_samples_with_one_name_are_refused(tmp_path: Path) -> None:
    one = write(tmp_path / "x", "people.csv", PEOPLE)
    other = write(tmp_path / "y", "People.csv", PEOPLE)
    with pytest.raises(ConfigError, match="same name"):
        scaffold.draft(tmp_path / "drafted", [one, other])


def test_a_folder_given_as_a_sample_exits_2_saying_it_is_a_folder(tmp_path: Path) -> None:
    folder = write(tmp_path / "landing" / "hour=00", "people.csv", PEOPLE).parent
    done = tidegate(None, "init", str(tmp_path / "drafted"), "--from", str(folder))
    assert done.returncode == 2
    assert f"{folder}: is a folder: pass one sample file of each kind from it" in (
        done.stderr.replace("\n", "")
    )
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "drafted" / "tidegate.yml").exists()


# --------------------------------------------------------------------------- JSON scalars


@pytest.mark.parametrize("text", ["42", '"just text"', "[1, 2, 3]", "{}"])
def test_a_json_file_without_records_is_refused_naming_the_file(tmp_path: Path, text: str) -> None:
    sample = write(tmp_path / "in", "scalar.json", text)
    root = tmp_path / "drafted"
    with pytest.raises(ConfigError) as caught:
        scaffold.draft(root, [sample])
    assert caught.value.path == sample
    assert "cannot draft" in str(caught.value)
    assert not root.exists()


def test_init_from_a_json_scalar_exits_2_with_one_line(tmp_path: Path) -> None:
    sample = write(tmp_path / "in", "scalar.json", "42\n")
    done = tidegate(None, "init", str(tmp_path / "drafted"), "--from", str(sample))
    assert done.returncode == 2
    assert "scalar.json: cannot draft from this file: it holds no records with fields" in (
        done.stderr.replace("\n", " ")
    )
    assert "found ubigint" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "drafted" / "tidegate.yml").exists()


# --------------------------------------------------------------------------- types


def test_an_excel_true_false_column_is_drafted_boolean_and_loads(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Item ID", "Active", "Zip"])
    sheet.append([1, True, "01234"])
    sheet.append([2, False, "98765"])
    path = tmp_path / "in" / "items.xlsx"
    path.parent.mkdir()
    book.save(path)
    root, result = draft_and_run(tmp_path, path)
    assert loaded(result) == {"items.xlsx": 2}
    columns = only(root, "targets")["columns"]
    assert columns == {
        "item_id": {"type": "bigint"},
        "active": {"type": "boolean"},
        "zip": {"type": "varchar"},  # a leading zero makes it a code, not a number
    }
    assert rows(root, "SELECT item_id, active, zip FROM core.items ORDER BY 1") == [
        (1, True, "01234"),
        (2, False, "98765"),
    ]


def test_text_columns_get_the_narrowest_type_every_value_converts_to(tmp_path: Path) -> None:
    sample = write(
        tmp_path / "in",
        "mixed.csv",
        "n,price,ratio,flag,day,at,word,blank\n"
        "1,9.50,1e3,yes,01/31/2024,2024-01-31 10:00:00,x,\n"
        "-2,3,2.5,No,02/01/2024,2024-02-01 11:30:00,7,\n",
    )
    root, result = draft_and_run(tmp_path, sample)
    assert loaded(result) == {"mixed.csv": 2}
    assert only(root, "targets")["columns"] == {
        "n": {"type": "bigint"},
        "price": {"type": "decimal(18,2)"},
        "ratio": {"type": "double"},
        "flag": {"type": "boolean"},
        "day": {"type": "date", "formats": ["%m/%d/%Y"]},
        "at": {"type": "timestamp"},
        "word": {"type": "varchar"},
        "blank": {"type": "varchar"},
    }


# --------------------------------------------------------------------------- keys


def target_text(root: Path) -> str:
    [path] = (root / "targets").glob("*.yml")
    return path.read_text(encoding="utf-8")


def test_a_pair_is_the_key_when_a_measure_is_unique_by_chance(tmp_path: Path) -> None:
    sample = write(
        tmp_path / "in",
        "stock.csv",
        "warehouse,sku,on_hand\nnorth,A1,5\nsouth,A1,7\nnorth,B2,3\n",
    )
    root, result = draft_and_run(tmp_path, sample)
    assert loaded(result) == {"stock.csv": 3}
    assert only(root, "targets")["key"] == ["warehouse", "sku"]
    assert (
        "# key: warehouse + sku: unique together and filled over 3 rows (neither is alone),"
        " and sku is named like an identifier\n"
    ) in target_text(root)


def test_two_identifiers_together_come_before_an_identifier_and_a_label(tmp_path: Path) -> None:
    sample = write(
        tmp_path / "in",
        "lines.csv",
        "note,order_id,line_no\nx,1,1\ny,1,2\nx,2,1\n",
    )
    root, _ = draft_and_run(tmp_path, sample)
    assert only(root, "targets")["key"] == ["order_id", "line_no"]
    assert "and order_id and line_no are named like identifiers\n" in target_text(root)


def test_a_single_identifier_is_the_key_and_the_comment_says_why(tmp_path: Path) -> None:
    sample = write(tmp_path / "in", "orders.csv", "amount,OrderID\n5,10\n7,11\n")
    root, _ = draft_and_run(tmp_path, sample)
    assert only(root, "targets")["key"] == ["order_id"]
    assert (
        "# key: order_id: unique and filled over 2 rows, and named like an identifier\n"
        in target_text(root)
    )


@pytest.mark.parametrize(
    "text",
    [
        "name,city\nAda,London\nAlan,Wilmslow\n",  # unique, but not named like keys
        "id,name\n1,Ada\n1,Alan\n",  # named like a key, but not unique
        "id,name\n1,Ada\n,Alan\n",  # unique where present, but not filled
        "order_count,total\n1,5\n2,6\n",  # unique measures
    ],
)
def test_no_key_is_proposed_without_a_unique_identifier(tmp_path: Path, text: str) -> None:
    root, result = draft_and_run(tmp_path, write(tmp_path / "in", "things.csv", text))
    assert loaded(result) == {"things.csv": 2}
    assert "key" not in only(root, "targets")
    assert "# key: none proposed: no column or pair of columns is unique" in target_text(root)


# --------------------------------------------------------------------------- wide files


def test_drafting_runs_the_same_few_queries_whatever_the_number_of_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One query per check per column made a file of 10,000 columns take minutes."""
    counted: list[int] = []
    real_execute = DuckDBEngine.execute

    def counting_execute(engine: DuckDBEngine, query: Any, params: Any = ()) -> list[Any]:
        # the drafting's own queries, not the reading's
        counted[-1] += sys._getframe(1).f_globals["__name__"].startswith("tidegate.scaffold")
        return real_execute(engine, query, params)

    monkeypatch.setattr(DuckDBEngine, "execute", counting_execute)
    for width in (3, 300):
        counted.append(0)
        header = ",".join(f"code_{i}" for i in range(width))
        text = header + "\n" + "\n".join(",".join([str(r)] * width) for r in range(2)) + "\n"
        sample = write(tmp_path / f"in{width}", "wide.csv", text)
        scaffold.draft(tmp_path / f"drafted{width}", [sample])
    assert counted[0] == counted[1] <= 4


def test_a_file_of_hundreds_of_columns_drafts_and_loads(tmp_path: Path) -> None:
    width = 400
    header = ",".join(f"col_{i}" for i in range(width))
    body = "\n".join(",".join(str(r * i) for i in range(width)) for r in range(3))
    sample = write(tmp_path / "in", "wide.csv", f"{header}\n{body}\n")
    root, result = draft_and_run(tmp_path, sample)
    assert loaded(result) == {"wide.csv": 3}
    assert len(only(root, "targets")["columns"]) == width
