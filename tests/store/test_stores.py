"""The Store protocol, one body per behaviour, on a local folder and on S3 (moto's server)."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pytest

from tidegate.discover.landing import scan, stable_entries
from tidegate.store import LocalStore, Store, fsspec_options, open_store
from tidegate.store.fsspec import FsspecStore
from tidegate.store.spool import Spool

from .conftest import Place


def test_write_list_open_and_delete(place: Place) -> None:
    store = place.store("landing")
    assert store.entries() == []
    store.write("a/b.csv", b"x,y\n1,2\n")
    store.write("c.csv", io.BytesIO(b"z\n" * 100_000))  # a stream, copied in chunks

    entries = store.entries()

    assert [(e.key, e.size) for e in entries] == [("a/b.csv", 8), ("c.csv", 200_000)]
    assert all(e.mtime > time.time() - 3600 for e in entries)
    assert (entries[0].etag is not None) == (place.bucket is not None)
    with store.open("a/b.csv") as handle:
        assert handle.read() == b"x,y\n1,2\n"
    assert store.exists("c.csv") and not store.exists("nope.csv")
    assert store.stat("nope.csv") is None
    store.delete("c.csv")
    store.delete("c.csv")  # gone already: not an error
    assert [e.key for e in store.entries()] == ["a/b.csv"]


def test_a_failed_write_leaves_nothing(place: Place) -> None:
    store = place.store("archive")
    with pytest.raises(RuntimeError), store.writer("x.csv.gz") as handle:
        handle.write(b"half of it")
        raise RuntimeError("the copy broke")
    assert store.entries() == []


def test_move_renames_locally_and_copies_then_deletes_on_s3(place: Place) -> None:
    landing, archive = place.store("landing"), place.store("archive")
    landing.write("in/p.csv", b"id\n1\n")

    assert landing.moves_to(archive)  # a rename, or a copy inside the store: no download
    landing.move("in/p.csv", archive, "people/p.csv")

    assert landing.entries() == []
    with archive.open("people/p.csv") as handle:
        assert handle.read() == b"id\n1\n"
    assert (place.bucket is None) == type(landing).RENAMES


def test_a_move_between_a_bucket_and_a_folder_streams(place: Place, tmp_path: Path) -> None:
    folder = LocalStore(tmp_path / "elsewhere")
    store = place.store("landing")
    store.write("p.csv", b"id\n1\n")

    store.move("p.csv", folder, "q/p.csv")

    assert store.entries() == [] and (tmp_path / "elsewhere" / "q" / "p.csv").read_bytes() == (
        b"id\n1\n"
    )


def test_scan_hashes_each_object_into_the_spool_once(place: Place) -> None:
    store = place.store("landing")
    store.write("date=2026-01-01/a.csv", b"x\n1\n")
    store.write("b.csv", b"x\n1\n")
    store.write(".hidden.csv", b"junk")
    store.write("c.csv.part", b"junk")
    spool = Spool(place.root / ".tidegate" / "spool")

    files = scan(store, 0, spool)

    assert [f.relative for f in files] == ["b.csv", "date=2026-01-01/a.csv"]
    assert files[0].sha256 == files[1].sha256
    assert files[1].partitions == {"date": "2026-01-01"}
    assert files[0].name == "b.csv" and files[0].path.name == "b.csv"
    assert files[0].path.read_bytes() == b"x\n1\n"
    assert spool.holds(files[0].path) == (place.bucket is not None)
    assert all(f.present() for f in files)
    spool.close()
    assert not (place.root / ".tidegate" / "spool").exists()


def test_an_object_still_being_replaced_is_not_taken(place: Place) -> None:
    store = place.store("landing")
    store.write("quiet.csv", b"x\n1\n")
    store.write("busy.csv", b"x\n")
    stop = threading.Event()

    def rewrite() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            store.write("busy.csv", b"x\n" + b"1\n" * n)  # new size and etag each time
            time.sleep(0.05)

    writer = threading.Thread(target=rewrite)
    writer.start()
    try:
        taken = stable_entries(store, 1.2)
    finally:
        stop.set()
        writer.join()
    assert [e.key for e in taken] == ["quiet.csv"]
    assert [e.key for e in stable_entries(store, 0)] == ["busy.csv", "quiet.csv"]


def test_a_dead_runs_spool_is_swept(tmp_path: Path) -> None:
    base = tmp_path / "spool"
    (base / "999999999-abc" / "1").mkdir(parents=True)
    live = Spool(base)
    live.folder.mkdir(parents=True)

    live.sweep()

    assert [p.name for p in base.iterdir()] == [live.folder.name]


def test_s3_options_come_from_storage_then_the_aws_variables() -> None:
    env = {
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
        "AWS_REGION": "eu-west-1",
    }
    options = fsspec_options("s3", {"endpoint_url": "http://given"}, env)
    assert options == {
        "endpoint_url": "http://given",
        "key": "k",
        "secret": "s",
        "client_kwargs": {"region_name": "eu-west-1"},
    }
    assert fsspec_options("gs", {"project": "p"}, env) == {"project": "p"}


def test_local_paths_and_file_urls_are_local_stores(tmp_path: Path) -> None:
    for location in ("in", str(tmp_path / "in"), f"file://{tmp_path}/in"):
        store = open_store(location, root=tmp_path)
        assert isinstance(store, LocalStore) and store.root == tmp_path / "in"
        assert isinstance(store, Store)


def test_an_fsspec_store_without_its_package_says_which(tmp_path: Path) -> None:
    from tidegate.errors import StoreUnavailable

    try:
        import gcsfs  # noqa: F401
    except ImportError:
        with pytest.raises(StoreUnavailable) as caught:
            open_store("gs://bucket/landing/", root=tmp_path, setting="landing")
        assert str(caught.value).startswith("landing: gs://bucket/landing/: ")
        assert "gcsfs" in str(caught.value)
    else:
        assert isinstance(open_store("gs://b/l/", root=tmp_path), FsspecStore)
