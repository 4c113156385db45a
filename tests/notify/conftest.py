"""Real receivers on loopback: an HTTP server that records what is POSTed to it, and an SMTP
server (aiosmtpd) that records the mail it is handed. Each can refuse its first attempts."""

from __future__ import annotations

import json
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from bench.postgres import free_port

WEBHOOK_TOKEN = "T000-B000-sEcReTtOkEn42"
SMTP_USER = "tidegate"
SMTP_PASSWORD = "pa55-w0rd-not-to-be-seen"

PROJECT = """\
{warehouse}
settle_seconds: 0
privacy: {{secret: a-secret-of-sixteen-or-more}}
notify:
{channels}
{extra}
"""

TARGET = """\
columns:
  id:     {type: integer, required: true}
  name:   {type: varchar, required: true}
  email:  {type: varchar, pattern: '^[^@]+@[^@]+$'}
key: [id]
load: append
"""

SOURCE = """\
match: "people*.csv"
{extra}
outputs:
  - target: people
    columns:
      id: '"ID"'
      name: '"Name"'
      email: '"E-mail"'
"""


@dataclass
class Webhook:
    """What the receiver got, and the status codes it answers with, in order (then 200)."""

    url: str
    answers: list[int] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    port = free_port()
    hook = Webhook(f"http://127.0.0.1:{port}/hooks/{WEBHOOK_TOKEN}")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = hook.answers.pop(0) if hook.answers else 200
            if status == 200:
                hook.raw.append(body)
                hook.received.append(json.loads(body))
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield hook
    server.shutdown()
    server.server_close()


@dataclass
class Mailbox:
    url: str
    refuse: int = 0  # DATA commands to answer with 451 before accepting
    messages: list[Envelope] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        if self.box.refuse > 0:
            self.box.refuse -= 1
            return "451 4.3.0 try again later"
        self.box.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    port = free_port()
    box = Mailbox(f"smtp://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{port}")

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> Any:
        ok = isinstance(auth, LoginPassword) and auth == (
            SMTP_USER.encode(),
            SMTP_PASSWORD.encode(),
        )
        if ok:
            box.logins.append(auth.login.decode())
        return AuthResult(success=ok)

    controller = Controller(
        _Handler(box),
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        auth_require_tls=False,  # a loopback test server; the client still offers STARTTLS
    )
    controller.start()
    yield box
    controller.stop()


def write_project(
    root: Path,
    channels: str,
    *,
    warehouse: str = "warehouse: {type: duckdb, path: warehouse.duckdb}",
    project_extra: str = "",
    source_extra: str = "",
) -> Path:
    files = {
        "tidegate.yml": PROJECT.format(
            warehouse=warehouse,
            channels=textwrap.indent(textwrap.dedent(channels).strip(), "  "),
            extra=project_extra,
        ),
        "targets/people.yml": TARGET,
        "sources/people.yml": SOURCE.format(extra=source_extra),
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def land(root: Path, name: str, text: str) -> Path:
    path = root / "landing" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
