"""Where tidegate spends the time of one case: ``python -m bench.profile CASE``.

Runs ``tidegate run`` on the case's first step under py-spy (sampling, so the run keeps its
speed) and prints the share of the samples spent in each tidegate function, inclusive of
what it calls, and the hottest leaf frames. The raw stacks stay in ``bench/.data/``.

    python -m bench.profile wide_csv                 the 1 GB CSV (about a minute)
    python -m bench.profile small_files --size quick 300 small files
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from bench import projects
from bench.datasets import DATA_ROOT
from bench.scenarios import BUILDERS
from bench.sizes import SIZES
from bench.tools import land

FRAME_PATH = re.compile(r" \((?:.*/)?(?:src/|site-packages/)?([^/]+/[^:]+:\d+)\)$")


def record(case: str, size: str, rate: int) -> Path:
    """Profile tidegate on the case's first step; the path of the raw stacks."""
    scenario = BUILDERS[case](SIZES[size])
    if scenario is None:
        raise SystemExit(f"case {case} has no data set at size {size}")
    root = DATA_ROOT / f"profile-{case}"
    shutil.rmtree(root, ignore_errors=True)
    contract = projects.contract(scenario.kind, scenario.load, scenario.deletes)
    projects.write_project(root, contract, None)
    land(scenario.steps[0], root / "landing")
    stacks = DATA_ROOT / f"profile-{case}.txt"
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    command = [spy, "record", "--rate", str(rate), "--format", "raw", "--output", str(stacks),
               "--", sys.executable, "-m", "tidegate.cli", "run", "--project", str(root), "--json"]  # fmt: skip
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return stacks


def read_stacks(path: Path) -> Iterable[tuple[list[str], int]]:
    """(frames from the root down, samples) per line of py-spy's raw output."""
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            yield stack.split(";"), int(count)


def shares(path: Path) -> tuple[int, Counter[str], Counter[str]]:
    """Total samples, inclusive samples per tidegate function, samples per leaf frame."""
    total, inclusive, leaves = 0, Counter[str](), Counter[str]()
    for frames, count in read_stacks(path):
        total += count
        names = {_short(f) for f in frames if "tidegate/" in f}
        for name in names:
            inclusive[name] += count
        leaves[_short(frames[-1])] += count
    return total, inclusive, leaves


def _short(frame: str) -> str:
    """``function (package/module.py:line)`` without the folders before the package."""
    return FRAME_PATH.sub(r" (\1)", frame)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("case", choices=sorted(BUILDERS))
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--rate", type=int, default=20, help="samples per second")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)
    total, inclusive, leaves = shares(record(args.case, args.size, args.rate))
    print(f"{total} samples at {args.rate} per second")
    print("-- tidegate functions, inclusive")
    for name, count in inclusive.most_common(args.top):
        print(f"{100 * count / total:5.1f}%  {name}")
    print("-- leaf frames")
    for name, count in leaves.most_common(15):
        print(f"{100 * count / total:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
