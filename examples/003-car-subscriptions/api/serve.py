"""A small HTTP API over source.db: the exercise's cars, customers and subscriptions as JSON.

    python serve.py                 # http://127.0.0.1:8003, until Ctrl-C
    python serve.py --port 9000 --token s3cret   # and ask for `Authorization: Bearer s3cret`

``GET /cars``, ``/customers``, ``/subscriptions`` answer
``{"data": {"items": [...]}, "next": "<token>" | null, "total": N}`` with a
``Link: <...>; rel="next"`` header, and page the way the request asks:
``?page=N`` (from 1), ``?offset=N``, or ``?cursor=<the previous page's next>``, each with
``&limit=N`` (default 100). ``?since=V`` keeps the rows whose cursor column (cars:
registration_date, subscriptions: created_at) is at least V; rows come ordered by it.

For tests, ``Api.faults`` makes the n-th request of a path fail once: ``"500"``, ``"429"``
(with ``Retry-After: 1``), ``"slow"`` (answers after ``slow_seconds``), ``"malformed"`` (not
JSON), ``"missing"`` (no ``data.items``) or ``"hold"`` (waits until ``release`` is set,
after setting ``held``).
"""

from __future__ import annotations

import argparse
import base64
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

DATABASE = Path(__file__).with_name("source.db")
TABLES = {"cars": "registration_date", "customers": None, "subscriptions": "created_at"}


def rows_of(database: Path, name: str, since: str | None) -> list[dict[str, Any]]:
    """A table's rows in a stable order: by its cursor column, then id."""
    column = TABLES[name]
    order = f"{column}, id" if column else "id"
    where, args = (f" WHERE {column} >= ?", [since]) if column and since else ("", [])
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as con:
        con.row_factory = sqlite3.Row
        found = con.execute(f"SELECT * FROM {name}{where} ORDER BY {order}", args).fetchall()
    return [dict(row) for row in found]


def token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o{offset}".encode()).decode()


def offset_of(query: dict[str, str], limit: int) -> int:
    if "cursor" in query:
        return int(base64.urlsafe_b64decode(query["cursor"].encode()).decode()[1:])
    if "offset" in query:
        return int(query["offset"])
    return (int(query.get("page", "1")) - 1) * limit


def next_query(query: dict[str, str], offset: int, limit: int) -> dict[str, str]:
    advanced = dict(query)
    if "page" in query:
        advanced["page"] = str(int(query["page"]) + 1)
    elif "offset" in query:
        advanced["offset"] = str(offset + limit)
    else:
        advanced["cursor"] = token(offset + limit)
    return advanced


@dataclass
class Fault:
    path: str
    at: int  # the n-th request of the path, from 1
    kind: str


@dataclass
class State:
    faults: list[Fault] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)  # path?query of every request
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    slow_seconds: float = 2.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fault(self, path: str) -> str | None:
        with self.lock:
            self.counts[path] = self.counts.get(path, 0) + 1
            for fault in self.faults:
                if fault.path == path and fault.at == self.counts[path]:
                    self.faults.remove(fault)
                    return fault.kind
        return None


class Handler(BaseHTTPRequestHandler):
    server: Api

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return None

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        name = parts.path.strip("/")
        self.server.state.requests.append(self.path)
        if name not in TABLES:
            return self._send(404, {"error": f"no such collection {name!r}"})
        if self.server.token and self.headers.get("Authorization") != f"Bearer {self.server.token}":
            return self._send(401, {"error": "unauthorized"})
        kind = self.server.state.fault(parts.path)
        if kind is not None and self._faulty(kind):
            return None
        self._page(name, dict(parse_qsl(parts.query)))

    def _faulty(self, kind: str) -> bool:
        """Answer as the fault says; False when the request goes on to a normal answer."""
        state = self.server.state
        if kind in ("500", "503"):
            self._send(int(kind), {"error": "the server is having a bad day"})
        elif kind == "429":
            self._send(429, {"error": "slow down"}, {"Retry-After": "1"})
        elif kind == "malformed":
            self._raw(200, b'{"data": {"items": [{"id": ')
        elif kind == "missing":
            self._send(200, {"result": []})
        elif kind == "slow":
            time.sleep(state.slow_seconds)
            return False
        elif kind == "hold":
            state.held.set()
            state.release.wait(30)
            self._send(503, {"error": "held"})
        return True

    def _page(self, name: str, query: dict[str, str]) -> None:
        limit = int(query.get("limit", "100"))
        offset = offset_of(query, limit)
        rows = rows_of(self.server.database, name, query.get("since"))
        items = rows[offset : offset + limit]
        more = offset + limit < len(rows)
        body: dict[str, Any] = {"data": {"items": items}}
        body["next"] = token(offset + limit) if more else None
        body["total"] = len(rows)
        headers = {}
        if more:
            link = f"http://{self.headers['Host']}/{name}?{urlencode(next_query(query, offset, limit))}"
            headers["Link"] = f'<{link}>; rel="next"'
        self._send(200, body, headers)

    def _send(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self._raw(code, data, {"Content-Type": "application/json", **(headers or {})})

    def _raw(self, code: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(code)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout)
            pass


class Api(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int = 0, database: Path = DATABASE, token: str | None = None) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.database = database
        self.token = token
        self.state = State()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def serving(database: Path = DATABASE, token: str | None = None) -> Iterator[Api]:
    """The API on a free loopback port, on a thread, for as long as the block runs."""
    api = Api(0, database, token)
    thread = threading.Thread(target=api.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        api.state.release.set()
        api.shutdown()
        api.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8003)
    parser.add_argument("--token", help="ask for this bearer token")
    args = parser.parse_args()
    api = Api(args.port, DATABASE, args.token)
    print(f"serving {DATABASE.name} on {api.url} (Ctrl-C stops)", flush=True)
    try:
        api.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
