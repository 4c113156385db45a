"""The ``api:`` block of a source file: where an HTTP API is, how it pages, and how hard to try.

    api:
      url: ${CARS_API}/cars
      headers: {Authorization: "Bearer ${CARS_TOKEN}"}
      params: {limit: 500}
      records: data.items                      # where the list sits in each response
      paginate: {type: page, param: page}      # page | offset | cursor | link
      cursor: {field: updated_at, param: updated_since}
      retry: {attempts: 5, backoff_seconds: 0.5}
      breaker: {failures: 5, cooldown_seconds: 60}

Headers and parameters often hold a token, so they are secrets: no message, log line or
repr ever shows their values (and a URL is shown without its query string).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

__all__ = [
    "ApiConfig",
    "BreakerSpec",
    "CursorSpec",
    "PaginateSpec",
    "RetrySpec",
    "api_match",
    "landing_folder",
]

# Marks a secret for the loader's messages (the same marker as config.models.SECRET).
_SECRET: dict[str, Any] = {"writeOnly": True}
_PATH = re.compile(r"^[A-Za-z_0-9$-]+(\.[A-Za-z_0-9$-]+)*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _dotted(value: str | None) -> str | None:
    if value is not None and not _PATH.match(value.strip()):
        raise ValueError(f"expected a dotted path like 'data.items', got {value!r}")
    return value.strip() if value is not None else None


def _text(value: Any) -> Any:
    # `limit: 500` and `X-Api-Key: 12345` are written as numbers; they travel as text.
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if isinstance(value, int | float) else value


Text = Annotated[str, BeforeValidator(_text)]


class PaginateSpec(_Strict):
    """How the next page is asked for.

    - ``page``: ``param`` counts pages from ``start`` (1); the pull ends at an empty page.
    - ``offset``: ``param`` counts records from ``start`` (0) in steps of ``limit``, sent as
      ``limit_param``; the pull ends at a page shorter than ``limit``.
    - ``cursor``: ``next`` is the path of the next page's token in the body, sent as
      ``param``; the pull ends when the token is missing or null.
    - ``link``: the next page's URL, from the ``Link: <...>; rel="next"`` header, or from
      the body at ``next`` when given; the pull ends when there is none.
    """

    type: Literal["page", "offset", "cursor", "link"]
    param: str | None = None
    start: Annotated[int, Field(ge=0)] | None = None
    limit: Annotated[int, Field(gt=0)] | None = None
    limit_param: str = "limit"
    next: str | None = None
    max_pages: Annotated[int, Field(gt=0)] | None = None  # a guard against an endless API

    @field_validator("next")
    @classmethod
    def _next_path(cls, value: str | None) -> str | None:
        return _dotted(value)

    @model_validator(mode="after")
    def _complete(self) -> PaginateSpec:
        needs = {"page": ("param",), "offset": ("param", "limit"), "cursor": ("param", "next")}
        for name in needs.get(self.type, ()):
            if getattr(self, name) is None:
                raise ValueError(f"paginate type {self.type!r} needs {name!r}")
        return self


class CursorSpec(_Strict):
    """Incremental pulls: ``field`` of each record is the cursor; the highest value of the
    records already landed is sent as ``param`` (records at that value are not landed
    twice). ``initial`` is sent on the first pull, when given."""

    field: str
    param: str
    initial: Text | None = None

    @field_validator("field")
    @classmethod
    def _field_path(cls, value: str) -> str:
        return _dotted(value) or value


class RetrySpec(_Strict):
    """429 (Retry-After honoured), 5xx, timeouts and lost connections are tried again,
    waiting ``backoff_seconds`` x 2^n with jitter, at most ``max_wait_seconds`` a time."""

    attempts: Annotated[int, Field(ge=1, le=20)] = 5
    backoff_seconds: Annotated[float, Field(ge=0)] = 0.5
    max_wait_seconds: Annotated[float, Field(gt=0)] = 60.0


class BreakerSpec(_Strict):
    """After ``failures`` failed requests in a row, no request is made for the cool-down,
    in this run or the next ones."""

    failures: Annotated[int, Field(ge=1)] = 5
    cooldown_seconds: Annotated[float, Field(ge=0)] = 60.0


class ApiConfig(_Strict):
    url: str
    headers: Annotated[dict[str, Text], Field(repr=False, json_schema_extra=_SECRET)] = {}
    params: Annotated[dict[str, Text], Field(repr=False, json_schema_extra=_SECRET)] = {}
    records: str | None = None  # dotted path of the record list; none: the body is the list
    paginate: PaginateSpec | None = None  # none: one request
    cursor: CursorSpec | None = None
    retry: RetrySpec = RetrySpec()
    breaker: BreakerSpec = BreakerSpec()
    timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    # Pages per landing file; 0: the whole pull in one file (a snapshot, for a target
    # with `deletes: invalidate`, which reads each file as the whole table).
    pages_per_file: Annotated[int, Field(ge=0)] = 10

    @field_validator("records")
    @classmethod
    def _records_path(cls, value: str | None) -> str | None:
        return _dotted(value)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            # Never echo the URL: its query or userinfo may hold a token.
            raise ValueError("expected an http:// or https:// URL with a host")
        return value.strip()


def landing_folder(source: str) -> str:
    """Where a source's pulled files land, under the landing folder."""
    return f"api/{source}"


def api_match(source: str) -> str:
    """The glob that routes a source's pulled files back to it."""
    return f"{landing_folder(source)}/*.jsonl"
