"""Notifications end to end: real runs, a real HTTP receiver and a real SMTP server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from email import message_from_bytes
from pathlib import Path

import pytest
from bench.postgres import free_port

from tidegate.clock import utcnow
from tidegate.config import load_project
from tidegate.errors import ConfigError, ConnectionFailed
from tidegate.notify import stale
from tidegate.pipeline import run
from tidegate.sql import lit, table
from tidegate.sql import update as sql_update
from tidegate.warehouse import connect

from .. import command_line
from ..command_line import runs_finished, wait_until
from .conftest import SMTP_PASSWORD, WEBHOOK_TOKEN, Mailbox, Webhook, land, write_project

GOOD = "ID,Name,E-mail\n1,Ada Lovelace,ada@example.org\n2,Alan Turing,alan@example.org\n"
# Row 2's address breaks the pattern: quarantined, with a value no message may show.
ONE_BAD = "ID,Name,E-mail\n1,Grace Hopper,grace@example.org\n2,Edsger Dijkstra,edsger-at-home\n"
NO_EMAIL = "ID,Name\n3,Barbara Liskov\n"  # a mapped column is missing: rejected
PERSONAL = ("Ada", "Grace", "Edsger", "edsger-at-home", "Barbara", "Liskov")


def hook_channel(
    hook: Webhook, on: str = "[rejected, failed, quarantine_over]", **extra: str
) -> str:
    lines = [f"- webhook: {hook.url}", f"  on: {on}", *(f"  {k}: {v}" for k, v in extra.items())]
    return "\n".join(lines)


def test_one_webhook_message_per_run_names_files_counts_reasons_but_no_value_or_secret(
    tmp_path: Path, webhook: Webhook
) -> None:
    root = write_project(tmp_path / "shop", hook_channel(webhook))
    land(root, "people_1.csv", GOOD)
    land(root, "people_2.csv", ONE_BAD)
    land(root, "people_3.csv", NO_EMAIL)
    land(root, "stranger.txt", "who am I\n")

    result = run(load_project(root))

    [message] = webhook.received  # one per run and channel, not one per file or row
    text = message["text"]
    assert result.run_id in text and message["run_id"] == result.run_id
    assert "tidegate shop:" in text and message["project"] == "shop"
    assert "people_3.csv (people)" in text and "missing columns" in text
    assert "stranger.txt" in text and "matches no source" in text
    assert "people_2.csv (people): 1 of 2 rows quarantined" in text
    assert "people.email: pattern (1 rows)" in text  # the rule and the column, no value
    assert "4 files: 2 loaded, 2 rejected, 0 failed" in text
    assert f"tidegate files --status rejected --project {root.resolve()}" in text
    assert f"tidegate quarantine --project {root.resolve()}" in text
    assert message["events"] == {"rejected": 2, "quarantine_over": 1}
    assert message["counts"]["rows_quarantined"] == 1
    raw = webhook.raw[0].decode()
    for value in (*PERSONAL, WEBHOOK_TOKEN, "a-secret-of-sixteen-or-more"):
        assert value not in raw
    assert result.notifications == [
        {
            "channel": "webhook http://127.0.0.1/…",
            "events": ["rejected", "quarantine_over"],
            "delivered": True,
            "attempts": 1,
            "error": None,
        }
    ]


def test_a_clean_run_sends_nothing(tmp_path: Path, webhook: Webhook) -> None:
    root = write_project(tmp_path / "p", hook_channel(webhook))
    land(root, "people_1.csv", GOOD)
    result = run(load_project(root))
    assert result.ok and webhook.received == [] and result.notifications == []


def test_a_refused_first_attempt_is_retried_and_the_message_arrives_once(
    tmp_path: Path, webhook: Webhook
) -> None:
    webhook.answers = [503]
    root = write_project(tmp_path / "p", hook_channel(webhook))
    land(root, "people_3.csv", NO_EMAIL)

    result = run(load_project(root))

    assert len(webhook.received) == 1
    [delivery] = result.notifications
    assert (delivery["delivered"], delivery["attempts"]) == (True, 2)


def test_a_failing_channel_is_reported_in_run_json_and_never_fails_the_load(
    tmp_path: Path, webhook: Webhook
) -> None:
    webhook.answers = [500, 500]
    root = write_project(tmp_path / "p", hook_channel(webhook, attempts="2"))
    land(root, "people_2.csv", ONE_BAD)

    done = command_line.tidegate(["run", "--json", "--project", str(root)])

    assert done.returncode == 0, done.stderr  # the file loaded; the alert is not the load
    report = json.loads(done.stdout)
    assert report["files"][0]["status"] == "loaded"
    [delivery] = report["notifications"]
    assert delivery == {
        "channel": "webhook http://127.0.0.1/…",
        "events": ["quarantine_over"],
        "delivered": False,
        "attempts": 2,
        "error": "HTTP 500",
    }
    assert WEBHOOK_TOKEN not in done.stdout + done.stderr
    assert webhook.received == []


def test_email_goes_through_smtp_with_login_after_a_refused_first_attempt(
    tmp_path: Path, mailbox: Mailbox
) -> None:
    mailbox.refuse = 1
    channel = f"""\
    - email: {{to: [data-team@example.org], from: tidegate@example.org, smtp: "{mailbox.url}"}}
      on: [failed, rejected]
    """
    root = write_project(tmp_path / "leads", channel)
    land(root, "people_3.csv", NO_EMAIL)

    result = run(load_project(root))

    [delivery] = result.notifications
    assert (delivery["delivered"], delivery["attempts"]) == (True, 2)
    assert delivery["channel"] == "email to data-team@example.org"
    [envelope] = mailbox.messages
    assert mailbox.logins == ["tidegate", "tidegate"]
    assert envelope.rcpt_tos == ["data-team@example.org"]
    assert envelope.mail_from == "tidegate@example.org"
    assert isinstance(envelope.content, bytes)
    mail = message_from_bytes(envelope.content)
    assert mail["Subject"] == "tidegate leads: 1 rejected"
    body = mail.get_payload(decode=True)
    assert isinstance(body, bytes)
    text = body.decode()
    assert result.run_id in text and "people_3.csv (people)" in text
    for value in (*PERSONAL, SMTP_PASSWORD):
        assert value not in envelope.content.decode()


def test_a_run_that_cannot_reach_the_warehouse_tells_the_failed_channels(
    tmp_path: Path, webhook: Webhook
) -> None:
    password = "db-pass-never-shown"
    url = f"postgresql://loader:{password}@127.0.0.1:{free_port()}/shop"
    root = write_project(
        tmp_path / "p",
        hook_channel(webhook, on="[failed]"),
        warehouse=f'warehouse: {{type: postgres, url: "{url}"}}',
    )
    with pytest.raises(ConnectionFailed):
        run(load_project(root))
    [message] = webhook.received
    assert "the run failed: cannot connect" in message["text"]
    assert password not in webhook.raw[0].decode()


def _age_ledger(root: Path, by: timedelta) -> None:
    """Move every ledger time back, as if the last file had come ``by`` ago."""
    project = load_project(root)
    with connect(project) as wh, wh.transaction():
        for name in ("files", "runs"):
            old = utcnow() - by
            wh.execute(sql_update(table(name, wh.schemas.meta), {"started_at": old}, lit(True)))


def test_a_quiet_source_is_stale_once_then_again_after_its_interval(
    tmp_path: Path, webhook: Webhook, warehouse: Callable[[], str]
) -> None:
    root = write_project(
        tmp_path / "p",
        hook_channel(webhook, on="[stale]"),
        warehouse=warehouse(),
        source_extra="expect_every: 1h",
    )
    land(root, "people_1.csv", GOOD)
    run(load_project(root))
    assert webhook.received == []  # fresh

    _age_ledger(root, timedelta(hours=3))
    run(load_project(root))
    [message] = webhook.received
    assert "source people: no new file for 3h" in message["text"]
    assert "(expected every 1h)" in message["text"]

    run(load_project(root))  # a watch heartbeat a moment later: told already
    assert len(webhook.received) == 1

    land(root, "people_2.csv", GOOD.replace("1,", "7,").replace("2,", "8,"))
    run(load_project(root))  # fresh again: the state forgets the finding
    assert len(webhook.received) == 1
    _age_ledger(root, timedelta(hours=2))
    run(load_project(root))
    assert len(webhook.received) == 2


def test_a_file_waiting_in_landing_longer_than_expected_is_stale(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "p",
        "- {webhook: 'http://127.0.0.1:9/x', on: [stale]}",
        project_extra="sources: {expect_every: 30m}",
    )
    land(root, "people_1.csv", GOOD)
    land(root, "other.txt", "x")
    project = load_project(root)

    later = utcnow() + timedelta(hours=2)
    found = stale.waiting_files(project, now=later)

    assert [(s.path, s.source) for s in found] == [
        ("landing/other.txt", None),
        ("landing/people_1.csv", "people"),
    ]
    assert found[1].describe().startswith("landing/people_1.csv has waited in landing for 2h")
    assert stale.waiting_files(project) == []


def test_stale_without_any_expect_every_is_never_told(tmp_path: Path, webhook: Webhook) -> None:
    root = write_project(tmp_path / "p", hook_channel(webhook, on="[stale]"))
    land(root, "people_1.csv", GOOD)
    run(load_project(root))
    _age_ledger(root, timedelta(days=30))
    result = run(load_project(root))
    assert webhook.received == [] and result.notifications == []


def test_a_channel_is_a_webhook_or_an_email_and_names_known_events(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", "- {webhook: 'https://h.example.org/x', on: [stael]}")
    with pytest.raises(ConfigError) as caught:
        load_project(root)
    assert "tidegate.yml" in str(caught.value) and "stael" in str(caught.value)
    write_project(tmp_path / "p", "- {on: [failed]}")
    with pytest.raises(ConfigError, match="either 'webhook: URL' or 'email"):
        load_project(root)
    write_project(tmp_path / "p", "- {webhook: x}", source_extra="expect_every: soon")
    with pytest.raises(ConfigError, match="expected a duration like '1h'"):
        load_project(root)


def test_watch_tells_a_stale_source_once_across_its_heartbeats(
    tmp_path: Path, webhook: Webhook
) -> None:
    root = write_project(
        tmp_path / "p", hook_channel(webhook, on="[stale]"), source_extra="expect_every: 1h"
    )
    land(root, "people_1.csv", GOOD)
    run(load_project(root))
    _age_ledger(root, timedelta(hours=2))

    watcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tidegate.cli",
            "watch",
            "--heartbeat",
            "0.3",
            "--project",
            str(root),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: bool(webhook.received), "the stale message")
        told = runs_finished(root)
        # several more heartbeats, each a run that checks stale again
        wait_until(lambda: runs_finished(root) >= told + 3, "three more heartbeats")
    finally:
        watcher.send_signal(signal.SIGTERM)
        _, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, err
    [message] = webhook.received
    assert "source people: no new file for 2h" in message["text"]
    # watch ran on every heartbeat (its idle runs are logged, not recorded in the ledger)
    log = (root / ".tidegate" / "logs" / "tidegate.log").read_text(encoding="utf-8")
    runs = [json.loads(line) for line in log.splitlines()]
    assert sum(1 for e in runs if e["event"] == "run started") >= 3
