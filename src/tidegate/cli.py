"""The command line: the only place that prints.

Exit codes: 0 everything loaded, 1 some file rejected or failed, 2 configuration or
connection error. No traceback unless ``--debug``.
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from tidegate import __version__
from tidegate.errors import ConfigError, ConnectionFailed, TidegateError

app = typer.Typer(
    name="tidegate",
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


class State:
    debug = False


@app.callback()
def main_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    State.debug = debug
    if version:
        out.print(__version__)
        raise typer.Exit(EXIT_OK)


@contextmanager
def handled() -> Iterator[None]:
    """Turn tidegate's errors into one clear line and the documented exit code."""
    try:
        yield
    except typer.Exit:
        raise
    except (ConfigError, ConnectionFailed) as exc:
        _fail(exc, EXIT_CONFIG)
    except TidegateError as exc:
        _fail(exc, EXIT_FILES)
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None
    except Exception as exc:  # a bug of ours: still one line, the traceback under --debug
        if State.debug:
            raise
        err.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
            highlight=False,
        )
        raise typer.Exit(EXIT_FILES) from None


def _fail(exc: BaseException, code: int) -> None:
    if State.debug:
        raise exc
    err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(code) from None


def _project(path: Path | None) -> Any:
    from tidegate.config import load_project

    return load_project((path or Path.cwd()).resolve())


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str, ensure_ascii=False) + "\n")


# --------------------------------------------------------------------------- init, check


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to write the project.")],
    from_files: Annotated[
        list[Path] | None,
        typer.Option("--from", help="Draft sources and targets from these files instead."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Write into a non-empty folder.")] = False,
    example_name: Annotated[
        str, typer.Option("--example", help="Which bundled example (a name or its number).")
    ] = "000",
) -> None:
    """Write a working example project, or draft one from real files."""
    from tidegate import scaffold

    with handled():
        if from_files:
            written = scaffold.draft(directory, from_files, force=force)
        else:
            written = scaffold.example(directory, force=force, name=example_name)
        out.print(f"wrote {len(written)} files to {directory}")
        out.print(f"next: [bold]tidegate run --project {directory}[/]")


@app.command()
def check(project: ProjectOption = Path(".")) -> None:
    """Validate the project: configuration, expressions, connectivity. No data moves."""
    from sqlglot import exp

    from tidegate.samples import check_samples
    from tidegate.warehouse import connect

    with handled():
        loaded = _project(project)
        problems = check_samples(loaded)
        for problem in problems:
            err.print(f"[red]error:[/] {problem}", highlight=False, soft_wrap=True)
        with connect(loaded) as wh:
            wh.execute(exp.select(exp.Literal.number(1)))
        if problems:
            raise typer.Exit(EXIT_CONFIG)
        out.print(
            f"ok: {len(loaded.targets)} targets, {len(loaded.sources)} sources, "
            f"warehouse {wh.description}"
        )


# --------------------------------------------------------------------------- run


def _progress_bar(total_hint: int | None = None) -> Progress:
    return Progress(
        TextColumn("[bold]loading"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=err,
        transient=True,
    )


@app.command()
def run(project: ProjectOption = Path("."), as_json: JsonOption = False) -> None:
    """Process every new file in landing."""
    with handled():
        loaded = _project(project)
        from tidegate.pipeline import FileResult
        from tidegate.pipeline import run as run_pipeline

        with _progress_bar() as bar:
            task = bar.add_task("", total=None)

            def advance(result: FileResult) -> None:
                bar.update(task, advance=1, description=result.name)

            result = run_pipeline(loaded, progress=None if as_json else advance)
        if as_json:
            _print_json({"run_id": result.run_id, "files": [asdict(f) for f in result.files]})
        else:
            _summary(result.files)
        raise typer.Exit(EXIT_OK if result.ok else EXIT_FILES)


@app.command()
def watch(
    project: ProjectOption = Path("."),
    heartbeat: Annotated[float, typer.Option(help="Seconds between runs without events.")] = 10.0,
    as_json: JsonOption = False,
) -> None:
    """Load files as they arrive in landing, until stopped (Ctrl-C or SIGTERM)."""
    with handled():
        loaded = _project(project)
        from tidegate.watch import watch as watch_landing

        def report(result: Any) -> None:
            if as_json:
                sys.stdout.write(
                    json.dumps(
                        {"run_id": result.run_id, "files": [asdict(f) for f in result.files]},
                        default=str,
                    )
                    + "\n"
                )
                sys.stdout.flush()
            else:
                _summary(result.files)

        err.print(f"watching {loaded.path('landing')} (Ctrl-C to stop)")
        watch_landing(loaded, report, heartbeat)


def _summary(files: list[Any]) -> None:
    if not files:
        out.print("nothing new in landing")
        return
    table = Table(title="tidegate run")
    for name in ("file", "source", "status", "read", "loaded", "unchanged", "quarantined", "dup"):
        table.add_column(
            name, justify="right" if name not in ("file", "source", "status") else "left"
        )
    for f in files:
        style = {"loaded": "green", "duplicate": "dim", "rejected": "red", "failed": "red"}
        table.add_row(
            f.path,
            f.source or "-",
            f"[{style.get(f.status, '')}]{f.status}[/]",
            *(
                str(n)
                for n in (
                    f.rows_read,
                    f.rows_loaded,
                    f.rows_unchanged,
                    f.rows_quarantined,
                    f.rows_duplicate,
                )
            ),
        )
    out.print(table)
    for f in files:
        if f.error:
            err.print(f"[red]{f.status}[/] {f.path}: {f.error}", highlight=False)


# --------------------------------------------------------------------------- the ledger


def _with_ledger(project: Path, action: Callable[[Any], Any]) -> Any:
    from tidegate.warehouse import connect, ledger

    loaded = _project(project)
    with connect(loaded) as wh:
        ledger.ensure(wh)
        return action(wh)


def _print_rows(title: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
    table = Table(title=title)
    for name in columns:
        table.add_column(name)
    for row in rows:
        table.add_row(*("" if row[c] is None else str(row[c]) for c in columns))
    out.print(table)


@app.command()
def files(
    project: ProjectOption = Path("."),
    status: Annotated[str | None, typer.Option(help="Only files with this status.")] = None,
    limit: int = 50,
    as_json: JsonOption = False,
) -> None:
    """The files the ledger knows: loaded, rejected, failed, duplicate."""
    from tidegate.warehouse import ledger

    with handled():
        records = _with_ledger(project, lambda wh: ledger.list_files(wh, limit, status))
        rows = [asdict(r) for r in records]
        if as_json:
            _print_json(rows)
            return
        columns = ["file_id", "path", "source", "status", "rows_read", "rows_loaded"]
        _print_rows("files", rows, [*columns, "rows_quarantined", "error"])


@app.command()
def runs(project: ProjectOption = Path("."), limit: int = 20, as_json: JsonOption = False) -> None:
    """The latest runs and what each did."""
    from tidegate.warehouse import ledger

    with handled():
        rows = [asdict(r) for r in _with_ledger(project, lambda wh: ledger.list_runs(wh, limit))]
        if as_json:
            _print_json(rows)
            return
        columns = ["run_id", "started_at", "status", "files_loaded", "files_rejected"]
        _print_rows("runs", rows, [*columns, "files_failed", "files_duplicate"])


@app.command()
def status(project: ProjectOption = Path("."), as_json: JsonOption = False) -> None:
    """One line per status: how many files and rows the ledger holds."""
    from tidegate.warehouse import ledger

    def summarise(wh: Any) -> dict[str, dict[str, int]]:
        summary: dict[str, dict[str, int]] = {}
        for record in ledger.list_files(wh, limit=1_000_000):
            entry = summary.setdefault(
                record.status, {"files": 0, "rows_read": 0, "rows_loaded": 0}
            )
            entry["files"] += 1
            entry["rows_read"] += record.rows_read
            entry["rows_loaded"] += record.rows_loaded
        return summary

    with handled():
        summary = _with_ledger(project, summarise)
        if as_json:
            _print_json(summary)
            return
        if not summary:
            out.print("the ledger is empty: run [bold]tidegate run[/]")
        for name, entry in sorted(summary.items()):
            out.print(
                f"{name:>10}: {entry['files']} files, {entry['rows_read']} rows read, {entry['rows_loaded']} loaded"
            )


@app.command()
def quarantine(
    project: ProjectOption = Path("."),
    source: Annotated[str | None, typer.Option(help="Only rows of this source.")] = None,
    file: Annotated[str | None, typer.Option("--file", help="Only rows of this file id.")] = None,
    rule: Annotated[str | None, typer.Option(help="Only rows failing this rule.")] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Include replayed rows.")] = False,
    limit: Annotated[int, typer.Option(help="Rows to list.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """Bad rows with their reasons, and counts by reason."""
    from tidegate.warehouse import ledger

    def fetch(wh: Any) -> list[Any]:
        status = None if show_all else "open"
        return ledger.list_quarantine(wh, source=source, file_id=file, status=status)

    with handled():
        found = [r for r in _with_ledger(project, fetch) if rule is None or _has_rule(r, rule)]
        counts = _reason_counts(found)
        if as_json:
            rows = [
                {**asdict(r), "reasons": json.loads(r.reasons), "record": json.loads(r.record)}
                for r in found[:limit]
            ]
            _print_json({"total": len(found), "by_reason": counts, "rows": rows})
            return
        _print_quarantine(found, counts, limit)


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


def _print_quarantine(found: list[Any], counts: list[dict[str, Any]], limit: int) -> None:
    if not found:
        out.print("the quarantine is empty")
        return
    summary = Table(title=f"quarantine: {len(found)} rows")
    for name in ("source", "rule", "column", "message", "rows"):
        summary.add_column(name, justify="right" if name == "rows" else "left")
    for entry in counts:
        summary.add_row(*(str(entry[k]) for k in ("source", "rule", "column", "message", "rows")))
    out.print(summary)
    sample = Table(title=f"first {min(limit, len(found))} rows")
    for name in ("file_id", "row", "target", "reasons"):
        sample.add_column(name)
    for record in found[:limit]:
        reasons = "; ".join(
            f"{r.get('column') or '-'}={r.get('value')!r}: {r.get('message')}"
            for r in json.loads(record.reasons)
        )
        sample.add_row(record.file_id, str(record.row), record.target or "-", reasons)
    out.print(sample)


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
        results = replay_rows(_project(project), file_id=file)
        if as_json:
            _print_json([asdict(r) for r in results])
            return
        if not results:
            out.print("nothing to replay")
        for r in results:
            out.print(
                f"{r.file_id} ({r.source}): {r.tried} rows tried, {r.loaded} loaded, "
                f"{r.unchanged} unchanged, {r.duplicate} duplicate, {r.still_bad} still bad"
            )


@app.command()
def erase(
    subject: Annotated[
        list[str],
        typer.Option("--subject", help="An identifier of the subject: NAME=VALUE (repeatable)."),
    ],
    project: ProjectOption = Path("."),
    request_id: Annotated[str | None, typer.Option(help="The request's id in the log.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Forget a person everywhere: targets, history, raw, quarantine, vault, archives."""
    from tidegate.privacy.commands import erase_subject

    with handled():
        report = erase_subject(_project(project), subject, request_id)
        if as_json:
            _print_json(asdict(report))
            return
        out.print(f"erasure {report.request_id}: subject {(report.subject or '-')[:16]}")
        for name, done in report.touched["targets"].items():
            out.print(f"  {name}: {done['rows']} rows ({done['action']})")
        for name, done in report.touched["raw"].items():
            out.print(f"  raw.{name}: {done['rows']} records ({done['action']})")
        out.print(f"  quarantine: {report.touched['quarantine']} records")
        out.print(f"  vault: {report.touched['vault']} tokens")
        out.print(f"  archives: {len(report.touched['archives'])} files")
        for path in report.not_rewritten:
            err.print(f"[yellow]not rewritten (format):[/] {path}", highlight=False)
        _print_erasure_warnings(report)


def _print_erasure_warnings(report: Any) -> None:
    """Identifiers that found nobody (by name: the value is never echoed), and targets the
    erasure could not reach."""
    for name in report.unmatched:
        err.print(f"[yellow]matched nobody:[/] --subject {name}=...", highlight=False)
    for warning in report.warnings:
        err.print(f"[yellow]warning:[/] {warning}", highlight=False)


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
            out.print(f"{token}\t{value}", highlight=False, markup=False)


def main() -> None:
    try:
        app()
    finally:
        # DuckDB's bindings complain at shutdown about objects still alive in cycles.
        gc.collect()


if __name__ == "__main__":
    main()
