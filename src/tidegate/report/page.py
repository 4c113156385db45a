"""The report as one self-contained HTML page: inline CSS, inline SVG, a few lines of script.

It opens from ``file://`` with no network. Every value from the ledger is escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape

from tidegate import __version__
from tidegate.report import charts
from tidegate.report.charts import PALETTE, Series
from tidegate.report.data import Facts, Reason, RunSummary

RUNS_SHOWN = 60  # the newest runs in the charts; the table lists the newest 20

CSS = """
:root{--ink:#1d2330;--muted:#5b6475;--line:#d9dde5;--bg:#fff;--panel:#f6f7f9;--bad:#b3261e}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);
background:var(--bg);margin:0}
main{max-width:1100px;margin:0 auto;padding:24px 20px 48px}
h1{font-size:1.6rem;margin:0 0 4px}h2{font-size:1.2rem;margin:32px 0 8px;
border-bottom:1px solid var(--line);padding-bottom:4px}
.sub{color:var(--muted);margin:0 0 16px}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px}
.tile{background:var(--panel);border-radius:8px;padding:10px 12px}
.tile b{display:block;font-size:1.4rem}.tile span{color:var(--muted);font-size:.85rem}
figure{margin:12px 0}figcaption{font-weight:600;margin-bottom:4px}
svg.chart{width:100%;height:auto;display:block}
svg .grid{stroke:var(--line);stroke-width:1}svg text{font-size:11px;fill:var(--muted)}
svg .label{fill:var(--ink);font-size:12px}svg .value{font-size:11px}
.legend{margin:4px 0;color:var(--muted);font-size:.85rem}
.key{margin-right:14px}.key i{display:inline-block;width:10px;height:10px;margin-right:5px;
border-radius:2px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{cursor:pointer;white-space:nowrap;background:var(--panel)}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td code{font-size:.85em;word-break:break-all}
.bad{color:var(--bad);font-weight:600}.ok{color:#1b6e3c}
.empty{color:var(--muted);font-style:italic}
@media print{body{font-size:11pt}main{max-width:none;padding:0}th{cursor:auto}
section,figure,table{break-inside:avoid}.tile{border:1px solid var(--line)}}
"""

# Click a header to sort its table; numbers sort as numbers.
SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th, index) {
  th.addEventListener("click", function () {
    var body = th.closest("table").tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var down = th.dataset.order !== "desc";
    th.dataset.order = down ? "desc" : "asc";
    rows.sort(function (a, b) {
      var x = a.cells[index].dataset.v || a.cells[index].textContent;
      var y = b.cells[index].dataset.v || b.cells[index].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = isNaN(nx) || isNaN(ny) ? x.localeCompare(y) : nx - ny;
      return down ? -c : c;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""


def render(facts: Facts) -> str:
    """The whole page."""
    body = "".join(
        [
            _header(facts),
            _runs(facts.runs),
            _sources(facts),
            _reasons(facts.reasons, facts.quarantine_total),
            _slowest(facts),
            _history(facts),
            _erasures(facts.erasures),
        ]
    )
    title = f"tidegate report: {facts.project}"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>"
        f"<body><main>{body}</main><script>{SCRIPT}</script></body></html>"
    )


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: set[int]) -> str:
    """A sortable table; cells are HTML already escaped by the caller."""
    head = "".join(
        f'<th class="n">{escape(h)}</th>' if i in numeric else f"<th>{escape(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return (
        f'<div class="scroll"><table class="sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _empty(text: str) -> str:
    return f'<p class="empty">{escape(text)}</p>'


def _header(facts: Facts) -> str:
    files = sum(r.files for r in facts.runs)
    tiles = [
        ("runs", len(facts.runs)),
        ("files", files),
        ("rows loaded", sum(r.rows_loaded for r in facts.runs)),
        ("rows quarantined", sum(r.rows_quarantined for r in facts.runs)),
        ("files rejected", sum(r.files_rejected for r in facts.runs)),
        ("files failed", sum(r.files_failed for r in facts.runs)),
    ]
    window = f"since {_when(facts.since)}" if facts.since else "all runs"
    return (
        f"<header><h1>tidegate report: {escape(facts.project)}</h1>"
        f'<p class="sub">{escape(window)}; made {_when(facts.generated_at)} UTC by tidegate '
        f"{escape(__version__)}</p>"
        '<div class="tiles">'
        + "".join(f'<div class="tile"><b>{n:,}</b><span>{escape(t)}</span></div>' for t, n in tiles)
        + "</div></header>"
    )


def _status(status: str) -> str:
    css = "ok" if status == "ok" or status == "loaded" else "bad"
    return f'<span class="{css}">{escape(status)}</span>'


def _runs(runs: list[RunSummary]) -> str:
    if not runs:
        return "<section><h2>Runs</h2>" + _empty("no runs in this window") + "</section>"
    shown = runs[-RUNS_SHOWN:]
    labels = [r.started_at.strftime("%m-%d %H:%M") for r in shown]
    rows_chart = charts.columns(
        "Rows per run",
        labels,
        [
            Series("loaded", [r.rows_loaded for r in shown], PALETTE["blue"]),
            Series("quarantined", [r.rows_quarantined for r in shown], PALETTE["orange"]),
        ],
    )
    time_chart = charts.columns(
        "Duration per run",
        labels,
        [Series("duration", [r.seconds or 0 for r in shown], PALETTE["green"])],
        " s",
    )
    table = _table(
        [
            "started",
            "run",
            "status",
            "files",
            "rows loaded",
            "quarantined",
            "rejected",
            "failed",
            "duration",
        ],
        (
            [
                escape(_when(r.started_at)),
                f"<code>{escape(r.run_id[:12])}</code>",
                _status(r.status),
                f"{r.files:,}",
                f"{r.rows_loaded:,}",
                f"{r.rows_quarantined:,}",
                f"{r.files_rejected:,}",
                f"{r.files_failed:,}",
                f'<span data-v="{r.seconds or 0}">{escape(_duration(r.seconds))}</span>',
            ]
            for r in reversed(runs[-20:])
        ),
        {3, 4, 5, 6, 7, 8},
    )
    return f"<section><h2>Runs</h2>{rows_chart}{time_chart}{table}</section>"


def _sources(facts: Facts) -> str:
    sources = facts.sources
    if not sources:
        return "<section><h2>Sources</h2>" + _empty("no sources") + "</section>"
    chart = charts.rows(
        "Rows per source",
        [s.name for s in sources],
        [
            Series("loaded", [s.rows_loaded for s in sources], PALETTE["blue"]),
            Series("quarantined", [s.rows_quarantined for s in sources], PALETTE["orange"]),
        ],
    )
    stale = {
        None: "-",
        True: '<span class="bad">stale</span>',
        False: '<span class="ok">fresh</span>',
    }
    table = _table(
        [
            "source",
            "files",
            "rows read",
            "rows loaded",
            "quarantine rate",
            "rejected",
            "failed",
            "newest file",
            "freshness",
        ],
        (
            [
                escape(s.name),
                f"{s.files:,}",
                f"{s.rows_read:,}",
                f"{s.rows_loaded:,}",
                f'<span data-v="{s.quarantine_rate}">{s.quarantine_rate:.1%}</span>',
                f"{s.rejected:,}",
                f"{s.failed:,}",
                escape(_when(s.newest)),
                stale[s.stale],
            ]
            for s in sources
        ),
        {1, 2, 3, 4, 5, 6},
    )
    return f"<section><h2>Sources</h2>{chart}{table}</section>"


def _reason_label(reason: Reason) -> str:
    where = f"{reason.target}.{reason.column}" if reason.column else (reason.target or "-")
    return f"{reason.rule} ({where})"


def _reasons(reasons: list[Reason], total: int) -> str:
    head = "<section><h2>Quarantine: the top reasons</h2>"
    if not reasons:
        return head + _empty("no open quarantined rows in this window") + "</section>"
    chart = charts.rows(
        f"Open quarantined rows by reason ({total:,} rows)",
        [_reason_label(r) for r in reasons],
        [Series("rows", [r.count for r in reasons], PALETTE["vermillion"])],
    )
    table = _table(
        ["reason", "rows", "examples (file, row: message)"],
        (
            [
                escape(_reason_label(r)),
                f"{r.count:,}",
                "<br>".join(
                    f"<code>{escape(str(e['file_id'])[:12])}</code> row {escape(str(e['row']))}: "
                    f"{escape(str(e['message'] or ''))}"
                    for e in r.examples
                ),
            ]
            for r in reasons
        ),
        {1},
    )
    return f"{head}{chart}{table}</section>"


def _slowest(facts: Facts) -> str:
    head = "<section><h2>The slowest files</h2>"
    if not facts.slowest:
        return head + _empty("no files in this window") + "</section>"
    table = _table(
        ["file", "source", "status", "rows read", "time"],
        (
            [
                f"<code>{escape(s.path)}</code>",
                escape(s.source or "-"),
                _status(s.status),
                f"{s.rows_read:,}",
                f'<span data-v="{s.seconds}">{escape(_duration(s.seconds))}</span>',
            ]
            for s in facts.slowest
        ),
        {3, 4},
    )
    return f"{head}{table}</section>"


def _history(facts: Facts) -> str:
    head = "<section><h2>History: versions opened and closed per run</h2>"
    if not facts.versions:
        return head + _empty("no scd2 target gained versions in this window") + "</section>"
    parts = []
    for target in sorted({v.target for v in facts.versions}):
        mine = [v for v in facts.versions if v.target == target][-RUNS_SHOWN:]
        parts.append(
            charts.columns(
                f"{target}: versions per run",
                [v.started_at.strftime("%m-%d %H:%M") for v in mine],
                [
                    Series("opened", [v.opened for v in mine], PALETTE["purple"]),
                    Series("closed", [v.closed for v in mine], PALETTE["sky"]),
                ],
            )
        )
    return head + "".join(parts) + "</section>"


def _erasures(erasures: dict[str, int]) -> str:
    head = "<section><h2>Erasures</h2>"
    if not erasures:
        return head + _empty("no erasure requests in this window") + "</section>"
    table = _table(
        ["what", "count"],
        ([escape(k), f"{v:,}"] for k, v in sorted(erasures.items())),
        {1},
    )
    return f"{head}{table}</section>"
