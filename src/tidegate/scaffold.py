"""``tidegate init``: write an example project, or draft one from real files.

A draft infers each column's type from the values (never from the header) in one pass
over them, proposes a key only where a column (or a pair) is filled, unique and named like
an identifier, and says why in a comment; its globs match the file family and its ``.gz``
and ``.zip`` copies without catching the other drafted files. Everything is written with
a YAML emitter, so any file or column name round-trips, and ``tidegate run`` right after
``init --from`` loads the sample files.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from sqlglot import exp

from tidegate import compute
from tidegate.compute.engine import Engine
from tidegate.compute.work import scalar
from tidegate.config.models import ReadOptions
from tidegate.discover.landing import LandingFile
from tidegate.discover.routing import glob_matches
from tidegate.errors import ConfigError, TidegateError
from tidegate.read import read_file
from tidegate.read.result import ReadResult
from tidegate.read.source import data_member, is_zip
from tidegate.read.tables import drop
from tidegate.sql import col, ident, lit, table

DEFAULT_EXAMPLE = "000-prospective-leads"
SKIP = {"warehouse.duckdb", "archive", "rejected", ".tidegate", "tests", "__pycache__"}
DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y", "%d.%m.%Y", "%d/%m/%Y", "%Y/%m/%d")

PROJECT_YML = """\
# tidegate project: where the warehouse is and which folders hold the files.
warehouse:
  type: duckdb            # duckdb | postgres | sqlite | mssql
  path: warehouse.duckdb
landing: landing
archive: archive
rejected: rejected
settle_seconds: 2         # a file must stop changing this long before it is taken
"""


def examples_root() -> Path:
    return Path(str(resources.files("tidegate") / "examples"))


def example_names() -> list[str]:
    root = examples_root()
    return sorted(p.name for p in root.iterdir() if (p / "tidegate.yml").is_file())


def _find_example(name: str) -> Path:
    names = example_names()
    found = [n for n in names if n == name or n.startswith(name) or name in n]
    if len(found) != 1:
        raise ConfigError("--example", f"no single example matches {name!r}; choose from {names}")
    return examples_root() / found[0]


def _check_writable(directory: Path, force: bool) -> None:
    if directory.exists() and any(directory.iterdir()) and not force:
        raise ConfigError(directory, "the folder is not empty (pass --force to write into it)")


def _prepare(directory: Path, force: bool) -> None:
    _check_writable(directory, force)
    directory.mkdir(parents=True, exist_ok=True)


def example(directory: Path, force: bool = False, name: str = DEFAULT_EXAMPLE) -> list[Path]:
    """Copy a bundled example project, sample files included."""
    _prepare(directory, force)
    source = _find_example(name)
    written = []
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if path.is_dir() or SKIP.intersection(relative.parts) or path.suffix == ".duckdb":
            continue
        destination = directory / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)
        written.append(destination)
    for folder in ("landing", "archive", "rejected"):
        (directory / folder).mkdir(exist_ok=True)
    return written


# --------------------------------------------------------------------------- drafting

# Digit runs (with the separators inside dates and versions) vary within a family of files.
DIGIT_RUN = re.compile(r"[0-9][0-9_.:-]*[0-9]|[0-9]")
# fnmatch's metacharacters; routing matches names with fnmatch.
GLOB_SPECIAL = re.compile(r"([*?\[\]])")
COMPRESSED = (".gz", ".zip")
CAMEL = re.compile(r"([a-z0-9])([A-Z])")
TRUE_FALSE = ("true", "false", "t", "f", "yes", "no", "y", "n")  # digits are numbers first
IDENTIFIER_WORDS = frozenset(
    {"id", "key", "code", "sku", "number", "num", "no", "nr", "uuid", "guid", "ref"}
    | {"reference", "identifier", "ean", "upc", "isbn", "iban", "serial"}
)
MEASURE_WORDS = frozenset(
    {"count", "cnt", "qty", "quantity", "amount", "amt", "total", "sum", "price", "cost"}
    | {"value", "balance", "hand", "stock", "weight", "score", "rate", "percent", "pct"}
    | {"avg", "mean", "min", "max", "revenue", "sales", "units", "volume", "size", "age"}
)
# Types whose values are measured, not named: never proposed as part of a key.
MEASURE_TYPES = ("double", "decimal", "boolean", "json", "real")
NATIVE_TYPES = {
    "BOOLEAN": "boolean",
    "TINYINT": "smallint",
    "SMALLINT": "smallint",
    "UTINYINT": "smallint",
    "INTEGER": "integer",
    "USMALLINT": "integer",
    "BIGINT": "bigint",
    "UINTEGER": "bigint",
    "UBIGINT": "decimal(38,0)",
    "HUGEINT": "decimal(38,0)",
    "UHUGEINT": "decimal(38,0)",
    "FLOAT": "double",
    "DOUBLE": "double",
    "DATE": "date",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "JSON": "json",
}
# Key pairs are looked for among the first columns only, so a wide file stays quick.
PAIR_FIRSTS = 16
PAIR_SECONDS = 64
NAME, VALUE = "name", "value"


@dataclass(frozen=True)
class Column:
    source: str  # the name in the file
    name: str  # the target column name
    type: str
    formats: tuple[str, ...] = ()
    present: int = 0  # rows with a value
    distinct: int = 0  # distinct values


@dataclass(frozen=True)
class Key:
    columns: list[str]
    why: str


@dataclass(frozen=True)
class Draft:
    name: str
    file: Path
    format: str
    columns: list[Column]
    key: Key
    globs: list[str]


def snake(name: str, position: int) -> str:
    """``Order ID``, ``OrderID`` and ``order-id`` -> ``order_id``."""
    spaced = CAMEL.sub(r"\1_\2", name)
    cleaned = re.sub(r"[^0-9a-zA-Z]+", "_", spaced).strip("_").lower()
    if not cleaned:
        return f"column_{position}"
    return f"c_{cleaned}" if cleaned[0].isdigit() else cleaned


def target_names(sources: Sequence[str]) -> list[str]:
    """Snake-case names, made distinct: ``Amount`` and ``amount`` cannot both be columns."""
    names: list[str] = []
    taken: set[str] = set()
    for position, source in enumerate(sources, start=1):
        names.append(_distinct(snake(source, position), taken))
    return names


def _distinct(base: str, taken: set[str]) -> str:
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name


def _words(name: str) -> list[str]:
    """``OrderID`` and ``order_id`` -> [order, id]: the words a column's name is made of."""
    spaced = CAMEL.sub(r"\1_\2", name)
    return [w for w in re.split(r"[^0-9a-zA-Z]+", spaced.lower()) if w]


def named_like_identifier(name: str) -> bool:
    return bool(IDENTIFIER_WORDS.intersection(_words(name))) and not looks_like_measure(name)


def looks_like_measure(name: str) -> bool:
    """``on_hand``, ``Total Amount``, ``number_of_items``: a quantity, however unique."""
    words = _words(name)
    counted = words[:1] in (["n"], ["num"], ["number"]) and words[1:2] == ["of"]
    return counted or bool(MEASURE_WORDS.intersection(words))


# --------------------------------------------------------------------------- types


def native_type(kind: str) -> str:
    """A target type for a column the reader already typed (Parquet, JSON's nested fields)."""
    upper = kind.upper()
    if "STRUCT" in upper or "MAP" in upper or upper.endswith("]"):
        return "json"
    if upper.startswith("DECIMAL"):
        return upper.lower().replace(" ", "")
    if upper.startswith("TIMESTAMP") and upper not in NATIVE_TYPES:
        return "timestamp"
    return NATIVE_TYPES.get(upper, "varchar")


def _every(condition: exp.Expr) -> exp.Expr:
    """True when the condition holds for every present value of the group."""
    return exp.func("bool_and", exp.func("coalesce", condition, exp.false()))


def _matches(text: exp.Expr, pattern: str) -> exp.Expr:
    return exp.RegexpLike(this=text.copy(), expression=lit(pattern))


def _converts(typed: exp.Expr) -> exp.Expr:
    return typed.is_(exp.null()).not_()


def _try_cast(text: exp.Expr, kind: str) -> exp.Expr:
    return exp.TryCast(this=text.copy(), to=exp.DataType.build(kind))


def _checks() -> list[exp.Expr]:
    """Per column, over its present values: what every value of it would convert to.

    Exact text shapes come before casts, because a cast would round 9.50 into an integer
    and read ``00123`` (a code) as the number 123.
    """
    text = exp.func("trim", col(VALUE))
    integer_part = exp.func("split_part", text.copy(), lit("."), lit(1))
    return [
        exp.Count(this=exp.Star()),
        exp.Count(this=exp.Distinct(expressions=[col(VALUE)])),
        exp.func("bool_or", _matches(text, r"^[+-]?0[0-9]")),
        _every(_matches(text, r"^[+-]?\d{1,18}$")),
        _every(_matches(text, r"^[+-]?(\d+\.?\d*|\.\d+)$")),
        exp.Max(this=exp.func("length", exp.func("split_part", text.copy(), lit("."), lit(2)))),
        exp.Max(this=exp.func("length", exp.func("ltrim", integer_part, lit("+-")))),
        _every(exp.func("lower", text.copy()).isin(*map(lit, TRUE_FALSE))),
        _every(_converts(_try_cast(text, "double"))),
        *(
            _every(_converts(exp.func("try_strptime", text.copy(), lit(fmt))))
            for fmt in DATE_FORMATS
        ),
        _every(_converts(_try_cast(text, "timestamp"))),
    ]


@dataclass(frozen=True)
class Stats:
    """What the values of one column are, from one aggregate row (the order of ``_checks``)."""

    present: int
    distinct: int
    padded: bool
    integers: bool
    decimals: bool
    scale: int
    digits: int
    booleans: bool
    doubles: bool
    dates: tuple[bool, ...]
    timestamps: bool

    @classmethod
    def of(cls, row: Sequence[Any]) -> Stats:
        n = len(DATE_FORMATS)
        flags = [bool(v) for v in row[2:]]
        return cls(
            int(row[0]),
            int(row[1]),
            flags[0],
            flags[1],
            flags[2],
            int(row[5] or 0),
            int(row[6] or 0),
            flags[5],
            flags[6],
            tuple(flags[7 : 7 + n]),
            flags[7 + n],
        )


def text_type(stats: Stats | None) -> tuple[str, tuple[str, ...]]:
    """The narrowest type every present value of a text column converts to."""
    if stats is None or stats.present == 0:
        return "varchar", ()
    numeric = not stats.padded
    if numeric and stats.integers:
        return "bigint", ()
    if numeric and stats.decimals:
        scale = max(1, min(stats.scale, 6))
        if stats.digits + scale <= 18:
            return f"decimal(18,{scale})", ()
        if stats.digits + scale <= 38:
            return f"decimal(38,{scale})", ()
    if stats.booleans:
        return "boolean", ()
    if numeric and stats.doubles:
        return "double", ()
    for fmt, parsed in zip(DATE_FORMATS, stats.dates, strict=True):
        if parsed:
            return "date", (fmt,)
    if stats.timestamps:
        return "timestamp", ()
    return "varchar", ()


def profile(con: Engine, source: str, kinds: Sequence[tuple[str, str]]) -> dict[str, Stats]:
    """Every column's ``Stats`` (by name) from one pass over its values.

    The columns are unpivoted into (column, value) rows, so the cost grows with the
    number of values and not with columns times checks: every query over a table of
    10,000 columns is slow in itself, and one per check per column took minutes.
    """
    if not kinds:
        return {}
    # Positions rather than names: a unpivoted name is a value, and any text is one.
    positions = [f"c{i}" for i in range(len(kinds))]
    text = exp.DataType.build("varchar")
    wide = exp.Select(
        expressions=[
            exp.alias_(
                col(name) if kind == "VARCHAR" else exp.Cast(this=col(name), to=text.copy()),
                alias,
                quoted=True,
                copy=False,
            )
            for (name, kind), alias in zip(kinds, positions, strict=True)
        ]
    ).from_(table(source), copy=False)
    unpivot = exp.Pivot(
        expressions=[ident(VALUE)],
        fields=[exp.In(this=ident(NAME), expressions=[col(p) for p in positions])],
        unpivot=True,
    )
    values = exp.Subquery(this=wide, pivots=[unpivot])
    query = (
        exp.select(col(NAME), *_checks()).from_(values, copy=False).group_by(col(NAME), copy=False)
    )
    found = {str(row[0]): Stats.of(row[1:]) for row in con.execute(query)}
    return {name: found[p] for (name, _), p in zip(kinds, positions, strict=True) if p in found}


def draft_columns(con: Engine, source: str, names: Sequence[str]) -> list[Column]:
    described = {
        str(r[0]): str(r[1]).upper() for r in con.execute(exp.Describe(this=table(source)))
    }
    kinds = [(name, described[name]) for name in names]
    stats = profile(con, source, kinds)
    columns = []
    for (name, kind), target in zip(kinds, target_names(names), strict=True):
        found = stats.get(name)
        type_, formats = text_type(found) if kind == "VARCHAR" else (native_type(kind), ())
        present, distinct = (found.present, found.distinct) if found else (0, 0)
        columns.append(Column(name, target, type_, formats, present, distinct))
    return columns


# --------------------------------------------------------------------------- keys


def _rows(total: int) -> str:
    return f"{total:,} row" + ("" if total == 1 else "s")


def _keyable(column: Column, total: int) -> bool:
    """Filled on every row, and a name or a code rather than a measurement."""
    return (
        column.present == total
        and not column.type.startswith(MEASURE_TYPES)
        and not looks_like_measure(column.source)
    )


def suggest_key(con: Engine, source: str, columns: list[Column]) -> Key:
    """A column, else a pair, that is filled, unique and named like an identifier.

    A column that is merely unique in a sample (a count of 5, 7 and 3) is unique by
    chance; a key is also what the data is about, which only its name can tell here.
    """
    total = scalar(con, exp.select(exp.Count(this=exp.Star())).from_(table(source)))
    keyable = [c for c in columns if total and _keyable(c, total)]
    for column in keyable:
        if column.distinct == total and named_like_identifier(column.source):
            why = f"{column.name}: unique and filled over {_rows(total)}, and named like an identifier"
            return Key([column.name], why)
    pair = _unique_pair(con, source, [c for c in keyable if c.distinct < total], total)
    if pair is not None:
        first, second = pair
        named = [c.name for c in pair if named_like_identifier(c.source)]
        why = (
            f"{first.name} + {second.name}: unique together and filled over {_rows(total)}"
            f" (neither is alone), and {' and '.join(named)}"
            f" {'is named like an identifier' if len(named) == 1 else 'are named like identifiers'}"
        )
        return Key([first.name, second.name], why)
    return Key(
        [],
        f"none proposed: no column or pair of columns is unique and filled over {_rows(total)}"
        " and named like an identifier (id, key, code, sku, number...); merge and scd2 need one",
    )


def _unique_pair(
    con: Engine, source: str, candidates: list[Column], total: int
) -> tuple[Column, Column] | None:
    """The first pair, in file order, with an identifier first, that is unique together."""
    firsts = [c for c in candidates if named_like_identifier(c.source)][:PAIR_FIRSTS]
    seconds = candidates[:PAIR_SECONDS]
    pairs = [
        (a, b)
        for a in firsts
        for b in seconds
        if a is not b
        and a.distinct * b.distinct >= total
        and (b not in firsts or _before(a, b, candidates))
    ]
    if not pairs:
        return None
    counts = [
        exp.Count(this=exp.Distinct(expressions=[exp.func("row", col(a.source), col(b.source))]))
        for a, b in pairs
    ]
    [row] = con.execute(exp.select(*counts).from_(table(source)))
    found = [pair for pair, n in zip(pairs, row, strict=True) if n == total]
    if not found:
        return None
    # Two identifiers together read better than an identifier and a label.
    found.sort(key=lambda p: not named_like_identifier(p[1].source))
    a, b = found[0]
    return (a, b) if _before(a, b, candidates) else (b, a)


def _before(a: Column, b: Column, columns: list[Column]) -> bool:
    return columns.index(a) < columns.index(b)


# --------------------------------------------------------------------------- globs


def escape_glob(text: str) -> str:
    """``weird[1]*?.csv`` matched literally: each metacharacter in a class of its own."""
    return GLOB_SPECIAL.sub(r"[\1]", text)


def family_glob(name: str) -> str:
    """``sales_2024-01-31.csv`` -> ``sales_*.csv``: digit runs become wildcards.

    Everything else is matched literally, whatever characters the name holds.
    """
    parts = DIGIT_RUN.split(name)
    return "*".join(escape_glob(part) for part in parts)


def plain_name(file: Path) -> str:
    """The name the file has without compression: ``a.csv.gz`` and ``a.zip`` (of a.csv)."""
    name = file.name
    if name.lower().endswith(".gz"):
        return name[: -len(".gz")]
    if is_zip(file):
        return PurePosixPath(data_member(file)).name
    return name


def with_compressed(glob: str, plain: str) -> list[str]:
    """The glob, its gzip and zip copies, and a zip named after the file's stem."""
    out = [glob, *(glob + suffix for suffix in COMPRESSED)]
    suffix = escape_glob(PurePosixPath(plain).suffix)
    if suffix and glob.endswith(suffix) and len(glob) > len(suffix):
        out.append(glob[: -len(suffix)] + ".zip")
    return list(dict.fromkeys(out))


def _probe(file: Path) -> LandingFile:
    return LandingFile(file, file.name, 0, 0.0, "")


def draft_globs(files: Sequence[Path]) -> list[list[str]]:
    """Globs per file: its family, unless that would also catch another of the files."""
    probes = [_probe(f) for f in files]
    out = []
    for file, probe in zip(files, probes, strict=True):
        plain = plain_name(file)
        globs = with_compressed(family_glob(plain), plain)
        others = [p for p in probes if p is not probe]
        if any(glob_matches(g, other) for g in globs for other in others):
            globs = with_compressed(escape_glob(plain), plain)
        if not any(glob_matches(g, probe) for g in globs):
            globs.append(escape_glob(file.name))  # a zip named unlike its member
        out.append(globs)
    return out


def _check_names(files: Sequence[Path]) -> None:
    """Files land side by side, and routing ignores case: their names must differ."""
    seen: dict[str, Path] = {}
    for file in files:
        if file.is_dir():
            raise ConfigError(file, "is a folder: pass one sample file of each kind from it")
        if not file.is_file():
            raise ConfigError(file, "no such file")
        other = seen.setdefault(file.name.lower(), file)
        if other != file:
            raise ConfigError(file, f"has the same name as {other}; rename one of them")


# --------------------------------------------------------------------------- YAML


# libyaml's emitter when PyYAML has it: a draft of 10,000 columns is written in a blink.
_SafeDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_STR = "tag:yaml.org,2002:str"
# Text that reads the same in any YAML unquoted; anything else is double-quoted.
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


class _Dumper(_SafeDumper):  # type: ignore[misc,valid-type]
    """PyYAML's safe dumper, writing double quotes wherever text is not a plain word.

    Double-quoted YAML escapes every character (a line break is ``\\n``), so each entry
    stays on one line and means exactly its text, whatever a file or column is called.
    """


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    implicit = dumper.resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
    plain = _PLAIN.fullmatch(value) is not None and implicit == _STR
    return dumper.represent_scalar(_STR, value, style=None if plain else '"')


class _Flow(dict[str, Any]):
    """A mapping written on one line: ``{type: date, formats: ["%m/%d/%Y"]}``."""


class _FlowList(list[str]):
    """A list written on one line."""


def _flow_mapping(dumper: yaml.SafeDumper, value: _Flow) -> yaml.MappingNode:
    return dumper.represent_mapping("tag:yaml.org,2002:map", value, flow_style=True)


def _flow_list(dumper: yaml.SafeDumper, value: _FlowList) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


_Dumper.add_representer(str, _text)
_Dumper.add_representer(_Flow, _flow_mapping)
_Dumper.add_representer(_FlowList, _flow_list)


def _yaml(data: dict[str, Any]) -> str:
    text: str = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1 << 30)
    return text


def _comment(text: str) -> str:
    """A YAML comment line; file names are quoted so their line breaks stay escaped."""
    return f"# {text}\n"


def _label(file: Path) -> str:
    return json.dumps(file.name, ensure_ascii=False)


def target_yaml(draft: Draft) -> str:
    columns = {
        c.name: _Flow({"type": c.type, **({"formats": _FlowList(c.formats)} if c.formats else {})})
        for c in draft.columns
    }
    parts = [
        _comment(f"Drafted from {_label(draft.file)}: check the types, rules and key."),
        _yaml({"columns": columns}),
        _comment(f"key: {draft.key.why}"),
        _yaml({"key": _FlowList(draft.key.columns)}) if draft.key.columns else "",
        _yaml({"load": "append"}).rstrip("\n")
        + "  # merge or scd2 keep one row (or one history) per key\n",
    ]
    return "".join(parts)


def source_yaml(draft: Draft) -> str:
    mapping = {c.name: exp.column(c.source, quoted=True).sql("duckdb") for c in draft.columns}
    parts = [
        _comment(
            f"Drafted from {_label(draft.file)}; the globs also take its .gz and .zip copies."
        ),
        _yaml({"match": _FlowList(draft.globs)}),
        _yaml({"format": draft.format}),
        _yaml({"outputs": [{"target": draft.name, "columns": mapping}]}),
    ]
    return "".join(parts)


# --------------------------------------------------------------------------- the draft


def _target_base(file: Path) -> str:
    stem = DIGIT_RUN.sub(" ", plain_name(file)).split(".")[0]
    base = snake(stem, 1)
    return "source" if base == "column_1" else base


def _draft_one(con: Engine, file: Path, globs: list[str], taken: set[str]) -> Draft:
    try:
        result = read_file(con, file, ReadOptions(), "auto")
    except TidegateError as exc:
        raise ConfigError(file, f"cannot draft from this file: {exc}") from exc
    if not result.columns:
        raise ConfigError(file, f"cannot draft from this file: {_no_columns(result)}")
    columns = draft_columns(con, result.table, result.columns)
    key = suggest_key(con, result.table, columns)
    drop(con, result.table)
    name = _distinct(_target_base(file), taken)
    return Draft(name, file, result.format, columns, key, globs)


def _no_columns(result: ReadResult) -> str:
    """Why a file that was read gave nothing to map (a JSON scalar, an empty object)."""
    if result.bad:
        first = result.bad[0]
        return (
            f"it holds no records with fields (record {first.row}: {first.reason});"
            " a JSON file must hold objects: one, an array of them, or one per line"
        )
    return "its records have no fields"


def _write(directory: Path, drafts: Sequence[Draft]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / "tidegate.yml"]
    written[0].write_text(PROJECT_YML, encoding="utf-8")
    for found in drafts:
        for folder, text in (("targets", target_yaml(found)), ("sources", source_yaml(found))):
            path = directory / folder / f"{found.name}.yml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
        landing = directory / "landing" / found.file.name
        landing.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(found.file, landing)
        written.append(landing)
    for folder in ("archive", "rejected"):
        (directory / folder).mkdir(exist_ok=True)
    return written


def draft(directory: Path, files: Sequence[Path], force: bool = False) -> list[Path]:
    """Draft ``sources/`` and ``targets/`` from real files and copy them into landing.

    Every file is drafted before anything is written, so a file that cannot be drafted
    leaves no half-made project behind.
    """
    _check_names(files)
    _check_writable(directory, force)
    taken: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="tidegate-draft-") as scratch:
        con = compute.connect(Path(scratch))
        try:
            drafts = [
                _draft_one(con, file, globs, taken)
                for file, globs in zip(files, draft_globs(files), strict=True)
            ]
        finally:
            con.close()
    return _write(directory, drafts)
