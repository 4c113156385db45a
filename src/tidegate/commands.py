"""The command line's commands (a typer app): the only place that prints.

Exit codes: 0 everything loaded, 1 some file rejected or failed, 2 configuration or
connection error. No traceback unless ``--debug`` (before or after the command).

Every value that comes from a file, the ledger or the user is printed as literal text
(``say`` escapes it, table cells are ``Text``), never read as rich markup: a file named
``crm_[red]x.csv`` or a quarantined value ``[/x]`` is shown exactly as it is.
"""

from __future__ import annotations

import gc
import json
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from tidegate import __version__
from tidegate.errors import (
    ConfigError,
    ConnectionFailed,
    StoreUnavailable,
    TidegateError,
    UnknownNameError,
)

GLOBAL_FLAGS = ("--debug",)  # options of the group that may also follow the command


class Group(TyperGroup):
    """tidegate's commands, parsed the way the README writes them.

    ``--debug`` is read wherever it stands; an option that may be repeated also takes
    several values in a row (``init p --from a.csv b.json``); flags show no value type.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist(args, GLOBAL_FLAGS))

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None:
            params = command.get_params(ctx)
            _plain_flags(params)
            rest = spread(rest, params)
        return name, command, rest

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)
        _plain_flags(params)
        return params


app = typer.Typer(
    name="tidegate",
    cls=Group,
    help="Load files of every shape into a data warehouse exactly once.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

EXIT_OK, EXIT_FILES, EXIT_CONFIG = 0, 1, 2

ProjectOption = Annotated[
    Path, typer.Option("--project", "-p", help="The project folder.", show_default=False)
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


# --------------------------------------------------------------------------- parsing


def hoist(args: list[str], flags: Sequence[str]) -> list[str]:
    """``flags`` found after the command moved in front of it, where the group reads them.

    >>> hoist(["run", "--debug", "-p", "x"], ["--debug"])
    ['--debug', 'run', '-p', 'x']
    """
    end = args.index("--") if "--" in args else len(args)
    head = args[:end]
    return [*(a for a in head if a in flags), *(a for a in head if a not in flags), *args[end:]]


def spread(args: list[str], params: Sequence[Any]) -> list[str]:
    """Several values after a repeatable option become that option repeated, leaving the
    command's required arguments their own values: for ``init DIRECTORY --from FILE...``,
    ``p --from a b`` and ``--from a b p`` both draft from a and b into p.
    """
    options = [p for p in params if getattr(p, "param_type_name", "") == "option"]
    repeatable = {o for p in options if p.multiple and not p.is_flag for o in p.opts}
    valued = {o for p in options if not p.is_flag for o in (*p.opts, *p.secondary_opts)}
    arguments = [p for p in params if getattr(p, "param_type_name", "") == "argument"]
    wanted = sum(1 for p in arguments if p.required) if all(p.nargs == 1 for p in arguments) else 0
    items = _items(args, repeatable, valued)
    positional = sum(1 for kind, _, _ in items if kind == "argument")
    _give_back(items, wanted - positional)
    spread_out: list[str] = []
    for kind, option, values in items:
        if kind == "repeated":
            for value in values:
                spread_out.extend([option, value])
        else:
            spread_out.extend(values)
    return spread_out


Item = tuple[str, str, list[str]]  # (argument | option | repeated, the option, its tokens)


def _items(args: list[str], repeatable: set[str], valued: set[str]) -> list[Item]:
    items: list[Item] = []
    i = 0
    while i < len(args):
        token = args[i]
        name, equals, inline = token.partition("=")
        if token == "--":
            items.append(("option", "", ["--"]))
            items.extend(("argument", "", [a]) for a in args[i + 1 :])
            break
        if name in repeatable and name.startswith("-"):
            values = [inline] if equals else []
            i += 1
            while i < len(args) and not (args[i].startswith("-") and args[i] != "-"):
                values.append(args[i])
                i += 1
            items.append(("repeated", name, values) if values else ("option", "", [token]))
            continue
        if token in valued:
            items.append(("option", "", args[i : i + 2]))
            i += 2
            continue
        kind = "option" if token.startswith("-") and token != "-" else "argument"
        items.append((kind, "", [token]))
        i += 1
    return items


def _give_back(items: list[Item], missing: int) -> None:
    """The last values of repeated options become the arguments that would be missing."""
    for index in range(len(items) - 1, -1, -1):
        kind, option, values = items[index]
        if missing <= 0:
            return
        if kind != "repeated" or len(values) < 2:
            continue
        taken = min(missing, len(values) - 1)
        items[index] = (kind, option, values[:-taken])
        for offset, value in enumerate(values[-taken:], start=1):
            items.insert(index + offset, ("argument", "", [value]))
        missing -= taken


def _plain_flags(params: Sequence[Any]) -> None:
    """A flag takes no value, so its help shows no type (typer would print ``<bool>``)."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""


# --------------------------------------------------------------------------- printing


def say(console: Console, markup: str, *values: object) -> None:
    """Print one line: ``markup`` is ours, each ``{}`` in it a value printed literally."""
    shown = markup.format(*(escape("" if v is None else str(v)) for v in values))
    console.print(shown, highlight=False, soft_wrap=True, emoji=False)


@dataclass(frozen=True)
class Column:
    header: str
    number: bool = False  # right-aligned, never wrapped
    wrap: bool = False  # long text (names, paths, messages): wrapped, folded where no spaces
    drop: int = 0  # 0: always shown; others are left out, highest first, when space is short


SEPARATOR = 2  # between two columns: the (blank) rule and one space of padding
STATUS_STYLES = {
    "loaded": "green",
    "ok": "green",
    "duplicate": "dim",
    "rejected": "red",
    "failed": "red",
    "interrupted": "yellow",
    "partial": "yellow",
}


def _cell(value: object) -> Text:
    if isinstance(value, Text):
        return value
    return Text("" if value is None else str(value))


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(status, ""))


def print_table(
    title: str | None, columns: list[Column], rows: list[list[Any]], console: Console = out
) -> None:
    """The one way a table is printed: every cell literal text, fitted to the width."""
    kept = _fitting(columns, rows, console.width)
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    for i in kept:
        column = columns[i]
        table.add_column(
            column.header,
            justify="right" if column.number else "left",
            no_wrap=not column.wrap,
            overflow="fold",
        )
    for row in rows:
        table.add_row(*(_cell(row[i]) for i in kept))
    console.print(table)


def _fitting(columns: list[Column], rows: list[list[Any]], width: int) -> list[int]:
    """The columns to show: while the table would be wider than ``width``, optional columns
    are left out, empty ones first, so that names and paths are shown whole where possible
    (past that, the wrapped columns wrap)."""

    def widest(i: int) -> int:
        return max([cell_len(columns[i].header), *(cell_len(_cell(r[i]).plain) for r in rows)])

    def empty(i: int) -> bool:
        return all(_cell(r[i]).plain in ("", "0", "-") for r in rows)

    kept = list(range(len(columns)))
    optional = sorted(
        (i for i in kept if columns[i].drop), key=lambda i: (not empty(i), -columns[i].drop)
    )
    for i in optional:
        if sum(widest(j) for j in kept) + SEPARATOR * (len(kept) - 1) <= width:
            break
        kept.remove(i)
    return kept


class State:
    debug = False
    log_level: str | None = None


def _print_version(value: bool) -> None:
    if value:
        say(out, "tidegate {}", __version__)
        raise typer.Exit(EXIT_OK)


@app.callback()
def main_options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks (before or after the command).")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version.", callback=_print_version, is_eager=True
        ),
    ] = False,
    log_level: Annotated[
        str | None,
        typer.Option(
            "--log-level",
            help="debug, info, warning or error, for the project's log in .tidegate/logs/ "
            "(default: TIDEGATE_LOG_LEVEL, else info).",
        ),
    ] = None,
) -> None:
    State.debug = debug
    State.log_level = log_level


@contextmanager
def handled() -> Iterator[None]:
    """Turn tidegate's errors into one clear line and the documented exit code."""
    try:
        yield
    except typer.Exit:
        raise
    except (ConfigError, ConnectionFailed, StoreUnavailable) as exc:
        _fail(exc, EXIT_CONFIG)
    except TidegateError as exc:
        _fail(exc, EXIT_FILES)
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None
    except Exception as exc:  # a bug of ours: still one line, the traceback under --debug
        _fail(exc, EXIT_FILES, internal=True)


def _fail(exc: BaseException, code: int, internal: bool = False) -> None:
    """The error in one line, after its traceback under ``--debug``; the exit code is the
    same either way, so a script sees the same outcome when debugging."""
    if State.debug:
        traceback.print_exception(exc, file=sys.stderr)
    if internal:
        hint = "" if State.debug else " (rerun with --debug for the traceback)"
        say(err, "[bold red]internal error:[/] {}: {}{}", type(exc).__name__, exc, hint)
    else:
        say(err, "[bold red]error:[/] {}", exc)
    raise typer.Exit(code) from None


def _project(path: Path | None) -> Any:
    """The project, with its log set up."""
    from tidegate import log
    from tidegate.config import load_project

    project = load_project((path or Path.cwd()).resolve())
    try:
        log.configure(project.root, State.log_level)
    except ValueError as exc:
        raise ConfigError("--log-level", str(exc)) from None
    except OSError as exc:  # a read-only project can still be looked at
        say(err, "warning: no log file in {}: {}", project.root / ".tidegate", exc.strerror)
    return project


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str, ensure_ascii=False) + "\n")


# --------------------------------------------------------------------------- init, check


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to write the project.")],
    from_files: Annotated[
        list[Path] | None,
        typer.Option(
            "--from", help="Draft sources and targets from these files instead (one or more)."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Write into a non-empty folder.")] = False,
    example_name: Annotated[
        str, typer.Option("--example", help="Which bundled example (a name or its number).")
    ] = "000",
) -> None:
    """Write a working example project, or draft one from real files."""
    from tidegate import scaffold
    from tidegate.config.schema import editor_settings

    with handled():
        if from_files:
            written = scaffold.draft(directory, from_files, force=force)
        else:
            written = scaffold.example(directory, force=force, name=example_name)
        written += editor_settings(directory)
        say(out, "wrote {} files to {}", len(written), directory)
        say(out, "next: [bold]tidegate run --project {}[/]", directory)


@app.command()
def check(project: ProjectOption = Path(".")) -> None:
    """Validate the project: configuration, expressions, connectivity. No data moves."""
    from sqlglot import exp

    from tidegate.bind import bind_problems
    from tidegate.checking import check_samples, check_tables
    from tidegate.warehouse import connect

    with handled():
        loaded = _project(project)
        problems = check_samples(loaded) + bind_problems(loaded)
        with connect(loaded) as wh:
            wh.execute(exp.select(exp.Literal.number(1)))
            unsafe, notes = check_tables(wh, loaded)
        for note in notes:
            say(out, "[yellow]change:[/] {}", note)
        for problem in problems + unsafe:
            say(err, "[red]error:[/] {}", problem)
        if problems or unsafe:
            raise typer.Exit(EXIT_CONFIG)
        say(
            out,
            "ok: {} targets, {} sources, warehouse {}",
            len(loaded.targets),
            len(loaded.sources),
            wh.description,
        )


# --------------------------------------------------------------------------- run


def _progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.fields[stage]}"),
        BarColumn(),
        TextColumn("{task.fields[detail]}"),
        TextColumn("{task.description}"),  # markup: the file name goes in escaped
        console=err,
        transient=True,
    )


def _megabytes(n: int) -> str:
    return f"{n / 1_000_000:,.1f}"


def _in_file(bar: Progress, tasks: dict[str, Any], reading: Any) -> None:
    """A large file's own bar: bytes while it is read, then the statement's share."""
    task = tasks.get(reading.path)
    if task is None:
        task = tasks[reading.path] = bar.add_task(
            escape(reading.path), total=100, stage="", detail=""
        )
    detail = f"{_megabytes(reading.bytes_done)}/{_megabytes(reading.size)} MB"
    if reading.rows is not None:
        detail += f", {reading.rows:,} rows"
    bar.update(task, completed=reading.percent, stage=reading.stage, detail=detail)


@app.command()
def run(
    project: ProjectOption = Path("."),
    as_json: JsonOption = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Read, map and check every file and report what would load; change nothing.",
        ),
    ] = False,
) -> None:
    """Process every new file in landing."""
    with handled():
        loaded = _project(project)
        from tidegate.idle import run as run_pipeline
        from tidegate.results import FileResult

        with _progress_bar() as bar:
            task = bar.add_task("", total=None, stage="loading", detail="0 files")
            inside: dict[str, Any] = {}
            done = [0]

            def advance(result: FileResult) -> None:
                done[0] += 1
                if result.path in inside:
                    bar.remove_task(inside.pop(result.path))
                bar.update(
                    task, advance=1, detail=f"{done[0]} files", description=escape(result.name)
                )

            result = run_pipeline(
                loaded,
                progress=None if as_json else advance,
                dry_run=dry_run,
                during=None if as_json else lambda r: _in_file(bar, inside, r),
            )
        if as_json:
            _print_json(result.as_json(dry_run))
        else:
            _pulled(result.pulls)
            _summary(result.files)
            if dry_run:
                _preview(result.files)
            _notifications(result.notifications)
        raise typer.Exit(max(EXIT_OK if result.ok else EXIT_FILES, _pull_code(result.pulls)))


def _pull_code(pulls: list[Any]) -> int:
    if not pulls:
        return EXIT_OK
    from tidegate.sources import exit_code

    return exit_code(pulls)


def _pulled(pulls: list[Any]) -> None:
    """One line per api: source: what it landed, or why it stopped (never a secret)."""
    for p in pulls:
        landed = f"{len(p.files)} files, {p.records} records, {p.pages} pages, {p.retries} retries"
        if p.unchanged:
            landed += f", {len(p.unchanged)} files already in landing"
        if p.ok:
            say(out, "pulled {}: {}", p.source, landed)
        else:
            say(err, "[bold red]error:[/] {} (kept: {})", p.error, landed)
            if p.rejected:
                say(err, "  the page is in {}", p.rejected)


@app.command()
def pull(
    project: ProjectOption = Path("."),
    source: Annotated[
        list[str] | None,
        typer.Option("--source", "-s", help="Pull only this api: source (repeatable)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Fetch every api: source into landing (`run` pulls first too)."""
    with handled():
        loaded = _project(project)
        from tidegate.sources import exit_code
        from tidegate.sources import pull as pull_sources

        results = pull_sources(loaded, source or None)
        if as_json:
            _print_json([asdict(r) for r in results])
        else:
            if not results:
                say(out, "no api: sources to pull")
            _pulled(results)
        raise typer.Exit(exit_code(results))


def _notifications(deliveries: list[dict[str, Any]]) -> None:
    """A channel that did not take its message: one line each (the load is done anyway)."""
    for delivery in deliveries:
        if not delivery.get("delivered"):
            err.print(
                f"[yellow]notification not delivered:[/] {delivery.get('channel')}: "
                f"{delivery.get('error')}",
                highlight=False,
            )


@app.command()
def watch(
    project: ProjectOption = Path("."),
    heartbeat: Annotated[float, typer.Option(help="Seconds between runs without events.")] = 10.0,
    as_json: JsonOption = False,
) -> None:
    """Load files as they arrive in landing, until stopped (Ctrl-C or SIGTERM).

    A run is recorded in the ledger only when it found a file to process.
    """
    with handled():
        loaded = _project(project)
        from tidegate.watch import watch as watch_landing

        def report(result: Any) -> None:
            if as_json:
                at = _stamp()
                files = [asdict(f) for f in result.files]
                notes = result.notifications
                line = {"at": at, "run_id": result.run_id, "files": files, "notifications": notes}
                sys.stdout.write(json.dumps(line, default=str) + "\n")
                sys.stdout.flush()
                return
            for f in result.files:
                _watch_line(f)

        from tidegate.store import project_store

        where = project_store(loaded, "landing").url
        say(err, "{} watching {} (Ctrl-C to stop)", _stamp(), where)
        watch_landing(loaded, report, heartbeat)
        say(err, "{} stopped", _stamp())


def _stamp() -> str:
    """Local time to the second: what a person watching a terminal reads."""
    from datetime import datetime

    return datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _watch_line(f: Any) -> None:
    """One line per file, led by the time: a watch's output is a log a person reads."""
    style = STATUS_STYLES.get(f.status) or "default"
    counts = (
        f"{f.rows_read} read, {f.rows_loaded} loaded, {f.rows_unchanged} unchanged, "
        f"{f.rows_quarantined} quarantined"
    )
    tail = f": {f.error}" if f.error else f" ({counts})"
    say(out, "{} [" + style + "]{}[/] {} {}{}", _stamp(), f.status, f.path, f.source or "-", tail)


SUMMARY_COLUMNS = [
    Column("file", wrap=True),
    Column("source", wrap=True),
    Column("status"),
    Column("read", number=True),
    Column("loaded", number=True),
    Column("unchanged", number=True, drop=2),
    Column("quarantined", number=True, drop=1),
    Column("dup", number=True, drop=3),
]


PREVIEW_COUNTS = (
    "inserted",
    "updated",
    "unchanged",
    "deleted",
    "versions_opened",
    "versions_closed",
)


def _preview(files: list[Any]) -> None:
    """A dry run's changes per target, added up over the files, and each file's reasons."""
    totals: dict[str, dict[str, int]] = {}
    for f in files:
        for change in f.preview.targets if f.preview else []:
            row = totals.setdefault(change.target, dict.fromkeys(PREVIEW_COUNTS, 0))
            for name in PREVIEW_COUNTS:
                row[name] += getattr(change, name)
    if totals:
        columns = [Column("target", wrap=True)]
        columns += [Column(n.replace("_", " "), number=True) for n in PREVIEW_COUNTS]
        rows = [[target, *(row[n] for n in PREVIEW_COUNTS)] for target, row in totals.items()]
        print_table("what the run would change", columns, rows)
    for f in files:
        for reason in f.preview.reasons if f.preview else []:
            say(
                out,
                "{}: {} rows would be quarantined by {} {}: {}",
                f.path,
                reason.rows,
                reason.rule,
                reason.column or "",
                reason.example or "",
            )
    if files:
        say(out, "dry run: nothing was written to the warehouse or the ledger, and no file moved")


def _summary(files: list[Any]) -> None:
    if not files:
        out.print("nothing new in landing")
        return
    rows = [
        [
            f.path,
            f.source or "-",
            status_text(f.status),
            f.rows_read,
            f.rows_loaded,
            f.rows_unchanged,
            f.rows_quarantined,
            f.rows_duplicate,
        ]
        for f in files
    ]
    print_table("tidegate run", SUMMARY_COLUMNS, rows)
    _print_errors(files)


def _print_errors(files: Sequence[Any]) -> None:
    for f in files:
        if f.error:
            say(err, "[red]{}[/] {}: {}", f.status, f.path, f.error)


@app.command()
def report(
    project: ProjectOption = Path("."),
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the HTML file.")] = Path(
        "report.html"
    ),
    since: Annotated[
        str | None, typer.Option(help="Only runs started this long ago or later: 24h, 7d, 2w.")
    ] = None,
) -> None:
    """Write a self-contained HTML report: runs, sources, quarantine reasons, history."""
    from tidegate.config.models import parse_duration
    from tidegate.report import write

    with handled():
        loaded = _project(project)
        try:
            window = parse_duration(since) if since is not None else None
        except ValueError as exc:
            raise ConfigError("--since", str(exc)) from None
        facts = write(loaded, out_file, window)
        files = sum(r.files for r in facts.runs)
        say(out, "wrote {}: {} runs, {} files", out_file, len(facts.runs), files)


@app.command()
def schema(
    out_dir: Annotated[Path, typer.Option("--out", help="The folder for the schema files.")] = Path(
        "."
    ),
) -> None:
    """Write the JSON Schemas of tidegate.yml, targets/*.yml and sources/*.yml for editors."""
    from tidegate.config.schema import write as write_schemas

    with handled():
        for path in write_schemas(out_dir):
            say(out, "wrote {}", path)


export_app = typer.Typer(help="Describe the project for the tools around it.", no_args_is_help=True)
app.add_typer(export_app, name="export")


@export_app.command("dbt")
def export_dbt(
    project: ProjectOption = Path("."),
    out_file: Annotated[
        Path, typer.Option("--out", help="Where to write the dbt sources file.")
    ] = Path("models/sources.yml"),
) -> None:
    """A dbt sources.yml for the targets, with tests derived from their rules."""
    from tidegate.integrations.dbt import write as write_dbt

    with handled():
        loaded = _project(project)
        path = write_dbt(loaded, out_file)
        say(out, "wrote {}: {} tables of source 'tidegate'", path, len(loaded.targets))


# --------------------------------------------------------------------------- the ledger


@contextmanager
def _ledger(project: Path) -> Iterator[tuple[Any, Any]]:
    """The project and its warehouse, with the ledger's tables in place."""
    from tidegate.warehouse import connect, ledger

    loaded = _project(project)
    with connect(loaded) as wh:
        ledger.ensure(wh)
        yield loaded, wh


def _with_ledger(project: Path, action: Callable[[Any], Any]) -> Any:
    with _ledger(project) as (_, wh):
        return action(wh)


def _print_rows(title: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Rows of dictionaries as a table of the named columns, every value literal."""
    table_columns = [Column(name, wrap=True) for name in columns]
    print_table(title, table_columns, [[row[name] for name in columns] for row in rows])


def _known_status(status: str | None) -> None:
    from tidegate.warehouse import ledger

    if status is not None and status not in ledger.STATUSES:
        raise UnknownNameError("--status", "status", status, ledger.STATUSES, "statuses")


def _known_file(wh: Any, file_id: str | None, listing: str) -> None:
    """A file id the ledger knows, or the error listing those worth naming."""
    from tidegate.warehouse import ledger

    if file_id is not None and not ledger.has_file(wh, file_id):
        raise UnknownNameError("--file", "file", file_id, ledger.quarantined_files(wh), listing)


FILES_COLUMNS = [
    Column("file_id"),
    Column("path", wrap=True),
    Column("source", wrap=True),
    Column("status"),
    Column("read", number=True, drop=2),
    Column("loaded", number=True),
    Column("quarantined", number=True, drop=1),
    Column("started", drop=3),
]


@app.command()
def files(
    project: ProjectOption = Path("."),
    status: Annotated[
        str | None,
        typer.Option(help="Only files with this status: loaded, rejected, failed, duplicate."),
    ] = None,
    limit: int = 50,
    as_json: JsonOption = False,
) -> None:
    """The files the ledger knows: loaded, rejected, failed, duplicate."""
    from tidegate.warehouse import ledger

    with handled():
        _known_status(status)
        records = _with_ledger(project, lambda wh: ledger.list_files(wh, limit, status))
        if as_json:
            _print_json([asdict(r) for r in records])
            return
        if not records:
            say(out, "no {}files in the ledger", f"{status} " if status else "")
            return
        rows = [
            [
                r.file_id,
                r.path,
                r.source or "-",
                status_text(r.status),
                r.rows_read,
                r.rows_loaded,
                r.rows_quarantined,
                _when(r.started_at),
            ]
            for r in records
        ]
        print_table("files", FILES_COLUMNS, rows)
        for r in records:
            if r.error:
                say(out, "[red]{}[/] {} {}: {}", r.status, r.file_id, r.path, r.error)


RUNS_COLUMNS = [
    Column("run"),
    Column("started"),
    Column("status"),
    Column("took", number=True),
    Column("files", wrap=True),
    Column("version", drop=1),
]


@app.command()
def runs(project: ProjectOption = Path("."), limit: int = 20, as_json: JsonOption = False) -> None:
    """The latest runs: when, how long, what each did. Runs that found nothing are not kept."""
    from tidegate.warehouse import ledger

    with handled():
        records = _with_ledger(project, lambda wh: ledger.list_runs(wh, limit))
        if as_json:
            _print_json(
                [
                    {**asdict(r), "duration_seconds": _seconds(r.started_at, r.finished_at)}
                    for r in records
                ]
            )
            return
        if not records:
            out.print("no runs in the ledger yet: run [bold]tidegate run[/]")
            return
        rows = [
            [
                r.run_id[:8],  # like a short commit id; --json has the whole one
                _when(r.started_at),
                status_text(r.status),
                _duration(_seconds(r.started_at, r.finished_at)),
                _run_files(r),
                r.version,
            ]
            for r in records
        ]
        print_table("runs", RUNS_COLUMNS, rows)


def _timestamp(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _when(value: Any) -> str:
    moment = _timestamp(value)
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def _seconds(started: Any, finished: Any) -> float | None:
    start, end = _timestamp(started), _timestamp(finished)
    return None if start is None or end is None else (end - start).total_seconds()


def _duration(seconds: float | None) -> str:
    """``0.4s``, ``12.0s``, ``3m05s``, ``2h01m``; ``-`` for a run without an end.

    >>> [_duration(s) for s in (0.42, 185, 7260, None)]
    ['0.4s', '3m05s', '2h01m', '-']
    """
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _run_files(record: Any) -> str:
    counts = {
        "loaded": record.files_loaded,
        "rejected": record.files_rejected,
        "failed": record.files_failed,
        "duplicate": record.files_duplicate,
    }
    return ", ".join(f"{n} {name}" for name, n in counts.items() if n) or "none"


STATUS_COLUMNS = [
    Column("source", wrap=True),
    Column("loaded", number=True),
    Column("rows", number=True),
    Column("quarantined", number=True),
    Column("rejected", number=True, drop=2),
    Column("failed", number=True, drop=3),
    Column("duplicate", number=True, drop=4),
    Column("last loaded", drop=1),
]


@app.command()
def status(project: ProjectOption = Path("."), as_json: JsonOption = False) -> None:
    """What the ledger holds: files and rows per status, and per source with the rows in
    quarantine. A failed attempt later loaded counts once, as loaded."""
    from tidegate.warehouse import ledger

    def summarise(wh: Any) -> dict[str, Any]:
        return _status_summary(ledger.outcomes(wh), ledger.open_quarantine_by_source(wh))

    with handled():
        summary = _with_ledger(project, summarise)
        if as_json:
            _print_json(summary)
            return
        if not summary["statuses"]:
            out.print("the ledger is empty: run [bold]tidegate run[/]")
            return
        for name, entry in sorted(summary["statuses"].items()):
            say(
                out,
                "{}: {} files, {} rows read, {} loaded, {} quarantined",
                f"{name:>10}",
                entry["files"],
                entry["rows_read"],
                entry["rows_loaded"],
                entry["rows_quarantined"],
            )
        rows = [
            [
                name,
                entry["files_loaded"],
                entry["rows_loaded"],
                entry["rows_in_quarantine"],
                entry["files_rejected"],
                entry["files_failed"],
                entry["files_duplicate"],
                _when(entry["last_loaded"]),
            ]
            for name, entry in sorted(summary["sources"].items())
        ]
        out.print()
        print_table("by source", STATUS_COLUMNS, rows)


def _status_summary(outcomes: list[Any], quarantined: dict[str, int]) -> dict[str, Any]:
    """Per status: files and rows; per source: files per status, rows loaded, the rows in
    quarantine now and when it last loaded a file."""
    statuses: dict[str, dict[str, int]] = {}
    sources: dict[str, dict[str, Any]] = {}
    for o in outcomes:
        entry = statuses.setdefault(
            o.status, {"files": 0, "rows_read": 0, "rows_loaded": 0, "rows_quarantined": 0}
        )
        entry["files"] += o.files
        entry["rows_read"] += o.rows_read
        entry["rows_loaded"] += o.rows_loaded
        entry["rows_quarantined"] += o.rows_quarantined
        if o.source is None:
            continue  # a file that matched no source: counted by status only
        source = sources.setdefault(o.source, _empty_source())
        source[f"files_{o.status}"] = source.get(f"files_{o.status}", 0) + o.files
        source["rows_loaded"] += o.rows_loaded
        if o.status == "loaded":
            last = _timestamp(o.last_finished)
            if last is not None and (source["last_loaded"] is None or last > source["last_loaded"]):
                source["last_loaded"] = last
    for name, rows in quarantined.items():
        sources.setdefault(name, _empty_source())["rows_in_quarantine"] = rows
    return {"statuses": statuses, "sources": sources}


def _empty_source() -> dict[str, Any]:
    return {
        "files_loaded": 0,
        "files_rejected": 0,
        "files_failed": 0,
        "files_duplicate": 0,
        "rows_loaded": 0,
        "rows_in_quarantine": 0,
        "last_loaded": None,
    }


@app.command()
def quarantine(
    project: ProjectOption = Path("."),
    source: Annotated[str | None, typer.Option(help="Only rows of this source.")] = None,
    file: Annotated[str | None, typer.Option("--file", help="Only rows of this file id.")] = None,
    rule: Annotated[
        str | None, typer.Option(help="Only rows failing this rule (type, required, ...).")
    ] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Include replayed rows.")] = False,
    limit: Annotated[int, typer.Option(help="Rows to list.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """Bad rows with their reasons, and counts by reason."""
    from tidegate.transform.rules import RULES
    from tidegate.warehouse import ledger

    with handled():
        if rule is not None and rule not in RULES:
            raise UnknownNameError("--rule", "rule", rule, RULES, "rules")
        with _ledger(project) as (loaded, wh):
            _known_source(loaded, wh, source)
            _known_file(wh, file, "files with rows in quarantine")
            status = None if show_all else "open"
            records = ledger.list_quarantine(wh, source=source, file_id=file, status=status)
        found = [r for r in records if rule is None or _has_rule(r, rule)]
        counts = _reason_counts(found)
        if as_json:
            rows = [
                {**asdict(r), "reasons": json.loads(r.reasons), "record": json.loads(r.record)}
                for r in found[:limit]
            ]
            _print_json({"total": len(found), "by_reason": counts, "rows": rows})
            return
        _print_quarantine(found, counts, limit)


def _known_source(project: Any, wh: Any, source: str | None) -> None:
    from tidegate.warehouse import ledger

    if source is None or source in project.sources:
        return
    known = sorted(set(project.sources) | set(ledger.quarantined_sources(wh)))
    if source not in known:
        raise UnknownNameError("--source", "source", source, known, "sources")


def _has_rule(record: Any, rule: str) -> bool:
    return any(reason.get("rule") == rule for reason in json.loads(record.reasons))


def _reason_counts(records: list[Any]) -> list[dict[str, Any]]:
    counts: dict[tuple[str, str, str, str], int] = {}
    for record in records:
        for reason in json.loads(record.reasons):
            key = (
                record.source,
                reason.get("rule") or "",
                reason.get("column") or "",
                reason.get("message") or "",
            )
            counts[key] = counts.get(key, 0) + 1
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    names = ("source", "rule", "column", "message")
    return [{**dict(zip(names, key, strict=True)), "rows": n} for key, n in ordered]


REASON_COLUMNS = [
    Column("source", wrap=True),
    Column("rule"),
    Column("column", wrap=True),
    Column("message", wrap=True),
    Column("rows", number=True),
]
SAMPLE_COLUMNS = [
    Column("file_id"),
    Column("row", number=True),
    Column("target", wrap=True, drop=1),
    Column("reasons", wrap=True),
]


def _print_quarantine(found: list[Any], counts: list[dict[str, Any]], limit: int) -> None:
    if not found:
        out.print("the quarantine is empty")
        return
    keys = ("source", "rule", "column", "message", "rows")
    print_table(
        f"quarantine: {len(found)} rows", REASON_COLUMNS, [[e[k] for k in keys] for e in counts]
    )
    rows = []
    for record in found[:limit]:
        reasons = "; ".join(
            f"{r.get('column') or '-'}={r.get('value')!r}: {r.get('message')}"
            for r in json.loads(record.reasons)
        )
        rows.append([record.file_id, record.row, record.target or "-", reasons])
    out.print()
    print_table(f"first {min(limit, len(found))} rows", SAMPLE_COLUMNS, rows)


@app.command()
def replay(
    project: ProjectOption = Path("."),
    file: Annotated[str | None, typer.Option("--file", help="Replay this file id only.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Replay every file.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Re-evaluate quarantined rows under the current contract; load the ones that pass."""
    from tidegate.replay import replay as replay_rows

    with handled():
        if not file and not everything:
            raise ConfigError("replay", "say which rows to replay: --file ID or --all")
        _with_ledger(project, lambda wh: _known_file(wh, file, "files with rows to replay"))
        results = replay_rows(_project(project), file_id=file)
        if as_json:
            _print_json([asdict(r) for r in results])
            return
        if not results:
            out.print("nothing to replay")
        for r in results:
            say(
                out,
                "{} ({}): {} rows tried, {} loaded, {} unchanged, {} duplicate, {} still bad",
                r.file_id,
                r.source,
                r.tried,
                r.loaded,
                r.unchanged,
                r.duplicate,
                r.still_bad,
            )


@app.command()
def migrate(
    target: Annotated[str, typer.Argument(help="The target whose table to rebuild.")],
    project: ProjectOption = Path("."),
    as_json: JsonOption = False,
) -> None:
    """Rebuild a target's table under its YAML's types and key, every row and version kept."""
    from tidegate.schema import migrate as migrate_table

    with handled():
        done = migrate_table(_project(project), target)
        if as_json:
            _print_json(
                {
                    "target": done.target,
                    "rows": done.rows,
                    "changes": [asdict(d) for d in done.changes],
                }
            )
            return
        if not done.changes:
            out.print(f"{done.target}: the table already matches its YAML ({done.rows} rows)")
            return
        for change in done.changes:
            out.print(f"{done.target}: {change.describe()}", highlight=False)
        out.print(f"{done.target}: rebuilt, {done.rows} rows kept")


@app.command()
def erase(
    subject: Annotated[
        list[str],
        typer.Option("--subject", help="An identifier of the subject: NAME=VALUE (repeatable)."),
    ],
    project: ProjectOption = Path("."),
    request_id: Annotated[str | None, typer.Option(help="The request's id in the log.")] = None,
    rewrite: Annotated[
        bool,
        typer.Option(
            help="Rewrite the warehouse's files now; --no-rewrite leaves it to the next run."
        ),
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Forget a person everywhere: targets, history, raw, quarantine, vault, archives."""
    from tidegate.privacy.commands import erase_subject

    with handled():
        report = erase_subject(_project(project), subject, request_id, rewrite)
        if as_json:
            _print_json(asdict(report))
            return
        say(out, "erasure {}: subject {}", report.request_id, (report.subject or "-")[:16])
        for name, done in report.touched["targets"].items():
            say(out, "  {}: {} rows ({})", name, done["rows"], done["action"])
        for name, done in report.touched["raw"].items():
            say(out, "  raw.{}: {} records ({})", name, done["rows"], done["action"])
        say(out, "  quarantine: {} records", report.touched["quarantine"])
        say(out, "  vault: {} tokens", report.touched["vault"])
        say(out, "  archives: {} files", len(report.touched["archives"]))
        say(out, "  storage: {}", report.storage)
        for path in report.not_rewritten:
            say(err, "[yellow]not rewritten (format):[/] {}", path)
        _print_erasure_warnings(report)


def _print_erasure_warnings(report: Any) -> None:
    """Identifiers that found nobody (by name: the value is never echoed), and targets the
    erasure could not reach."""
    for name in report.unmatched:
        say(err, "[yellow]matched nobody:[/] --subject {}=...", name)
    for warning in report.warnings:
        say(err, "[yellow]warning:[/] {}", warning)


@app.command()
def reveal(
    tokens: Annotated[list[str], typer.Argument(help="Tokens of pii: tokenize columns.")],
    project: ProjectOption = Path("."),
    as_json: JsonOption = False,
) -> None:
    """Show the values behind tokens; needs privacy.vault_key."""
    from tidegate.privacy.commands import reveal_tokens

    with handled():
        values = reveal_tokens(_project(project), tokens)
        if as_json:
            _print_json(values)
            return
        for token, value in values.items():
            say(out, "{}\t{}", token, value)


def main() -> None:
    try:
        app()
    finally:
        # DuckDB's bindings complain at shutdown about objects still alive in cycles.
        gc.collect()
