"""Sending one message to one channel, retried with backoff.

A webhook gets a JSON POST (``text`` for Slack and its look-alikes, the counts beside it);
an e-mail goes through SMTP (STARTTLS when offered, ``smtps://`` for TLS from the start).
Refusals, timeouts, HTTP 5xx/429 and SMTP 4xx are retried; anything else is final at once.
Errors name the channel by its label, never by its URL or password.
"""

from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from tidegate.config.models import EmailChannel, NotifyChannel
from tidegate.errors import DeliveryError, TransientDeliveryError
from tidegate.notify.message import Message, channel_label

Sleep = Callable[[float], None]
BACKOFF_SECONDS = 0.5  # then 1, 2, 4... capped below
BACKOFF_CAP_SECONDS = 8.0


@dataclass
class Delivery:
    """How a channel fared, as ``run --json`` reports it."""

    channel: str
    events: list[str]
    delivered: bool
    attempts: int
    error: str | None = None


def backoff(attempt: int) -> float:
    """Seconds to wait after the ``attempt``-th failure."""
    return float(min(BACKOFF_SECONDS * 2 ** (attempt - 1), BACKOFF_CAP_SECONDS))


def send(channel: NotifyChannel, message: Message, sleep: Sleep = time.sleep) -> Delivery:
    """Try up to ``channel.attempts`` times; never raises."""
    label = channel_label(channel)
    events = list(message.payload.get("events", {}))
    error: DeliveryError | None = None
    for attempt in range(1, channel.attempts + 1):
        try:
            _send_once(channel, message, label)
            return Delivery(label, events, True, attempt)
        except TransientDeliveryError as exc:
            error = exc
            if attempt < channel.attempts:
                sleep(backoff(attempt))
        except DeliveryError as exc:
            return Delivery(label, events, False, attempt, exc.reason)
    assert error is not None
    return Delivery(label, events, False, channel.attempts, error.reason)


def _send_once(channel: NotifyChannel, message: Message, label: str) -> None:
    timeout = channel.timeout.total_seconds()
    if channel.webhook:
        post_webhook(channel.webhook, message, label, timeout)
    else:
        assert channel.email is not None
        send_email(channel.email, message, label, timeout)


def post_webhook(url: str, message: Message, label: str, timeout: float) -> None:
    import httpx

    try:
        response = httpx.post(url, json=message.payload, timeout=timeout)
    except httpx.HTTPError as exc:
        # httpx's message names the URL, token and all: say only what kind of failure.
        raise TransientDeliveryError(label, type(exc).__name__) from None
    if response.status_code >= 500 or response.status_code == 429:
        raise TransientDeliveryError(label, f"HTTP {response.status_code}")
    if response.status_code >= 400:
        raise DeliveryError(label, f"HTTP {response.status_code}")


def send_email(email: EmailChannel, message: Message, label: str, timeout: float) -> None:
    parts = urlsplit(email.smtp)
    secure = parts.scheme == "smtps"
    host = parts.hostname or "localhost"
    port = parts.port or (465 if secure else 25)
    mail = EmailMessage()
    mail["Subject"], mail["From"], mail["To"] = message.subject, email.from_, ", ".join(email.to)
    mail.set_content(message.text)
    try:
        server = (
            smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
            if secure
            else smtplib.SMTP(host, port, timeout=timeout)
        )
        with server:
            server.ehlo()
            if not secure and server.has_extn("starttls"):
                server.starttls(context=ssl.create_default_context())
                server.ehlo()
            if parts.username:
                server.login(unquote(parts.username), unquote(parts.password or ""))
            server.send_message(mail)
    except smtplib.SMTPResponseException as exc:
        # The server's reply, not our URL: safe to show. 4xx means try again later.
        kind = TransientDeliveryError if 400 <= exc.smtp_code < 500 else DeliveryError
        raise kind(label, f"SMTP {exc.smtp_code}") from None
    except smtplib.SMTPRecipientsRefused:
        raise DeliveryError(label, "every recipient was refused") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise TransientDeliveryError(label, type(exc).__name__) from None
