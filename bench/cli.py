"""``python -m bench``: generate the data sets, run every case, save and report the results.

python -m bench                      the full run (about 1 GB files), written to
                                     bench/results/full.json and docs/benchmarks.md
python -m bench --quick              a smoke run (small files, one repeat), printed
python -m bench --only wide_csv --repeat 5 --postgres none
python -m bench --only small_files --set small_files=1000 --append
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import postgres, report
from bench.datasets import DATA_ROOT
from bench.machine import facts
from bench.run import REPO, Result, run_scenario, stderr_log, tools_of
from bench.scenarios import BUILDERS, Scenario
from bench.sizes import SIZES, Sizes

DOC = REPO / "docs" / "benchmarks.md"
RESULTS = REPO / "bench" / "results"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--quick", action="store_true", help="the smoke size (same as --size quick)")
    p.add_argument("--size", choices=sorted(SIZES), help="data set sizes (default: full)")
    p.add_argument(
        "--only",
        action="append",
        metavar="CASE",
        help=f"run only these cases (repeatable, or comma-separated): {', '.join(BUILDERS)}",
    )
    p.add_argument(
        "--tools",
        help="run only these tools, comma-separated: floor,tidegate,tidegate-noraw,dlt,sling;"
        " a tool on one warehouse as tool/warehouse (tidegate/spark-2)",
    )
    p.add_argument("--repeat", type=int, metavar="N", help="runs of each tool per case")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=N",
        help="override one size, e.g. --set small_files=1000 (fields of bench/sizes.py)",
    )
    p.add_argument(
        "--append",
        action="store_true",
        help="add to the results file (replacing the cases run again) instead of"
        " starting a new one; the report covers every case in the file",
    )
    p.add_argument(
        "--postgres",
        metavar="URL",
        help="a PostgreSQL server (superuser URL), 'local' to start one, or 'none';"
        f" default: ${postgres.ENV_URL}, else a local server when the PostgreSQL"
        " binaries are installed, else PostgreSQL is skipped",
    )
    p.add_argument("--results", type=Path, help="where to save the results JSON")
    p.add_argument("--doc", type=Path, help="write the report into this document")
    p.add_argument("--no-doc", action="store_true", help="print the report, write no document")
    return p  # fmt: skip


def chosen_cases(only: Sequence[str] | None) -> list[str]:
    if not only:
        return list(BUILDERS)
    names = [name.strip() for item in only for name in item.split(",") if name.strip()]
    unknown = [name for name in names if name not in BUILDERS]
    if unknown:
        raise SystemExit(f"unknown case(s) {unknown}; the cases are {list(BUILDERS)}")
    return names


def server_choice(given: str | None) -> str | None:
    """A server URL, 'local', or None (no PostgreSQL): see ``--postgres``."""
    if given == "none":
        return None
    if given:
        return given
    return os.environ.get(postgres.ENV_URL) or ("local" if postgres.bindir() else None)


def sizes_of(args: argparse.Namespace) -> Sizes:
    sizes = SIZES[args.size or ("quick" if args.quick else "full")]
    changes: dict[str, Any] = {"repeats": args.repeat} if args.repeat else {}
    for item in args.set:
        name, _, value = item.partition("=")
        if name not in Sizes.__dataclass_fields__ or name == "name" or not value.isdigit():
            raise SystemExit(f"--set expects FIELD=N with a field of bench/sizes.py, got {item!r}")
        changes[name] = int(value)
    return replace(sizes, **changes)


def build(names: Sequence[str], sizes: Sizes) -> list[Scenario]:
    scenarios = []
    for name in names:
        stderr_log(f"[{name}] preparing the data set ({sizes.name})")
        scenario = BUILDERS[name](sizes)
        if scenario is not None:
            scenarios.append(scenario)
    return scenarios


def outputs(args: argparse.Namespace, sizes: Sizes) -> tuple[Path, Path | None]:
    """The results file, and the document to write (None: print the report)."""
    default = (
        RESULTS / "full.json" if sizes.name == "full" else DATA_ROOT / f"results-{sizes.name}.json"
    )
    results = args.results or default
    if args.no_doc:
        return results, None
    return results, args.doc or (DOC if sizes.name == "full" and not args.only else None)


def earlier(path: Path, append: bool, replacing: Sequence[str]) -> dict[str, Any]:
    """The results already in ``path`` for other cases (``--append``), or nothing."""
    if not append or not path.exists():
        return {"meta": {}, "results": []}
    data: dict[str, Any] = json.loads(path.read_text())
    data["results"] = [r for r in data["results"] if r["scenario"] not in replacing]
    return data


def merged_meta(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The new run's facts, with the cases and commands of the earlier runs kept."""
    meta = {**old, **new}
    for key in ("titles", "units", "bytes"):
        meta[key] = {**old.get(key, {}), **new.get(key, {})}
    meta["commands"] = [*old.get("commands", []), new["command"]]
    meta["runs"] = [*old.get("runs", []), this_run(new)]
    meta["started"] = old.get("started", new["started"])
    meta["elapsed_seconds"] = old.get("elapsed_seconds", 0) + new.get("elapsed_seconds", 0)
    return meta


def this_run(meta: dict[str, Any]) -> dict[str, Any]:
    """When one command ran, which cases, and how busy the machine was."""
    return {
        "command": meta["command"],
        "started": meta["started"],
        "cases": list(meta.get("titles", {})),
        "load_average_start": meta.get("machine", {}).get("load_average_start"),
        "load_average_end": meta.get("load_average_end"),
    }


def save(
    path: Path, base: dict[str, Any], meta: dict[str, Any], results: list[Result]
) -> dict[str, Any]:
    data = {
        "meta": merged_meta(base["meta"], meta),
        "results": [*base["results"], *(r.to_json() for r in results)],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")
    return data


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    sizes = sizes_of(args)
    names = chosen_cases(args.only)
    chosen_tools = args.tools.split(",") if args.tools else None
    results_path, doc = outputs(args, sizes)
    url = server_choice(args.postgres)
    servers = postgres.server(None if url == "local" else url) if url else nullcontext(None)
    with servers as server:
        return _run(args, sizes, names, chosen_tools, server, results_path, doc)


def _run(
    args: argparse.Namespace,
    sizes: Sizes,
    names: list[str],
    chosen_tools: list[str] | None,
    server: str | None,
    results_path: Path,
    doc: Path | None,
) -> int:
    started = time.monotonic()
    scenarios = build(names, sizes)
    meta: dict[str, Any] = {
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "size": sizes.name,
        "command": "python -m bench " + shlex.join(_shown(argv=sys.argv[1:])),
        "machine": facts(server, REPO),
        "titles": {s.name: s.title for s in scenarios},
        "units": {s.name: s.units for s in scenarios},
        "bytes": {s.name: s.bytes for s in scenarios},
        "sizes": asdict(sizes),
    }
    base = earlier(results_path, args.append, [s.name for s in scenarios])
    results: list[Result] = []
    # Per process: two harness runs at once (the smoke tests on two workers) must not share
    # a tool's folder, which each run removes.
    workroot = DATA_ROOT / "runs" / str(os.getpid())
    for scenario in scenarios:
        results += run_scenario(scenario, tools_of(scenario, chosen_tools), server, workroot,
                                stderr_log)  # fmt: skip
        meta["elapsed_seconds"] = time.monotonic() - started
        meta["load_average_end"] = list(os.getloadavg())
        data = save(results_path, base, meta, results)
    data = save(results_path, base, meta, results)
    shutil.rmtree(workroot, ignore_errors=True)
    markdown = report.render(data)
    if doc:
        report.write_doc(doc, markdown)
        stderr_log(f"results: {results_path}; report written to {doc}")
    else:
        sys.stdout.write(markdown)
        stderr_log(f"results: {results_path}")
    return 0 if all(r.status != "failed" for r in results) else 1


def _shown(argv: list[str]) -> list[str]:
    """The command line as run, with any password in a URL hidden."""
    return [_redacted(arg) for arg in argv]


def _redacted(arg: str) -> str:
    if "://" in arg and "@" in arg:
        scheme, rest = arg.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return arg
