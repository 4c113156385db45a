"""One GET with retries and a circuit breaker, and httpx's errors translated in one place.

Retried: HTTP 429 (waiting what its ``Retry-After`` asks), 5xx, timeouts and lost or
refused connections, after ``backoff_seconds`` x 2^n with jitter. Every failed request
counts against the source's breaker; once ``failures`` in a row have failed, no request is
made until ``cooldown_seconds`` have passed (the count and the opening time live in the
warehouse, so the cool-down holds across runs). The first request after the cool-down is
a trial: its failure opens the breaker again, its success closes it.

No header, parameter or query string appears in a message: a URL is shown as
``scheme://host/path``.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx

from tidegate import log
from tidegate.clock import utcnow
from tidegate.config.api import ApiConfig
from tidegate.config.redact import hide_passwords
from tidegate.errors import SourceUnavailable, SourceUnreachable
from tidegate.sources.state import Breaker

# httpx logs each request's full URL (query included) at INFO: keep it quiet.
logging.getLogger("httpx").setLevel(logging.WARNING)

Sleep = Callable[[float], None]
SaveBreaker = Callable[[Breaker], None]


def safe_url(url: str | httpx.URL) -> str:
    """``url`` without userinfo, query or fragment: what a message may show."""
    parts = urlsplit(str(url))
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` header asks for (a number, or an HTTP date).

    >>> retry_after("3", datetime(2024, 1, 1))
    3.0
    >>> retry_after("Mon, 01 Jan 2024 00:00:05 GMT", datetime(2024, 1, 1))
    5.0
    """
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when.replace(tzinfo=None) - now).total_seconds())


@dataclass
class Failure:
    """Why one request failed, and whether the API could be reached at all."""

    reason: str
    reached: bool
    wait: float | None = None  # what the server asked for (Retry-After)


class Fetcher:
    """GETs for one source, with its retry policy and its breaker."""

    def __init__(
        self,
        source: str,
        config: ApiConfig,
        breaker: Breaker,
        save: SaveBreaker,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.source = source
        self.config = config
        self.breaker = breaker
        self.save = save
        self.sleep = sleep
        self.retries = 0  # requests sent again, over the pull
        self.client = httpx.Client(
            headers=dict(config.headers), timeout=config.timeout_seconds, follow_redirects=True
        )

    def close(self) -> None:
        self.client.close()

    # -- the breaker ------------------------------------------------------------------

    def check_breaker(self) -> None:
        """Refuse to call while the breaker is open and its cool-down runs."""
        opened = self.breaker.opened_at
        if opened is None:
            return
        until = opened + timedelta(seconds=self.config.breaker.cooldown_seconds)
        if utcnow() < until:
            raise SourceUnavailable(
                self.source,
                f"unavailable: circuit breaker open after {self.breaker.failures} failed"
                f" requests in a row; no request until {until:%Y-%m-%d %H:%M:%S} UTC",
            )

    def _failed(self, failure: Failure) -> None:
        self.breaker.failures += 1
        if self.breaker.failures >= self.config.breaker.failures:
            self.breaker.opened_at = utcnow()
        self.save(self.breaker)
        log.event(
            "api request failed",
            logging.WARNING,
            source=self.source,
            reason=failure.reason,
            failures=self.breaker.failures,
        )
        if self.breaker.opened_at is not None:
            raise SourceUnavailable(
                self.source,
                f"unavailable: circuit breaker opened after {self.breaker.failures} failed"
                f" requests in a row (last: {failure.reason}); no request for"
                f" {self.config.breaker.cooldown_seconds:g}s",
            )

    def _succeeded(self) -> None:
        if self.breaker.failures or self.breaker.opened_at is not None:
            self.breaker.failures, self.breaker.opened_at = 0, None
            self.save(self.breaker)

    # -- one request ------------------------------------------------------------------

    def _send(self, url: str, params: dict[str, str]) -> httpx.Response | Failure:
        where = safe_url(url)
        try:
            # Merged by hand: httpx replaces a URL's query with ``params`` (a next link's).
            response = self.client.get(httpx.URL(url).copy_merge_params(params))
        except httpx.TimeoutException:
            return Failure(f"timed out after {self.config.timeout_seconds:g}s ({where})", True)
        except httpx.TransportError as exc:
            return Failure(f"cannot connect to {where}: {_transport_reason(exc)}", False)
        code = response.status_code
        if code == 429 or code >= 500:
            asked = retry_after(response.headers.get("Retry-After"), utcnow())
            return Failure(f"HTTP {code} {response.reason_phrase} from {where}", True, asked)
        if code >= 400:
            raise SourceUnreachable(
                self.source,
                f"HTTP {code} {response.reason_phrase} from {where}; check the"
                " url, headers and params of its api: block",
            )
        return response

    def _wait(self, attempt: int, failure: Failure) -> None:
        retry = self.config.retry
        if failure.wait is not None:
            if failure.wait > retry.max_wait_seconds:
                raise SourceUnavailable(
                    self.source,
                    f"unavailable: {failure.reason} asks to wait {failure.wait:g}s, over"
                    f" max_wait_seconds ({retry.max_wait_seconds:g})",
                )
            delay = failure.wait
        else:
            ceiling = min(retry.max_wait_seconds, retry.backoff_seconds * 2 ** (attempt - 1))
            delay = random.uniform(ceiling / 2, ceiling)  # jitter: clients do not retry in step
        self.sleep(delay)

    def get(self, url: str, params: dict[str, str]) -> httpx.Response:
        """The response of a GET (2xx or 3xx), after retries; raises a ``PullError``."""
        attempts = self.config.retry.attempts
        failure: Failure | None = None
        for attempt in range(1, attempts + 1):
            self.check_breaker()
            if failure is not None:
                self.retries += 1
            result = self._send(url, params)
            if isinstance(result, httpx.Response):
                self._succeeded()
                return result
            failure = result
            self._failed(failure)
            if attempt < attempts:
                self._wait(attempt, failure)
        assert failure is not None
        kind = SourceUnavailable if failure.reached else SourceUnreachable
        prefix = "unavailable: " if failure.reached else ""
        raise kind(self.source, f"{prefix}{failure.reason}, {attempts} attempts")


def _transport_reason(exc: httpx.TransportError) -> str:
    """The driver's reason without the URL it may quote."""
    text = str(exc).strip() or type(exc).__name__
    return hide_passwords(text.splitlines()[0][:200])
