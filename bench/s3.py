"""An S3 API for the object-store case: moto's server on a loopback port, for the run.

The server is started the first time a case needs it and stopped when the harness exits.
It is not a child of the measured process, so its memory (it holds the uploaded object)
is not counted: only tidegate's is. The object is uploaded before the clock starts.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from bench.postgres import free_port

KEYS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench-only",
    "AWS_REGION": "us-east-1",
}
_server: list[str] = []


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def endpoint() -> str:
    """The running server's URL, started on first use."""
    if _server:
        return _server[0]
    beside = Path(sys.executable).with_name("moto_server")
    command = str(beside) if beside.exists() else shutil.which("moto_server")
    if command is None:
        raise RuntimeError("moto_server is not installed (pip install 'moto[server]')")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [command, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,  # it logs every request; a pipe nobody reads would stall it
        stderr=subprocess.DEVNULL,
    )
    atexit.register(process.terminate)
    deadline = time.monotonic() + 60
    while not _answers(url):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"moto_server did not start on {url}")
        time.sleep(0.1)
    _server.append(url)
    return url


def bucket() -> str:
    """A new, empty bucket on the server."""
    name = f"bench-{uuid.uuid4().hex[:12]}"
    _fs().mkdir(name)
    return name


def upload(source: Path, url: str) -> None:
    """Put a local file at ``s3://bucket/key``, streamed in parts."""
    _fs().put_file(str(source), url.removeprefix("s3://"))


def _fs() -> Any:
    import s3fs

    return s3fs.S3FileSystem(
        endpoint_url=endpoint(),
        key=KEYS["AWS_ACCESS_KEY_ID"],
        secret=KEYS["AWS_SECRET_ACCESS_KEY"],
        skip_instance_cache=True,
    )


def project_lines(name: str) -> tuple[str, str]:
    """tidegate.yml lines putting landing, archive and rejected in a new bucket, and the
    ``.env`` that gives the endpoint and the keys."""
    where = bucket()
    lines = "".join(
        f"{folder}: s3://{where}/{folder}/\n" for folder in ("landing", "archive", "rejected")
    )
    env = "".join(f"{k}={v}\n" for k, v in {**KEYS, "AWS_ENDPOINT_URL": endpoint()}.items())
    return lines, env
