"""Erasure leaves no bytes behind: the raw bytes of every warehouse file, every archive of
every format, rejected/, the logs and .tidegate/ hold none of the erased values, in any
encoding an input had; everyone else's rows stay as they were."""

from __future__ import annotations

import gzip
import io
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from .conftest import CUSTOMER_SOURCE, CUSTOMERS_CSV, jsonl, rows_of, shop_on, tidegate, write

# One person per input encoding and format, all erased by one request file (one run, one
# rewrite of the storage). Alan (000002) is in every file too, and stays.
HEADER = "ID,Name,Email,Phone,Born,City\n"
ALAN = "000002,Alan Turing,alan@example.org,+44 20 7946 0002,1912-06-23,Wilmslow\n"
PEOPLE = {
    "ada": ("067318", "Ada Lovelace", "ada@example.org", "+44 20 7946 0001"),
    "zoe": ("071111", "Zoé Ærøskøbing", "zoé@exämple.org", "+45 6252 0001"),
    "umit": ("072222", "Ümit Çelik Ğüneş", "umit@örnek.com.tr", "+90 212 555 0002"),
    "pat": ("073333", "Pat Quirinus Parquet", "pat@example.net", "+1 415 555 0003"),
    "kim": ("074444", "Kim Xavier Sheets", "kim@example.com", "+82 2 555 0004"),
    "rex": ("075555", "Rex Rejected Rowe", "rex@example.com", "+33 1 55 55 0005"),
}
ENCODINGS = ("utf-8", "latin-1", "utf-16-le", "utf-16-be")

PARQUET_SOURCE = CUSTOMER_SOURCE.replace('"customers*.csv"', '"clients*.parquet"')
EXCEL_SOURCE = CUSTOMER_SOURCE.replace('"customers*.csv"', '"clients*.xlsx"')
EXTRA = {"sources/clients_parquet.yml": PARQUET_SOURCE, "sources/clients_excel.yml": EXCEL_SOURCE}


def line(person: str) -> str:
    key, name, email, phone = PEOPLE[person]
    return f"{key},{name},{email},{phone},1900-01-01,Somewhere\n"


def record(person: str) -> dict[str, str]:
    key, name, email, phone = PEOPLE[person]
    return {"ID": key, "Name": name, "Email": email, "Phone": phone, "Born": "1900-01-01"}


def parquet(people: list[str]) -> bytes:
    records = [record(p) | {"City": "Somewhere"} for p in people]
    out = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(records), out, compression="zstd")
    return out.getvalue()


def workbook(people: list[str]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER.strip().split(","))
    for person in people:
        sheet.append(line(person).strip().split(","))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def land(root: Path) -> None:
    landing = root / "landing"
    (landing / "customers_2.csv").write_bytes((HEADER + line("zoe")).encode("latin-1"))
    utf16 = HEADER + line("umit") + ALAN.replace("000002", "000012")
    (landing / "customers_3.csv").write_bytes(utf16.encode("utf-16"))  # with its BOM
    (landing / "clients_1.parquet").write_bytes(parquet(["pat", "ada"]))
    (landing / "clients_2.xlsx").write_bytes(workbook(["kim"]))
    # rejected: no Email column; Rex is known by his id only, Alan stays as he was
    key, name, _, phone = PEOPLE["rex"]
    bad = f"ID,Name,Phone\n{key},{name},{phone}\n000002,Alan Turing,+44 20 7946 0002\n"
    (landing / "customers_bad.csv").write_bytes(bad.encode("utf-8"))


def requests() -> str:
    return jsonl([{"customer-id": p[0], "email": p[2]} for p in PEOPLE.values()])


def needles() -> list[bytes]:
    """Every erased value (but the id, which is short: searched on its own), in every
    encoding an input had."""
    found = []
    for key, name, email, phone in PEOPLE.values():
        for value in (key, name, email, phone):
            for encoding in ENCODINGS:
                try:
                    found.append(value.encode(encoding))
                except UnicodeEncodeError:
                    continue
    return sorted(set(found))


def files_under(root: Path) -> Iterator[Path]:
    yield from (p for p in sorted(root.rglob("*")) if p.is_file())


def contents(path: Path) -> Iterator[bytes]:
    """The file's bytes, and what it holds decompressed (gzip, a zip's members)."""
    data = path.read_bytes()
    yield data
    if data[:2] == b"\x1f\x8b":
        yield from [gzip.decompress(data)]
    if data[:2] == b"PK":
        import zipfile

        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            yield from (archive.read(name) for name in archive.namelist())


def parquet_values(path: Path) -> list[Any]:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    table = pq.read_table(io.BytesIO(data))
    return [v for column in table.to_pydict().values() for v in column]


def found_in(paths: list[Path], wanted: list[bytes]) -> list[tuple[str, bytes]]:
    return [
        (str(path), needle)
        for path in paths
        for data in contents(path)
        for needle in wanted
        if needle in data
    ]


def postgres_files(url: str) -> list[Path]:
    """The files of every table of the warehouse's database, its TOAST tables and
    indexes, after a checkpoint (so every dirty page is on disk)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        con.execute("CHECKPOINT")
        [(data,)] = con.execute("SHOW data_directory").fetchall()
        rows = con.execute(
            "SELECT pg_relation_filepath(c.oid) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 't', 'i', 'm')"
            " AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
            " AND pg_relation_filepath(c.oid) IS NOT NULL"
        ).fetchall()
    paths = []
    for (relative,) in rows:
        base = Path(data) / relative
        paths += [p for p in base.parent.glob(base.name + "*") if p.is_file()]
    return paths


def warehouse_files(root: Path, line_: str) -> list[Path]:
    if "postgres" in line_:
        url = line_.split('url: "')[1].split('"')[0]
        return postgres_files(url)
    return [p for p in root.iterdir() if p.is_file() and p.name.startswith("warehouse.")]


def others(root: Path) -> dict[str, Any]:
    """Everyone else's rows: the customers that stay, every order of theirs."""
    erased = {p[0] for p in PEOPLE.values()}
    customers = [r for r in rows_of(root, "core", "customers") if r["id"] not in erased]
    orders = [r for r in rows_of(root, "core", "orders") if r["customer_id"] not in {*erased, None}]
    return {"customers": customers, "orders": orders}


def test_no_erased_byte_is_left_anywhere_and_the_others_stay(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    line_ = warehouse()
    root = shop_on(tmp_path / "shop", line_, EXTRA)
    land(root)
    loaded = tidegate(root, "run")
    assert loaded.returncode == 1, loaded.stderr  # the rejected file
    statuses = {Path(r["path"]).name: r["status"] for r in rows_of(root, "meta", "files")}
    assert statuses["customers_bad.csv"] == "rejected", statuses
    assert sum(s == "loaded" for s in statuses.values()) == 6, statuses
    wanted = needles()
    assert found_in(warehouse_files(root, line_), [PEOPLE["pat"][0].encode()])  # it was there
    before = others(root)

    write(root / "landing", {"erasure_requests_1.jsonl": requests()})
    done = tidegate(root, "run")
    assert done.returncode == 0, done.stderr
    report = tidegate(root, "report", "--out", str(root / "out" / "report.html"))
    assert report.returncode == 0, report.stderr

    assert found_in(warehouse_files(root, line_), wanted) == []
    assert found_in(list(files_under(root / "archive")), wanted) == []
    assert found_in(list(files_under(root / "rejected")), wanted) == []
    assert found_in(list(files_under(root / ".tidegate")), wanted) == []
    assert found_in(list(files_under(root / "out")), wanted) == []
    assert not [n for n in wanted if n in (done.stdout + done.stderr).encode()]
    assert others(root) == before
    assert [r["rewritten_at"] is not None for r in rows_of(root, "meta", "erasure_rewrites")] == [
        True
    ]
    kept = [p for p in files_under(root / "archive") if p.name.startswith("clients_1")]
    assert [v for v in parquet_values(kept[0]) if v is not None] == []  # both were erased
    rejected = (root / "rejected" / "customers_bad.csv").read_text(encoding="utf-8")
    assert rejected == "ID,Name,Phone\n,,\n000002,Alan Turing,+44 20 7946 0002\n"


@pytest.mark.parametrize("point", ["rewrite.copied", "rewrite.before_rename"])
def test_a_rewrite_killed_midway_leaves_the_warehouse_whole_and_the_next_erase_finishes(
    shop: Path, point: str
) -> None:
    assert tidegate(shop, "run").returncode == 0
    size = len(rows_of(shop, "core", "orders"))
    killed = tidegate(
        shop, "erase", "--subject", "customer_id=067318", env={"TIDEGATE_FAULT": point}
    )
    assert killed.returncode == -9, killed.stderr
    # the erasure committed before the rewrite began: the warehouse opens, whole
    assert len(rows_of(shop, "core", "orders")) == size
    assert [r["id"] for r in rows_of(shop, "core", "customers")] == ["000002"]
    assert rows_of(shop, "meta", "erasure_rewrites") in (None, [])
    file = shop / "warehouse.duckdb"
    again = tidegate(shop, "erase", "--subject", "customer_id=000099")  # anyone, nobody
    assert again.returncode == 0, again.stderr
    assert not (shop / "warehouse.duckdb.rewrite").exists()
    assert b"067318" not in file.read_bytes()
    assert len(rows_of(shop, "core", "orders")) == size
    assert len(rows_of(shop, "meta", "erasure_rewrites")) == 1


def test_without_the_rewrite_duckdb_keeps_the_erased_bytes(shop: Path) -> None:
    """What the rewrite is for: the same erasure, deferred, leaves the id in the file."""
    assert tidegate(shop, "run").returncode == 0
    done = tidegate(shop, "erase", "--subject", "customer_id=067318", "--no-rewrite", "--json")
    assert json.loads(done.stdout)["storage"] == "deferred"
    assert b"067318" in (shop / "warehouse.duckdb").read_bytes()
    assert tidegate(shop, "run").returncode == 0  # the next run rewrites
    assert b"067318" not in (shop / "warehouse.duckdb").read_bytes()


def test_csv_rewrite_keeps_every_other_record_byte_for_byte(shop: Path) -> None:
    quoted = CUSTOMERS_CSV.replace("Alan Turing", '"Alan Turing"').replace("\n", "\r\n")
    write(shop / "landing", {"customers_1.csv": ""})
    (shop / "landing" / "customers_1.csv").write_bytes(quoted.encode())
    assert tidegate(shop, "run").returncode == 0
    assert tidegate(shop, "erase", "--subject", "customer_id=067318").returncode == 0
    [archived] = [p for p in files_under(shop / "archive") if p.name.startswith("customers_1")]
    text = gzip.decompress(archived.read_bytes()).decode()
    lines = quoted.splitlines(keepends=True)
    assert text.splitlines(keepends=True) == [lines[0], ",,,,,\r\n", *lines[2:]]
    assert os.path.getsize(archived) > 0
