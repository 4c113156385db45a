"""Discovery: junk, stability, hashing, partitions and routing."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from tidegate.config.models import ColumnMatch, SourceConfig
from tidegate.discover import LandingFile, route, scan
from tidegate.discover.landing import is_junk, partitions_of, stable_entries
from tidegate.errors import RoutingError
from tidegate.store import LocalStore


def write(path: Path, text: str = "a,b\n1,2\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "name",
    [
        ".hidden.csv",
        "._mac.csv",
        "~$excel.xlsx",
        "x.csv.part",
        "x.tmp",
        "x.crdownload",
        ".git/x.csv",
    ],
)
def test_junk_is_skipped(tmp_path: Path, name: str) -> None:
    write(tmp_path / name)
    assert is_junk(Path(name))
    assert scan(LocalStore(tmp_path), 0) == []


def test_scan_recurses_and_reads_partitions(tmp_path: Path) -> None:
    write(tmp_path / "date=2020-01-01" / "hour=07" / "customers.json", '{"id": 1}\n')
    write(tmp_path / "top.csv")
    files = scan(LocalStore(tmp_path), 0)
    assert [f.relative for f in files] == ["date=2020-01-01/hour=07/customers.json", "top.csv"]
    assert files[0].partitions == {"date": "2020-01-01", "hour": "07"}
    assert partitions_of(Path("plain/x.csv")) == {}


def test_identity_is_the_content_hash(tmp_path: Path) -> None:
    a = write(tmp_path / "a.csv", "x\n1\n")
    write(tmp_path / "b.csv", "x\n1\n")
    write(tmp_path / "c.csv", "x\n2\n")
    files = {f.name: f for f in scan(LocalStore(tmp_path), 0)}
    assert files["a.csv"].sha256 == files["b.csv"].sha256 != files["c.csv"].sha256
    assert files["a.csv"].size == a.stat().st_size


def test_a_growing_file_is_not_taken(tmp_path: Path) -> None:
    growing = write(tmp_path / "big.csv", "a\n")
    quiet = write(tmp_path / "quiet.csv")
    old = time.time() - 60
    os.utime(quiet, (old, old))
    stop = threading.Event()

    def append() -> None:
        while not stop.is_set():
            with growing.open("a") as handle:
                handle.write("1\n")
            time.sleep(0.02)

    writer = threading.Thread(target=append)
    writer.start()
    try:
        taken = [e.key for e in stable_entries(LocalStore(tmp_path), 0.3)]
    finally:
        stop.set()
        writer.join()
    assert taken == [quiet.name]
    assert growing.name in [e.key for e in stable_entries(LocalStore(tmp_path), 0.1)]


def landing_file(relative: str) -> LandingFile:
    return LandingFile(Path("/x") / relative, relative, 1, 0.0, "0" * 64)


def no_peek(file: LandingFile, source: SourceConfig) -> list[str]:
    raise AssertionError("globs need no peek")


def test_route_by_glob_on_name_or_path() -> None:
    sources = {
        "nevada": SourceConfig(match="TechnicalExerciseDataSource1*.csv"),
        "customers": SourceConfig(match="date=*/hour=*/customers.json*"),
        "any_tx": SourceConfig(match=["*.tsv", "texas_*.csv"]),
    }
    assert route(landing_file("in/technicalexercisedatasource1.csv"), sources, no_peek) == "nevada"
    assert (
        route(landing_file("date=2020-01-01/hour=00/customers.json.gz"), sources, no_peek)
        == "customers"
    )
    assert route(landing_file("texas_2024.csv"), sources, no_peek) == "any_tx"


def test_route_by_header_columns() -> None:
    sources = {
        "orders": SourceConfig(match=ColumnMatch(columns=["order_id", "amount"])),
        "people": SourceConfig(match=ColumnMatch(columns=["person_id"])),
    }
    header = {"a.csv": ["Order_ID", "Amount", "x"], "b.csv": ["person_id"]}
    peek = lambda file, source: header[file.name]  # noqa: E731
    assert route(landing_file("a.csv"), sources, peek) == "orders"
    assert route(landing_file("b.csv"), sources, peek) == "people"


def test_no_match_and_several_matches_are_rejections() -> None:
    sources = {"a": SourceConfig(match="*.csv"), "b": SourceConfig(match="x*")}
    with pytest.raises(RoutingError, match="matches no source"):
        route(landing_file("y.json"), sources, no_peek)
    with pytest.raises(RoutingError, match=r"matches several sources: \['a', 'b'\]"):
        route(landing_file("x.csv"), sources, no_peek)


def test_priority_breaks_ties() -> None:
    sources = {"a": SourceConfig(match="*.csv"), "b": SourceConfig(match="x*", priority=1)}
    assert route(landing_file("x.csv"), sources, no_peek) == "b"
