"""``tidegate init``: write an example project, or draft one from real files.

A draft infers each column's type from the values (never from the header), suggests a
key (a column that is filled and unique, preferring names like ``id``), and a glob that
matches the file family without catching the other drafted files, so that
``tidegate run`` right after ``init --from`` loads them.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import duckdb
from sqlglot import exp

from tidegate import compute
from tidegate.config.models import ReadOptions
from tidegate.discover.routing import glob_matches
from tidegate.errors import ConfigError, TidegateError
from tidegate.read import read_file
from tidegate.sql import col, lit, table
from tidegate.transform.evaluate import run, scalar

DEFAULT_EXAMPLE = "000-prospective-leads"
SKIP = {"warehouse.duckdb", "archive", "rejected", ".tidegate", "tests", "__pycache__"}
DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y", "%d.%m.%Y", "%d/%m/%Y", "%Y/%m/%d")
KEY_HINTS = re.compile(r"(^|_)(id|key|code|number|uuid)$")

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


def _prepare(directory: Path, force: bool) -> None:
    if directory.exists() and any(directory.iterdir()) and not force:
        raise ConfigError(directory, "the folder is not empty (pass --force to write into it)")
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


@dataclass(frozen=True)
class Column:
    source: str  # the name in the file
    name: str  # the target column name
    type: str
    formats: tuple[str, ...] = ()


@dataclass(frozen=True)
class Draft:
    name: str
    file: Path
    format: str
    columns: list[Column]
    key: list[str]
    glob: str


def snake(name: str, position: int) -> str:
    cleaned = re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()
    if not cleaned:
        return f"column_{position}"
    return f"c_{cleaned}" if cleaned[0].isdigit() else cleaned


def _all_cast(con: duckdb.DuckDBPyConnection, source: str, column: str, typed: exp.Expr) -> bool:
    """True when every present value of the column converts."""
    value = col(column)
    failed = exp.and_(exp.not_(value.is_(exp.null())), typed.is_(exp.null()))
    query = exp.select(exp.func("count", exp.Star())).from_(table(source)).where(failed)
    return scalar(con, query) == 0


def infer_type(
    con: duckdb.DuckDBPyConnection, source: str, column: str, kind: str
) -> tuple[str, tuple[str, ...]]:
    """The narrowest type every value of a text column converts to."""
    if kind.upper() != "VARCHAR":
        return (
            "json"
            if kind.upper() in ("JSON",) or "STRUCT" in kind or "[]" in kind
            else kind.lower()
        ), ()
    if _present_count(con, source, column) == 0:
        return "varchar", ()
    text = exp.func("trim", col(column))
    if _all_match(con, source, column, r"^[+-]?\d{1,18}$"):
        return "bigint", ()
    if _all_match(con, source, column, r"^[+-]?(\d+\.?\d*|\.\d+)$"):
        return f"decimal(18,{_max_scale(con, source, column)})", ()
    if _all_cast(
        con, source, column, exp.TryCast(this=text.copy(), to=exp.DataType.build("double"))
    ):
        return "double", ()
    for fmt in DATE_FORMATS:
        parsed = exp.func("try_strptime", text.copy(), lit(fmt))
        if _all_cast(con, source, column, parsed):
            return "date", (fmt,)
    if _all_cast(
        con, source, column, exp.TryCast(this=text.copy(), to=exp.DataType.build("timestamp"))
    ):
        return "timestamp", ()
    return "varchar", ()


def _all_match(con: duckdb.DuckDBPyConnection, source: str, column: str, pattern: str) -> bool:
    """Exact text shapes, because a cast would round 9.50 into an integer."""
    matches = exp.RegexpLike(this=exp.func("trim", col(column)), expression=lit(pattern))
    return _all_cast(con, source, column, exp.Case(ifs=[exp.If(this=matches, true=lit(1))]))


def _max_scale(con: duckdb.DuckDBPyConnection, source: str, column: str) -> int:
    decimals = exp.func(
        "length", exp.func("split_part", exp.func("trim", col(column)), lit("."), lit(2))
    )
    scale = scalar(con, exp.select(exp.Max(this=decimals)).from_(table(source)))
    return max(1, min(scale, 6))


def _present_count(con: duckdb.DuckDBPyConnection, source: str, column: str) -> int:
    query = exp.select(exp.func("count", col(column))).from_(table(source))
    return scalar(con, query)


def suggest_key(con: duckdb.DuckDBPyConnection, source: str, columns: list[Column]) -> list[str]:
    """A filled, unique column; names like ``id`` first."""
    total = scalar(con, exp.select(exp.func("count", exp.Star())).from_(table(source)))
    ranked = sorted(columns, key=lambda c: (not KEY_HINTS.search(c.name), columns.index(c)))
    for column in ranked:
        distinct = exp.Count(this=exp.Distinct(expressions=[col(column.source)]))
        if total and scalar(con, exp.select(distinct).from_(table(source))) == total:
            return [column.name]
    return []


def family_glob(name: str) -> str:
    """``sales_2024-01-31.csv`` -> ``sales_*.csv``: digit runs become wildcards."""
    return re.sub(r"\*+", "*", re.sub(r"[0-9][0-9_.:-]*[0-9]|[0-9]", "*", name))


def _globs(files: Sequence[Path]) -> list[str]:
    """A family glob per file, unless it would also catch another of the drafted files."""
    from tidegate.discover.landing import LandingFile

    probes = [LandingFile(f, f.name, 0, 0.0, "") for f in files]
    out = []
    for file in files:
        glob = family_glob(file.name)
        if sum(glob_matches(glob, probe) for probe in probes) > 1:
            glob = file.name
        out.append(glob)
    return out


def _draft_one(con: duckdb.DuckDBPyConnection, file: Path, glob: str, taken: set[str]) -> Draft:
    result = read_file(con, file, ReadOptions(), "auto")
    kinds = {str(r[0]): str(r[1]) for r in run(con, exp.Describe(this=table(result.table)))}
    columns = []
    for position, name in enumerate(result.columns, start=1):
        kind, formats = infer_type(con, result.table, name, str(kinds[name]))
        columns.append(Column(name, snake(name, position), kind, formats))
    base = snake(family_glob(file.name).split(".")[0].replace("*", " "), 1)
    target = base
    while target in taken:
        target = f"{base}_{len(taken) + 1}"
    taken.add(target)
    return Draft(
        target, file, result.format, columns, suggest_key(con, result.table, columns), glob
    )


def _q(text: str) -> str:
    """A YAML scalar that means exactly ``text`` (JSON strings are YAML)."""
    return json.dumps(text, ensure_ascii=False)


def target_yaml(draft: Draft) -> str:
    lines = [f"# Drafted from {draft.file.name}: check the types, rules and key.", "columns:"]
    for c in draft.columns:
        extra = f", formats: [{', '.join(_q(f) for f in c.formats)}]" if c.formats else ""
        kind = _q(c.type) if "," in c.type else c.type  # a bare comma would end the flow map
        lines.append(f"  {c.name}: {{type: {kind}{extra}}}")
    if draft.key:
        lines.append(f"key: [{', '.join(draft.key)}]  # unique and filled in the sample")
    lines.append("load: append  # merge or scd2 keep one row (or one history) per key")
    return "\n".join(lines) + "\n"


def source_yaml(draft: Draft) -> str:
    lines = [
        f"# Drafted from {draft.file.name}.",
        f"match: {_q(draft.glob)}",
        f"format: {draft.format}",
        "outputs:",
        f"  - target: {draft.name}",
        "    columns:",
    ]
    for c in draft.columns:
        lines.append(f"      {c.name}: {_q(exp.column(c.source, quoted=True).sql('duckdb'))}")
    return "\n".join(lines) + "\n"


def draft(directory: Path, files: Sequence[Path], force: bool = False) -> list[Path]:
    """Draft ``sources/`` and ``targets/`` from real files and copy them into landing."""
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise ConfigError(missing[0], "no such file")
    _prepare(directory, force)
    con = compute.connect(directory)
    taken: set[str] = set()
    written = [directory / "tidegate.yml"]
    written[0].write_text(PROJECT_YML, encoding="utf-8")
    for file, glob in zip(files, _globs(files), strict=True):
        try:
            found = _draft_one(con, file, glob, taken)
        except TidegateError as exc:
            raise ConfigError(file, f"cannot draft from this file: {exc}") from exc
        for folder, text in (("targets", target_yaml(found)), ("sources", source_yaml(found))):
            path = directory / folder / f"{found.name}.yml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
        landing = directory / "landing" / file.name
        landing.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, landing)
        written.append(landing)
    return written
