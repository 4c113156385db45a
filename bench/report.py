"""Markdown from a results file: the machine, a table per case, and the targets of issue 7.

``python -m bench.report RESULTS.json [--doc docs/benchmarks.md]`` prints the markdown, or
writes it into the document between the ``bench:begin`` and ``bench:end`` markers, so the
tables can be regenerated from a saved run without running it again.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
GB = 10**9


@dataclass(frozen=True)
class Cell:
    """The median of one tool's runs of one step of one case."""

    scenario: str
    tool: str
    step: str
    status: str
    seconds: float | None
    peak_rss: int | None
    rows: int
    runs: int
    note: str | None
    detail: dict[str, int]
    low: float | None = None  # the fastest and slowest of the runs
    high: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.seconds is not None


def cells(results: Iterable[dict[str, Any]]) -> list[Cell]:
    """Results grouped by (case, tool, step), in first-seen order, reduced to medians."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for result in results:
        key = (result["scenario"], result["tool"], result["step"])
        groups.setdefault(key, []).append(result)
    return [_cell(key, runs) for key, runs in groups.items()]


def _cell(key: tuple[str, str, str], runs: list[dict[str, Any]]) -> Cell:
    good = [r for r in runs if r["status"] == "ok"]
    bad = [r for r in runs if r["status"] != "ok"]
    if bad and not good:
        return Cell(*key, bad[0]["status"], None, None, 0, 0, bad[0]["note"], {})
    note = f"{len(bad)} run(s) {bad[0]['status']}: {bad[0]['note']}" if bad else None
    seconds = [float(r["seconds"]) for r in good]
    return Cell(
        *key,
        "ok",
        statistics.median(seconds),
        int(statistics.median(r["peak_rss"] for r in good)),
        good[0]["rows"],
        len(good),
        note,
        good[0].get("detail") or {},
        min(seconds),
        max(seconds),
    )


def find(table: Sequence[Cell], scenario: str, tool: str, step: str) -> Cell | None:
    for cell in table:
        if (cell.scenario, cell.tool, cell.step) == (scenario, tool, step) and cell.ok:
            return cell
    return None


# --------------------------------------------------------------------------- formatting


def fmt_seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f} s" if value < 100 else f"{value:.0f} s"


def fmt_rate(rows: int, seconds: float | None) -> str:
    if not seconds or not rows:
        return "-"
    rate = rows / seconds
    if rate >= 1e6:
        return f"{rate / 1e6:.2f}M/s"
    return f"{rate / 1e3:.0f}k/s" if rate >= 1e3 else f"{rate:.0f}/s"


def fmt_bytes(value: int | None) -> str:
    if value is None:
        return "-"
    return f"{value / GB:.2f} GB" if value >= GB else f"{value / 10**6:.0f} MB"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def ratio(top: Cell | None, bottom: Cell | None) -> float | None:
    if top is None or bottom is None or not top.seconds or not bottom.seconds:
        return None
    return top.seconds / bottom.seconds


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


# --------------------------------------------------------------------------- sections


def machine_section(meta: dict[str, Any]) -> list[str]:
    facts = meta.get("machine", {})
    versions = facts.get("versions", {})
    listed = ", ".join(f"{name} {v}" for name, v in versions.items() if v)
    start, end = facts.get("load_average_start"), meta.get("load_average_end")
    lines = [
        f"- **Run**: {meta.get('started', '?')}, size `{meta.get('size', '?')}`,"
        f" {meta.get('elapsed_seconds', 0) / 60:.0f} minutes in all",
        *_commands(meta),
        f"- **Machine**: {facts.get('cpu', '?')}, {facts.get('cores', '?')} cores,"
        f" {fmt_bytes(facts.get('memory_bytes'))} memory, {facts.get('os', '?')}",
        f"- **Software**: tidegate at {facts.get('revision') or '?'},"
        f" Python {facts.get('python', '?')}, {listed}"
        + (f", PostgreSQL {facts['postgres']}" if facts.get("postgres") else ""),
    ]
    if start and not meta.get("runs"):
        last = " of the last command" if len(meta.get("commands") or []) > 1 else ""
        lines.append(
            f"- **Load average{last}** (1/5/15 min) at the start {_loads(start)}"
            + (f", at the end {_loads(end)}" if end else "")
        )
    return lines


def _commands(meta: dict[str, Any]) -> list[str]:
    commands = meta.get("commands") or [meta.get("command", "python -m bench")]
    if len(commands) == 1:
        return [f"- **Command**: `{commands[0]}`"]
    runs = {run["command"] + run["started"]: run for run in meta.get("runs", [])}
    lines = ["- **Commands** (one results file; each case comes from the last command that ran"
             " it; load average over 1/5/15 minutes at its start and end):"]  # fmt: skip
    for command in commands:
        run = next((r for key, r in runs.items() if key.startswith(command)), None)
        when = ""
        if run:
            runs.pop(run["command"] + run["started"])
            start, end = run.get("load_average_start"), run.get("load_average_end")
            loads = f", load {_loads(start)} to {_loads(end)}" if start and end else ""
            when = f" ({run['started']}{loads})"
        lines.append(f"  - `{command}`{when}")
    return lines


def _loads(values: Sequence[float]) -> str:
    return "/".join(f"{v:.2f}" for v in values)


def scenario_section(
    title: str, name: str, table_cells: Sequence[Cell], units: int = 1
) -> list[str]:
    mine = [c for c in table_cells if c.scenario == name]
    header = ["tool", "step", "rows", "time (median)", "fastest-slowest", "rows/s",
              "peak RSS", "vs floor", "vs dlt", "runs"]  # fmt: skip
    rows = [_row(cell, table_cells) for cell in mine]
    lines = [f"#### {title}", "", *table(header, rows)]
    notes = [f"- {c.tool} {c.step}: {c.note}" for c in mine if c.note and c.ok]
    notes += _per_file(mine, units) + _change_shares(mine)
    return [*lines, *(["", *notes] if notes else []), ""]


def _per_file(mine: Sequence[Cell], units: int) -> list[str]:
    """Many small files: each tool's time per file."""
    if units <= 1:
        return []
    times = [f"{c.tool} {c.seconds / units * 1000:.1f} ms" for c in mine if c.ok and c.seconds]
    return [f"- time per file ({units:,} files): " + ", ".join(times)] if times else []


def _change_shares(mine: Sequence[Cell]) -> list[str]:
    """Churn: each tool's change step as a share of its initial load."""
    shares = []
    for cell in mine:
        initial = next(
            (c for c in mine if c.tool == cell.tool and c.step == "initial" and c.ok), None
        )
        if cell.step == "change" and cell.ok and initial is not None:
            shares.append(f"{cell.tool} {fmt_ratio(ratio(cell, initial))}")
    return [f"- change step / initial load: {', '.join(shares)}"] if shares else []


def _row(cell: Cell, table_cells: Sequence[Cell]) -> list[str]:
    if not cell.ok:
        what = f"{cell.status}: {cell.note}"
        return [cell.tool, cell.step, "-", what, "-", "-", "-", "-", "-", "0"]
    vs_floor = vs_dlt = "-"
    name, warehouse = cell.tool.split("/")
    if name.startswith("tidegate"):
        floor = find(table_cells, cell.scenario, f"floor/{warehouse}", cell.step)
        dlt = find(table_cells, cell.scenario, f"dlt/{warehouse}", cell.step)
        vs_floor, vs_dlt = fmt_ratio(ratio(cell, floor)), fmt_ratio(ratio(cell, dlt))
    return [
        cell.tool,
        cell.step,
        f"{cell.rows:,}",
        fmt_seconds(cell.seconds),
        _spread(cell),
        fmt_rate(cell.rows, cell.seconds),
        fmt_bytes(cell.peak_rss),
        vs_floor,
        vs_dlt,
        str(cell.runs),
    ]


def _spread(cell: Cell) -> str:
    if cell.runs < 2 or cell.low is None or cell.high is None:
        return "-"
    return f"{fmt_seconds(cell.low)} - {fmt_seconds(cell.high)}"


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Verdict:
    target: str
    measured: str
    met: bool | None  # None: not measured


def _verdict(
    target: str, value: float | None, limit: float, text: Callable[[float], str]
) -> Verdict:
    if value is None:
        return Verdict(target, "not measured in this run", None)
    return Verdict(target, text(value), value <= limit)


def targets(t: Sequence[Cell], meta: dict[str, Any]) -> list[Verdict]:
    """Issue 15's targets, each from the cells that measure it."""
    wide = "wide_csv"
    tg, fl, dl = (find(t, wide, f"{n}/duckdb", "load") for n in ("tidegate", "floor", "dlt"))
    pg_tg, pg_fl = (find(t, wide, f"{n}/postgres", "load") for n in ("tidegate", "floor"))
    lean, pg_lean = (find(t, wide, f"tidegate-noraw/{w}", "load") for w in ("duckdb", "postgres"))
    verdicts = [
        _verdict("wide CSV into DuckDB within 1.5x of the floor", ratio(tg, fl), 1.5,
                 lambda v: f"{v:.2f}x the floor"),
        _verdict("the same without the raw layer (keep_raw: false)", ratio(lean, fl), 1.5,
                 lambda v: f"{v:.2f}x the floor"),
        _verdict("wide CSV into DuckDB faster than dlt", ratio(tg, dl), 1.0,
                 lambda v: f"{v:.2f}x dlt's time"),
        _verdict("the same without the raw layer (keep_raw: false)", ratio(lean, dl), 1.0,
                 lambda v: f"{v:.2f}x dlt's time"),
        _verdict("wide CSV into PostgreSQL within 1.5x of COPY", ratio(pg_tg, pg_fl), 1.5,
                 lambda v: f"{v:.2f}x the COPY floor"),
        _verdict("the same without the raw layer (keep_raw: false)", ratio(pg_lean, pg_fl), 1.5,
                 lambda v: f"{v:.2f}x the COPY floor"),
    ]  # fmt: skip
    verdicts += _small_files(t, meta)
    verdicts += _nested_verdicts(t)
    verdicts += _memory_verdicts(t, meta.get("bytes", {}))
    verdicts += _churn_verdicts(t)
    return verdicts


def _change_share(t: Sequence[Cell], scenario: str, tool: str) -> float | None:
    return ratio(find(t, scenario, tool, "change"), find(t, scenario, tool, "initial"))


def _churn_verdicts(t: Sequence[Cell]) -> list[Verdict]:
    cli = _change_share(t, "churn_scd2_delta", "tidegate/duckdb")
    resident = _change_share(t, "churn_scd2_delta", "tidegate-resident/duckdb")
    return [
        _verdict("scd2: a 1% delta in under 10% of the initial load's time, in one long-lived"
                 " process", resident, 0.10,
                 lambda v: f"{v:.0%} of the initial load (tidegate-resident)"),
        _verdict("the same from the command line, in under 25%", cli, 0.25,
                 lambda v: f"{v:.0%} of the initial load (tidegate run)"),
    ]  # fmt: skip


def _small_files(t: Sequence[Cell], meta: dict[str, Any]) -> list[Verdict]:
    files = int(meta.get("units", {}).get("small_files", 0))
    verdicts = []
    for warehouse, limit in (("duckdb", 0.003), ("postgres", 0.006)):
        target = f"many small files: under {limit * 1000:.0f} ms a file on {warehouse}"
        tg = find(t, "small_files", f"tidegate/{warehouse}", "load")
        if tg is None or tg.seconds is None or not files:
            verdicts.append(Verdict(target, "not measured in this run", None))
            continue
        each = tg.seconds / files
        text = f"{each * 1000:.1f} ms a file ({files:,} files)"
        if files < 10_000:
            verdicts.append(Verdict(target, f"{text}: too few files to judge", None))
        else:
            verdicts.append(Verdict(target, text, each <= limit))
    return verdicts


def _nested_verdicts(t: Sequence[Cell]) -> list[Verdict]:
    return [
        _verdict(f"nested JSON Lines into {warehouse} faster than dlt",
                 ratio(find(t, "nested_jsonl", f"tidegate/{warehouse}", "load"),
                       find(t, "nested_jsonl", f"dlt/{warehouse}", "load")),
                 1.0, lambda v: f"{v:.2f}x dlt's time")
        for warehouse in ("duckdb", "postgres")
    ]  # fmt: skip


def _memory_verdicts(t: Sequence[Cell], sizes: dict[str, int]) -> list[Verdict]:
    verdicts = []
    for scenario, limit, least in (("wide_csv", 1.5, 0.9 * GB), ("wide_csv_4x", 1.6, 3.6 * GB)):
        cell = find(t, scenario, "tidegate/duckdb", "load")
        peak = cell.peak_rss / GB if cell and cell.peak_rss else None
        said = f"GB (tidegate/duckdb, {fmt_bytes(sizes.get(scenario))} file)"
        verdict = _verdict(f"peak memory under {limit} GB for the {least / GB:.0f} GB file",
                           peak, limit, partial(_said, said))  # fmt: skip
        if peak is not None and sizes.get(scenario, 0) < least:
            verdict = Verdict(
                verdict.target, f"{verdict.measured}: too small a file to judge", None
            )
        verdicts.append(verdict)
    return verdicts


def _said(unit: str, value: float) -> str:
    return f"{value:.2f} {unit}"


def targets_section(t: Sequence[Cell], meta: dict[str, Any]) -> list[str]:
    marks = {True: "met", False: "**missed**", None: "not measured"}
    rows = [[v.target, v.measured, marks[v.met]] for v in targets(t, meta)]
    return ["#### Targets (issue 15)", "", *table(["target", "measured", "verdict"], rows), ""]


# --------------------------------------------------------------------------- documents


def render(data: dict[str, Any]) -> str:
    meta, results = data["meta"], data["results"]
    t = cells(results)
    lines = [*machine_section(meta), ""]
    for name, title in meta.get("titles", {}).items():
        lines += scenario_section(title, name, t, int(meta.get("units", {}).get(name, 1)))
    lines += targets_section(t, meta)
    return "\n".join(lines).rstrip() + "\n"


def write_doc(doc: Path, markdown: str) -> None:
    """Replace the generated part of ``doc`` (between the markers), or append it."""
    block = f"{BEGIN}\n{markdown}{END}"
    text = doc.read_text(encoding="utf-8") if doc.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = (text.rstrip() + "\n\n" if text else "") + block + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__)
    parser.add_argument("results", type=Path)
    parser.add_argument("--doc", type=Path, help="write into this document instead of printing")
    args = parser.parse_args(argv)
    markdown = render(json.loads(args.results.read_text()))
    if args.doc:
        write_doc(args.doc, markdown)
    else:
        sys.stdout.write(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
