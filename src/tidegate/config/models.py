"""Pydantic models of a project's YAML files: tidegate.yml, targets/*.yml, sources/*.yml.

Every model forbids unknown keys so that a typo is an error, never a silently ignored
setting. The loader (``loader.py``) turns validation errors into ``ConfigError`` with the
file and line.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from tidegate.config.api import ApiConfig
from tidegate.config.redact import URL_SCHEME, url_problem

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _compiles(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {value!r}: {exc}") from exc
    return value


Regex = Annotated[str, AfterValidator(_compiles)]
"""A regular expression, checked when the project loads (a column's pattern, a file name's)."""

# Marks a setting whose value is a secret: no error message ever shows it (see the loader).
SECRET: dict[str, Any] = {"writeOnly": True}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- tidegate.yml


class Schemas(Strict):
    core: str = "core"
    raw: str = "raw"
    meta: str = "tidegate"
    models: str = "marts"


# The warehouses tidegate has an adapter for (tidegate.warehouse.ADAPTERS); nothing else passes.
WarehouseType = Literal["duckdb", "postgres", "sqlite", "mssql", "spark"]

# What a URL's scheme says the warehouse is, for the hint when a URL stands for the mapping.
_URL_TYPES = {"postgres": "postgres", "postgresql": "postgres", "mssql": "mssql"}


class WarehouseConfig(Strict):
    type: WarehouseType = "duckdb"
    path: str | None = "warehouse.duckdb"
    url: str | None = None
    schemas: Schemas = Schemas()
    # type: spark (docs/warehouses.md): where it runs, where tables live, and the
    # transactional store of the ledger, since plain Spark tables have no transactions
    master: str | None = None  # local[2], spark://host:7077, yarn, ...
    remote: str | None = None  # sc://host:15002 (Spark Connect), instead of master
    warehouse_dir: str | None = None  # a path under the project or an object-store URL
    catalog: str | None = None
    control: str | None = None  # a DuckDB file or a postgresql:// URL
    conf: dict[str, str | int | float | bool] = Field(default_factory=dict)
    buckets: int | None = Field(default=None, ge=1, le=4096)  # Spark: key buckets of a target
    table_format: Literal["parquet", "delta", "iceberg"] | None = None  # Spark: how tables are kept

    @model_validator(mode="before")
    @classmethod
    def _not_a_url(cls, value: Any) -> Any:
        # `warehouse: postgresql://...` would otherwise be "expected a mapping, got '<the URL>'".
        scheme = URL_SCHEME.match(value) if isinstance(value, str) else None
        if scheme is not None:
            kind = _URL_TYPES.get(scheme.group(1).lower(), "...")
            raise ValueError(
                "expected a mapping, got a URL; put the URL under 'url':"
                f" `warehouse: {{type: {kind}, url: ${{TIDEGATE_WAREHOUSE_URL}}}}`"
            )
        return value

    @field_validator("url")
    @classmethod
    def _decodable(cls, value: str | None) -> str | None:
        problem = url_problem(value) if value and URL_SCHEME.match(value) else None
        if problem is not None:
            raise ValueError(problem)
        return value


class PrivacyConfig(Strict):
    """Keys and project-wide rules for personal data (see docs/privacy.md)."""

    # keys pii: hash, tokens and the erasure log (HMAC-SHA-256)
    secret: str | None = Field(default=None, json_schema_extra=SECRET)
    # encrypts the token vault; needed by pii: tokenize and reveal
    vault_key: str | None = Field(default=None, json_schema_extra=SECRET)
    raw_pii: Literal["keep", "protect"] = "protect"  # the raw layer and quarantine copies
    on_erased: Literal["erase", "load"] = "erase"  # a later file carrying an erased subject

    @field_validator("secret", "vault_key")
    @classmethod
    def _long_enough(cls, value: str | None) -> str | None:
        if not value:  # `${TIDEGATE_VAULT_KEY:-}`: not given here
            return None
        if len(value) < 16:
            raise ValueError(
                f"a key needs at least 16 characters, got {len(value)}; use a long random string"
            )
        return value


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(w|d|h|m|s)", re.IGNORECASE)
_DURATION_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(value: Any) -> Any:
    """``'1h'``, ``'90m'``, ``'1h30m'``, ``'2d'`` or a number of seconds, as a timedelta.

    >>> parse_duration("1h30m")
    datetime.timedelta(seconds=5400)
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value}")
        return timedelta(seconds=value)
    if not isinstance(value, str):
        return value
    text = value.strip().replace(" ", "")
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts).lower() != text.lower():
        raise ValueError(f"expected a duration like '1h', '30m', '1h30m' or '2d', got {value!r}")
    return timedelta(seconds=sum(float(n) * _DURATION_UNITS[u.lower()] for n, u in parts))


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^(\s*\d+(\.\d+)?\s*[wdhmsWDHMS])+\s*$"},
                {"type": "number", "minimum": 0},
            ],
            "description": "a duration: '90s', '30m', '1h', '1h30m', '2d', or seconds",
        }
    ),
]

NotifyEvent = Literal["rejected", "failed", "quarantine_over", "stale"]
NOTIFY_EVENTS: tuple[NotifyEvent, ...] = ("rejected", "failed", "quarantine_over", "stale")


class EmailChannel(Strict):
    """Where an e-mail goes; ``smtp`` is ``smtp://[user:password@]host[:port]`` (STARTTLS
    when the server offers it) or ``smtps://`` (TLS from the start)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    to: Annotated[list[str], Field(min_length=1)]
    from_: Annotated[str, Field(alias="from")]
    smtp: Annotated[str, Field(repr=False)]  # may hold a password: kept out of reprs

    @field_validator("smtp")
    @classmethod
    def _smtp_url(cls, value: str) -> str:
        if not re.match(r"^smtps?://[^/]+", value.strip()):
            # The value may hold a password: never echo it.
            raise ValueError("expected smtp://[user:password@]host[:port] or smtps://...")
        return value.strip()


class NotifyChannel(Strict):
    """One channel of ``notify:``: a webhook (JSON POST with a Slack-compatible ``text``) or
    an e-mail, and the events it is told about."""

    webhook: Annotated[str | None, Field(repr=False)] = None  # its path is often a token
    email: EmailChannel | None = None
    on: list[NotifyEvent] = list(NOTIFY_EVENTS)
    # quarantine_over: quarantined rows of a file over this share or count (default: the
    # target's reject_file_over, else any quarantined row).
    quarantine_threshold: str | int | None = None
    attempts: Annotated[int, Field(ge=1, le=10)] = 3
    timeout: Duration = timedelta(seconds=10)

    @field_validator("webhook")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/]+", value.strip()):
            raise ValueError("expected an http:// or https:// URL")  # never echo a token
        return value.strip() if value is not None else None

    @field_validator("quarantine_threshold")
    @classmethod
    def _threshold(cls, value: str | int | None) -> str | int | None:
        if isinstance(value, str) and not re.fullmatch(r"\d+(\.\d+)?%|\d+", value.strip()):
            raise ValueError(f"expected a percentage like '5%' or a row count, got {value!r}")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> NotifyChannel:
        if (self.webhook is None) == (self.email is None):
            raise ValueError("a notify channel is either 'webhook: URL' or 'email: {...}'")
        return self


class SourceDefaults(Strict):
    """Settings every source takes unless its own file says otherwise."""

    expect_every: Duration | None = None  # stale: no new file for this long


class ScheduleConfig(Strict):
    """A Dagster schedule: materialise the targets (or the targets fed by the sources)."""

    cron: str
    targets: list[str] | None = None
    sources: list[str] | None = None
    timezone: str | None = None  # an IANA name like Europe/Zagreb; default UTC
    running: bool = False  # on from the start; otherwise turned on in the UI

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError(
                f"expected a cron expression of 5 fields like '0 * * * *', got {value!r}"
            )
        return value.strip()


class ProjectConfig(Strict):
    warehouse: WarehouseConfig = Field(default_factory=WarehouseConfig)
    landing: str = "landing"
    archive: str = "archive"
    rejected: str = "rejected"
    settle_seconds: Annotated[float, Field(ge=0)] = 2.0
    keep_raw: bool = True
    # Small files of one source loaded together, at most this many (1: each file alone).
    batch_files: Annotated[int, Field(ge=1)] = 1000
    # Of the compute engine: past it, work spills to disk. 1 GB keeps a 1 GB file's load
    # under 1.5 GB at peak; more memory saves little (docs/benchmarks.md). Reading a CSV adds
    # an allowance for each of its columns (compute/duckdb.py COLUMN_ALLOWANCE).
    memory_limit: str = "1GB"
    privacy: PrivacyConfig = PrivacyConfig()
    notify: list[NotifyChannel] = []
    sources: SourceDefaults = SourceDefaults()
    schedules: dict[str, ScheduleConfig] = {}

    storage: dict[str, Any] = {}  # fsspec options for URL folders (endpoint_url, key, ...)
    poll_seconds: Annotated[float, Field(gt=0)] = 30.0  # watch: how often a URL landing is listed

    @field_validator("landing", "archive", "rejected")
    @classmethod
    def _known_location(cls, value: str) -> str:
        # A URL of no known filesystem would be taken as a folder named 'x:' and find nothing.
        from tidegate.store import known_scheme

        scheme = URL_SCHEME.match(value)
        if scheme is None:
            return value
        name = scheme.group(1).lower()
        if name in PROCESS_SCHEMES:
            raise ValueError(
                f"{name}:// is a filesystem inside one process: a tidegate run would find it"
                " empty; give a local folder or a URL of a shared store (s3://, gs://, az://, ...)"
            )
        if name == "file" or known_scheme(name):
            return value
        raise ValueError(
            f"unknown scheme {name}://; give a local folder (relative to the project or"
            " absolute) or a URL of an fsspec filesystem (s3://, gs://, az://, ...)"
        )


# fsspec filesystems that live in the process that made them: nothing lands there for a run.
PROCESS_SCHEMES = ("memory",)


# --------------------------------------------------------------------------- targets/*.yml

ColumnType = str  # varchar, integer, bigint, decimal(p,s), double, boolean, date, timestamp, json

_TYPE = re.compile(
    r"^(varchar|text|string|integer|int|bigint|smallint|double|float|real|boolean|bool|date"
    r"|timestamp|timestamptz|json|decimal\(\s*\d+\s*,\s*\d+\s*\)|decimal|numeric\(\s*\d+\s*,\s*\d+\s*\))$",
    re.IGNORECASE,
)


class MaskSpec(Strict):
    """How ``pii: mask`` hides a value: every character but the kept ones becomes ``char``."""

    keep_first: Annotated[int, Field(ge=0)] = 0
    keep_last: Annotated[int, Field(ge=0)] = 0
    keep_domain: bool = False  # emails: 'a.person@example.com' -> '********@example.com'
    char: Annotated[str, Field(min_length=1, max_length=1)] = "*"


_TEXT_TYPES = ("varchar", "text", "string")


class ColumnSpec(Strict):
    type: ColumnType = "varchar"
    required: bool = False
    pattern: Regex | None = None
    allowed: list[Any] | None = None
    min: float | int | str | None = None
    max: float | int | str | None = None
    length: Annotated[int, Field(gt=0)] | None = None
    min_length: Annotated[int, Field(ge=0)] | None = None
    check: str | None = None
    formats: list[str] | None = None
    pivot_year: Annotated[int, Field(ge=1, le=99)] | None = None
    pii: Literal["hash", "mask", "tokenize", "drop"] | None = None
    mask: MaskSpec | None = None  # with pii: mask; default: every character masked
    description: str | None = None

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if not _TYPE.match(value.strip()):
            raise ValueError(
                f"unknown type {value!r}; expected one of varchar, integer, bigint, "
                "decimal(p,s), double, boolean, date, timestamp, json"
            )
        return value.strip().lower()

    @field_validator("pii")
    @classmethod
    def _pii_stores_text(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = str(info.data.get("type", "varchar"))
        if value in ("hash", "mask", "tokenize") and kind not in _TEXT_TYPES:
            raise ValueError(
                f"pii: {value} stores text; declare the column type varchar (it is {kind})"
            )
        return value

    @field_validator("mask")
    @classmethod
    def _mask_needs_policy(cls, value: MaskSpec | None, info: ValidationInfo) -> MaskSpec | None:
        if value is not None and info.data.get("pii") != "mask":
            raise ValueError("mask options apply to a column with pii: mask")
        return value


class HistoryColumns(Strict):
    """Names of the columns tidegate adds to a merge or scd2 target."""

    valid_from: str = "_valid_from"
    valid_to: str = "_valid_to"
    is_current: str = "_is_current"
    is_deleted: str = "_is_deleted"  # the version ended because its key left a full snapshot
    row_hash: str = "_row_hash"

    @model_validator(mode="after")
    def _distinct(self) -> HistoryColumns:
        names = [name.lower() for name in self.model_dump().values()]
        if len(set(names)) != len(names):
            raise ValueError(f"history column names must differ, got {self.model_dump()}")
        return self


class HistoryConfig(Strict):
    track: Literal["all"] | list[str] = "all"
    deletes: Literal["ignore", "invalidate"] = "ignore"
    effective: str = "run_time"  # run_time | file_mtime | name:<regex> | column:<name>
    valid_to_open: str | None = None  # far-future date for the current version; NULL if unset
    columns: HistoryColumns = HistoryColumns()

    @field_validator("valid_to_open")
    @classmethod
    def _is_timestamp(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                datetime.fromisoformat(value.strip())
            except ValueError:
                raise ValueError(
                    f"expected a date or timestamp like '9999-12-31', got {value!r}"
                ) from None
            return value.strip()
        return value


class Reference(Strict):
    columns: list[str]
    target: str
    target_columns: list[str] | None = None


def _not_reserved(name: str) -> str:
    if name.startswith("_"):
        raise ValueError(
            "names starting with '_' are reserved for tidegate's own columns"
            " (_file_id, _loaded_at, _valid_from, ...)"
        )
    return name


class SubjectSpec(Strict):
    """Whose personal data a target's rows are (see docs/privacy.md).

    ``subject: id`` (the short form) names the column that identifies a data subject:
    the target's rows *are* subjects. ``{column: customer_id, of: customers}`` says each
    row belongs to the subject whose ``customers`` row it points to (``to`` defaults to
    that target's subject column, else its single key column), possibly through another
    related target. A ``load: erase`` target may name the subject target: ``{of: customers}``.
    """

    column: str | None = None
    of: str | None = None
    to: str | None = None
    identifiers: list[str] = []  # other columns that identify a subject (erase --subject email=)

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        return {"column": value} if isinstance(value, str) else value


# Validating the name as a dict key (not in a validator of the whole dict) makes pydantic
# report the error at that key, so the loader can point at its line.
ColumnName = Annotated[str, AfterValidator(_not_reserved)]


class TargetConfig(Strict):
    columns: dict[ColumnName, ColumnSpec]
    key: list[str] = []
    load: Literal["append", "merge", "scd2", "replace", "erase"] = "append"
    history: HistoryConfig = HistoryConfig()
    reject_file_over: str | int | None = None
    duplicates: Literal["quarantine", "keep_last", "keep"] = "quarantine"
    order_by: str | None = None
    references: list[Reference] = []
    subject: SubjectSpec | None = None
    erase: Literal["delete", "anonymise"] = "delete"  # what erasing a subject does to its rows

    @field_validator("columns")
    @classmethod
    def _has_columns(cls, value: dict[str, ColumnSpec]) -> dict[str, ColumnSpec]:
        if not value:
            raise ValueError("a target needs at least one column")
        return value

    # The key and load rules are field validators rather than one model validator so that an
    # error carries the location of 'key' or 'load' (and so its line). They rely on field
    # order: 'columns' is validated before 'key', and 'key' before 'load'.
    @field_validator("key")
    @classmethod
    def _key_columns_exist(cls, value: list[str], info: ValidationInfo) -> list[str]:
        columns = info.data.get("columns")
        for name in value:
            if columns is not None and name not in columns:
                raise ValueError(
                    f"column {name!r} is not one of the target's columns {sorted(columns)}"
                )
        return list(value)

    @field_validator("load")
    @classmethod
    def _load_needs_key(cls, value: str, info: ValidationInfo) -> str:
        if value in ("merge", "scd2") and info.data.get("key") == []:
            raise ValueError(f"{value} needs a 'key' (the columns that identify a row)")
        return value

    @field_validator("reject_file_over")
    @classmethod
    def _threshold(cls, value: str | int | None) -> str | int | None:
        if isinstance(value, str) and not re.fullmatch(r"\d+(\.\d+)?%|\d+", value.strip()):
            raise ValueError(f"expected a percentage like '10%' or a row count, got {value!r}")
        return value


# --------------------------------------------------------------------------- sources/*.yml


class ColumnMatch(Strict):
    columns: list[str]


class ReadOptions(Strict):
    encoding: str = "auto"
    delimiter: str = "auto"
    quote: str = "auto"
    escape: str = "auto"
    header: bool = True
    null: list[str] = [""]
    sheet: str | int | None = None
    skip_rows: Annotated[int, Field(ge=0)] = 0
    records: str | None = None  # JSON path of the record list inside a JSON document


class OutputConfig(Strict):
    target: str
    columns: dict[str, str | None] = {}
    unnest: str | None = None  # expression yielding a list: one output row per element
    unnest_as: str = "item"


FORMATS = Literal["auto", "csv", "tsv", "json", "jsonl", "parquet", "xlsx"]


class SourceConfig(Strict):
    match: str | list[str] | ColumnMatch | None = None  # an api: source routes its own files
    api: ApiConfig | None = None  # pulled from an HTTP API into landing (see docs/api-sources.md)
    format: FORMATS = "auto"
    read: ReadOptions = ReadOptions()
    derive: dict[str, str] = {}  # named expressions over the file, usable by every output
    outputs: list[OutputConfig] = []
    on_new_columns: Literal["keep", "reject"] = "keep"
    name_pattern: Regex | None = None  # regex on the file name; named groups become file values
    priority: int = 0
    expect_every: Duration | None = None  # stale: no new file for this long (see notify)

    @model_validator(mode="after")
    def _matches_something(self) -> SourceConfig:
        if self.match is None and self.api is None:
            raise ValueError("a source needs 'match' (which files are its), or 'api:'")
        return self

    @property
    def globs(self) -> list[str]:
        if isinstance(self.match, str):
            return [self.match]
        if isinstance(self.match, list):
            return list(self.match)
        return []


# --------------------------------------------------------------------------- the bundle


class Project(BaseModel):
    """A loaded project: its root folder and every parsed file."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    root: Path
    config: ProjectConfig
    targets: dict[str, TargetConfig]
    sources: dict[str, SourceConfig]
    models: dict[str, str] = {}  # name -> SQL text of models/<name>.sql
    inputs: str | None = None  # the digest of the files loaded (tidegate.config.inputs)

    def path(self, setting: str) -> Path:
        """Resolve a local folder setting (landing, archive, rejected) against the project
        root; a URL setting is a store (``tidegate.store.project_store``), not a path."""
        value = Path(getattr(self.config, setting))
        return value if value.is_absolute() else self.root / value
