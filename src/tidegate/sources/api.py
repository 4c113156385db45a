"""Pulling an ``api:`` source into landing, as JSON Lines files the ordinary run loads.

for each api: source (or the ones asked for):
    breaker open?        -> unavailable, no request
    first request        -> the source's params, the cursor it reached, the first page
    each page            -> its records (a page that is not JSON or lacks them: rejected,
                            and the pull of the source stops before it)
    every N pages        -> one file in landing/api/<source>/, written atomically
    the last page        -> the cursor moves to the highest value landed

A file's name is fixed by the source, the cursor the pull started from and the file's
place in the pull (``cars-<start>-00002.jsonl``), and its content by the pages in it. So a
pull that dies half way, run again, lands the same files with the same bytes: the ones
already there are left alone, the ones already loaded are duplicates by their content
hash, and the cursor, saved only after the last file landed, never passes a record that
did not land. What a failed pull landed before the failure stays, and loads.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx

from tidegate import archive, log
from tidegate.clock import utcnow
from tidegate.config.api import ApiConfig, landing_folder
from tidegate.config.models import Project
from tidegate.errors import MalformedPage, PullError, SourceUnreachable, UnknownNameError
from tidegate.sources import state
from tidegate.sources.http import Fetcher, Sleep, safe_url
from tidegate.sources.state import Breaker, Cursor
from tidegate.store import project_store
from tidegate.warehouse import connect
from tidegate.warehouse.base import Warehouse

_MISSING = object()


@dataclass
class PullResult:
    """What one source's pull did: the files it landed, and why it stopped, if it did."""

    source: str
    status: str = "pulled"  # pulled | rejected | unavailable | unreachable | busy
    files: list[str] = field(default_factory=list)  # landed, relative to landing
    unchanged: list[str] = field(default_factory=list)  # already in landing, same bytes
    records: int = 0
    pages: int = 0
    retries: int = 0
    error: str | None = None
    rejected: str | None = None  # where the malformed page went

    @property
    def ok(self) -> bool:
        return self.status == "pulled"


@dataclass(frozen=True)
class Request:
    url: str
    params: dict[str, str]
    number: int  # the page's place in this pull, from 1


@dataclass
class Page:
    request: Request
    records: list[dict[str, Any]]
    body: Any
    response: httpx.Response


# --------------------------------------------------------------------------- paging


def lookup(body: Any, path: str | None) -> Any:
    """The value at a dotted path of a JSON body (``_MISSING`` when a step is absent)."""
    value = body
    for step in path.split(".") if path else []:
        if not isinstance(value, dict) or step not in value:
            return _MISSING
        value = value[step]
    return value


def first_request(api: ApiConfig, cursor: Cursor) -> Request:
    params = dict(api.params)
    if api.cursor is not None:
        value = cursor.value if cursor.value is not None else api.cursor.initial
        if value is not None:
            params[api.cursor.param] = str(value)
    paging = api.paginate
    if paging is not None and paging.param is not None and paging.type in ("page", "offset"):
        params[paging.param] = str(
            paging.start if paging.start is not None else int(paging.type == "page")
        )
        if paging.type == "offset":
            params[paging.limit_param] = str(paging.limit)
    return Request(api.url, params, 1)


def next_request(api: ApiConfig, first: Request, page: Page) -> Request | None:
    """The request of the page after ``page``, or None when ``page`` was the last."""
    paging, current, count = api.paginate, page.request, len(page.records)
    if paging is None or (paging.max_pages is not None and current.number >= paging.max_pages):
        return None
    params = dict(current.params)
    if paging.type in ("page", "offset"):
        assert paging.param is not None
        if count == 0 or (paging.limit is not None and count < paging.limit):
            return None
        step = 1 if paging.type == "page" else count
        params[paging.param] = str(int(current.params[paging.param]) + step)
        return Request(current.url, params, current.number + 1)
    if paging.type == "cursor":
        assert paging.param is not None
        token = lookup(page.body, paging.next)
        if token is _MISSING or token is None or token == "":
            return None
        params[paging.param] = str(token)
        return Request(current.url, params, current.number + 1)
    return _next_link(paging.next, first, page)


def _next_link(path: str | None, first: Request, page: Page) -> Request | None:
    link = lookup(page.body, path) if path else page.response.links.get("next", {}).get("url")
    if not isinstance(link, str) or not link:
        return None
    url = urljoin(str(page.response.url), link)
    given = {name for name, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)}
    # The link carries the paging; the source's own params (a key, say) ride along.
    params = {k: v for k, v in first.params.items() if k not in given}
    return Request(url, params, page.request.number + 1)


def records_of(source: str, api: ApiConfig, request: Request, response: httpx.Response) -> Page:
    where = f"page {request.number} of {safe_url(request.url)}"
    try:
        body = response.json()
    except ValueError as exc:
        raise MalformedPage(source, f"{where} is not JSON: {exc}") from None
    found = lookup(body, api.records)
    if found is _MISSING:
        keys = sorted(body) if isinstance(body, dict) else type(body).__name__
        raise MalformedPage(source, f"{where} has no {api.records!r} (it has {keys})")
    if not isinstance(found, list):
        what = f"{api.records!r}" if api.records else "the body"
        raise MalformedPage(source, f"{where}: {what} is not a list of records")
    for index, record in enumerate(found, start=1):
        if not isinstance(record, dict):
            raise MalformedPage(source, f"{where}: record {index} is not a JSON object")
    return Page(request, found, body, response)


# --------------------------------------------------------------------------- the cursor


def _order(value: Any) -> tuple[int, Any]:
    # Numbers before text; within each, their own order (ISO timestamps sort as text).
    if isinstance(value, int | float) and not isinstance(value, bool):
        return 0, value
    return 1, str(value)


def record_hash(record: dict[str, Any]) -> str:
    text = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class Tracker:
    """Drops the records a cursor says have landed, and finds the cursor of what lands."""

    def __init__(self, api: ApiConfig, start: Cursor) -> None:
        self.field = api.cursor.field if api.cursor is not None else None
        self.start = start
        self.reached = start

    def keep(self, record: dict[str, Any]) -> bool:
        if self.field is None:
            return True
        value = lookup(record, self.field)
        if value is _MISSING or value is None:
            return True
        digest = record_hash(record)
        if self.start.value is not None:
            seen, mark = _order(value), _order(self.start.value)
            if seen < mark or (seen == mark and digest in self.start.seen):
                return False
        self._advance(value, digest)
        return True

    def _advance(self, value: Any, digest: str) -> None:
        top = self.reached.value
        if top is None or _order(value) > _order(top):
            self.reached = Cursor(value, frozenset({digest}))
        elif _order(value) == _order(top):
            self.reached = Cursor(top, self.reached.seen | {digest})


# --------------------------------------------------------------------------- one source


def _lines(records: list[dict[str, Any]]) -> bytes:
    return b"".join(
        json.dumps(r, ensure_ascii=False, separators=(",", ":")).encode() + b"\n" for r in records
    )


class Pull:
    """One pull of one ``api:`` source into landing."""

    def __init__(
        self, project: Project, wh: Warehouse, name: str, sleep: Sleep = time.sleep
    ) -> None:
        api = project.sources[name].api
        assert api is not None
        self.project, self.wh, self.name, self.api = project, wh, name, api
        self.landing = project_store(project, "landing")
        self.start = state.cursor_of(wh, name)
        self.tag = hashlib.sha256(self.start.to_json().encode()).hexdigest()[:12]
        self.tracker = Tracker(api, self.start)
        self.fetcher = Fetcher(name, api, state.breaker_of(wh, name), self._save_breaker, sleep)
        self.result = PullResult(name)
        self.files = 0
        self.body = b""

    def _save_breaker(self, breaker: Breaker) -> None:
        state.save_breaker(self.wh, breaker, utcnow())

    def run(self) -> PullResult:
        log.event("pull started", source=self.name, url=safe_url(self.api.url))
        try:
            self._pull()
        except PullError as exc:
            self._stopped(exc)
        finally:
            self.fetcher.close()
            self.result.retries = self.fetcher.retries
        log.event(
            "pull finished",
            source=self.name,
            status=self.result.status,
            files=len(self.result.files),
            unchanged=len(self.result.unchanged),
            records=self.result.records,
            pages=self.result.pages,
            retries=self.result.retries,
        )
        return self.result

    def _pages(self) -> Iterator[Page]:
        first = request = first_request(self.api, self.start)
        while True:
            response = self.fetcher.get(request.url, request.params)
            self.body = response.content  # what goes to rejected/ if the page is malformed
            page = records_of(self.name, self.api, request, response)
            self.result.pages += 1
            yield page
            following = next_request(self.api, first, page)
            if following is None:
                return
            if (following.url, following.params) == (request.url, request.params):
                raise MalformedPage(
                    self.name, f"page {request.number} names itself as the next page"
                )
            request = following

    def _pull(self) -> None:
        self.fetcher.check_breaker()
        batch: list[dict[str, Any]] = []
        pages = 0
        for page in self._pages():
            batch.extend(r for r in page.records if self.tracker.keep(r))
            pages += 1
            if self.api.pages_per_file and pages >= self.api.pages_per_file:
                self._land(batch)
                batch, pages = [], 0
        self._land(batch)
        if self.api.cursor is not None:  # every record up to here has landed
            state.save_cursor(self.wh, self.name, self.tracker.reached, utcnow())

    def _land(self, records: list[dict[str, Any]]) -> None:
        """One file of the pull in landing (none for no records); its bytes decide its name."""
        self.files += 1
        if not records:
            return
        data = _lines(records)
        stem = f"{landing_folder(self.name)}/{self.name}-{self.tag}-{self.files:05d}"
        relative = f"{stem}.jsonl"
        before = self._landed(relative)
        if before is not None and before != data:
            # The API changed since this name was landed: keep both, lose nothing.
            relative = f"{stem}.{hashlib.sha256(data).hexdigest()[:8]}.jsonl"
        if self._landed(relative) == data:
            self.result.unchanged.append(relative)
        else:
            self.landing.write(relative, data)  # whole or not at all (a temporary, then a rename)
            self.result.files.append(relative)
            log.event("pull landed", source=self.name, file=relative, records=len(records))
        self.result.records += len(records)

    def _stopped(self, exc: PullError) -> None:
        self.result.error = str(exc)
        if isinstance(exc, MalformedPage):
            self.result.status = "rejected"
            self.result.rejected = self._reject(exc)
        elif isinstance(exc, SourceUnreachable):
            self.result.status = "unreachable"
        else:
            self.result.status = "unavailable"
        log.event(
            "pull stopped", logging.WARNING, source=self.name, reason=log.mask_values(str(exc))
        )

    def _reject(self, exc: MalformedPage) -> str:
        """The malformed page's bytes into rejected/, with its reason beside it."""
        content = self.body
        page = self.result.pages + 1
        rejected = project_store(self.project, "rejected")
        relative = f"{landing_folder(self.name)}/{self.name}-{self.tag}-page-{page:05d}.json"
        key = archive.rejected_key(rejected, relative, hashlib.sha256(content).hexdigest())
        rejected.write(key, content)
        archive.write_reason(rejected, key, str(exc))
        return rejected.location(key)

    def _landed(self, relative: str) -> bytes | None:
        """The bytes already in landing under this name, or None."""
        if not self.landing.exists(relative):
            return None
        with self.landing.open(relative) as handle:
            return handle.read()


# --------------------------------------------------------------------------- every source


def api_sources(project: Project, names: Collection[str] | None = None) -> list[str]:
    """The ``api:`` sources to pull: all, or the ones named (each must be one)."""
    pulled = [name for name, source in sorted(project.sources.items()) if source.api is not None]
    for name in names or []:
        if name not in pulled:
            raise UnknownNameError("--source", "api source", name, pulled, "the api sources")
    return [name for name in pulled if names is None or name in names]


def pull_with(
    project: Project,
    wh: Warehouse,
    names: Collection[str] | None = None,
    sleep: Sleep = time.sleep,
) -> list[PullResult]:
    """Pull each ``api:`` source through an open warehouse (which keeps their state)."""
    chosen = api_sources(project, names)
    if not chosen:
        return []
    with wh.transaction():
        state.ensure(wh)
    return [_pull_one(project, wh, name, sleep) for name in chosen]


def _pull_one(project: Project, wh: Warehouse, name: str, sleep: Sleep) -> PullResult:
    key = f"pull:{name}"
    if not wh.lock(key):  # another process is pulling it: its files will be there
        return PullResult(name, status="busy", error=f"source {name!r}: another pull is running")
    try:
        return Pull(project, wh, name, sleep).run()
    finally:
        wh.unlock(key)


def pull(project: Project, names: Collection[str] | None = None) -> list[PullResult]:
    """Pull every ``api:`` source of the project (or the ones named) into landing."""
    api_sources(project, names)  # a wrong name fails before any connection
    with connect(project) as wh:
        return pull_with(project, wh, names)


def exit_code(results: list[PullResult]) -> int:
    """0 all pulled, 2 an API unreachable or refusing us, 1 any other trouble."""
    if any(r.status == "unreachable" for r in results):
        return 2
    return 0 if all(r.ok for r in results) else 1


__all__ = ["PullResult", "exit_code", "pull", "pull_with"]
