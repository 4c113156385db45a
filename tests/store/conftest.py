"""A real S3 API for the store tests: moto's server on a loopback port, one per session.

``s3_server`` (session)
    The endpoint URL of a moto S3 server that takes any credentials.
``s3_strict_server`` (session)
    The endpoint URL of a moto server that checks credentials (``INITIAL_NO_AUTH_ACTION_COUNT=0``):
    keys it never issued are refused, as a real S3 refuses them.
``bucket`` (function)
    A fresh bucket on ``s3_server``, named for the test.

When a server cannot start, the tests that use it are skipped with the reason, except under
``CI=true``, where they fail: CI must never pass by skipping them.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest
from bench.postgres import free_port
from tests.conftest import unavailable

from tidegate.store import Store, open_store

KEYS = {  # moto's own test credentials; the servers listen on 127.0.0.1 only
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing-secret-never-shown",
    "AWS_DEFAULT_REGION": "us-east-1",
}
START_SECONDS = 60.0


def _unavailable(reason: str) -> None:
    unavailable("the moto S3 server", reason)


def _command() -> list[str] | None:
    beside = Path(sys.executable).with_name("moto_server")
    found = str(beside) if beside.exists() else shutil.which("moto_server")
    return [found] if found else None


def _ready(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # it answered
    except OSError:
        return False


def _start(env: dict[str, str]) -> Iterator[str]:
    command = _command()
    if command is None:
        _unavailable("moto_server is not installed (pip install 'moto[server]')")
        return
    # The server logs every request: to a file, since a pipe nobody reads fills and stalls it.
    with tempfile.TemporaryFile(prefix="tidegate-moto-") as log:
        yield from _serve(command, env, log)


def _serve(command: list[str], env: dict[str, str], log: IO[bytes]) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [*command, "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **env},
    )
    deadline = time.monotonic() + START_SECONDS
    while not _ready(url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            log.seek(0)
            error = log.read().decode(errors="replace")
            _unavailable(f"it did not start on {url}: {error.strip()[-300:]}")
        time.sleep(0.1)
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    yield from _start({})


@pytest.fixture(scope="session")
def s3_strict_server() -> Iterator[str]:
    yield from _start({"INITIAL_NO_AUTH_ACTION_COUNT": "0"})


@pytest.fixture
def s3_env(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment a project on ``s3_server`` runs with (also for subprocesses): keys
    from the AWS variables, the endpoint through ``storage: {endpoint_url: ${S3_ENDPOINT}}``."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    env = {**KEYS, "S3_ENDPOINT": s3_server}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def new_bucket(endpoint: str) -> str:
    import s3fs

    name = f"tg-{uuid.uuid4().hex[:16]}"
    fs = s3fs.S3FileSystem(
        endpoint_url=endpoint,
        key=KEYS["AWS_ACCESS_KEY_ID"],
        secret=KEYS["AWS_SECRET_ACCESS_KEY"],
        skip_instance_cache=True,
    )
    fs.mkdir(name)
    return name


@pytest.fixture
def bucket(s3_env: dict[str, str]) -> str:
    return new_bucket(s3_env["S3_ENDPOINT"])


# --------------------------------------------------------------------------- places

FOLDERS = ("landing", "archive", "rejected")


class Place:
    """Where a test project's landing, archive and rejected live: local folders or S3."""

    def __init__(self, kind: str, root: Path, bucket: str | None = None) -> None:
        self.kind, self.root, self.bucket = kind, root, bucket

    def __repr__(self) -> str:
        return f"Place({self.kind})"

    def config(self) -> str:
        """The lines of tidegate.yml that put the folders here."""
        if self.bucket is None:
            return ""
        lines = [f"{name}: s3://{self.bucket}/{name}/" for name in FOLDERS]
        return "\n".join([*lines, "storage:", "  endpoint_url: ${S3_ENDPOINT}", ""])

    def store(self, folder: str) -> Store:
        location = (
            str(self.root / folder) if self.bucket is None else f"s3://{self.bucket}/{folder}/"
        )
        return open_store(location, root=self.root, setting=folder, storage=self._storage())

    def _storage(self) -> dict[str, str]:
        return {"endpoint_url": os.environ["S3_ENDPOINT"]} if self.bucket else {}

    def land(self, name: str, text: str | bytes) -> None:
        data = text.encode("utf-8") if isinstance(text, str) else text
        self.store("landing").write(name, data)

    def keys(self, folder: str) -> list[str]:
        """The keys in a folder, listed only: safe to poll while a run moves them away."""
        return [entry.key for entry in self.store(folder).entries()]

    def folder(self, folder: str) -> dict[str, str]:
        """Key -> hash of the (decompressed) content of every file in the folder."""
        store = self.store(folder)
        found = {}
        for entry in store.entries():
            with store.open(entry.key) as handle:
                data = handle.read()
            if entry.key.endswith(".gz"):
                data = gzip.decompress(data)
            found[entry.key] = hashlib.sha256(data).hexdigest()
        return found

    def texts(self, folder: str) -> dict[str, str]:
        store = self.store(folder)
        found = {}
        for entry in store.entries():
            with store.open(entry.key) as handle:
                data = handle.read()
            if data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
            found[entry.key] = data.decode("utf-8", errors="replace")
        return found


PlaceMaker = Callable[[str], Place]


@pytest.fixture(params=["local", "s3"])
def new_place(request: pytest.FixtureRequest, tmp_path: Path) -> PlaceMaker:
    """Makes places of one kind: local project folders, then projects whose folders are in
    their own S3 bucket each."""

    def make(name: str) -> Place:
        root = tmp_path / name
        root.mkdir()
        if request.param == "local":
            return Place("local", root)
        request.getfixturevalue("s3_env")
        return Place("s3", root, new_bucket(os.environ["S3_ENDPOINT"]))

    return make


@pytest.fixture
def place(new_place: PlaceMaker) -> Place:
    return new_place("project")
