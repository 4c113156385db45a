"""A target's YAML that changes after its table exists, on every warehouse that runs here:
safe changes load with the next file, unsafe ones stop the run (exit 2) before any file,
``check`` shows both, ``migrate`` rebuilds the table keeping every row and version, and a
replay after a type fix loads the rows that now pass, once."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from sqlglot import exp

from tidegate.config import load_project
from tidegate.sql import col, table
from tidegate.warehouse import connect
from tidegate.warehouse.evolve import list_changes

from .conftest import land, project_file, tidegate

ITEMS = """\
columns:
  id:     {{type: integer, required: true}}
  code:   {{type: {code}}}
  amount: {{type: "{amount}"}}
key: [id]
load: {load}
"""

SOURCE = """\
match: "items*.csv"
outputs:
  - target: items
    columns:
      id: '"ID"'
      code: '"Code"'
      amount: '"Amount"'
"""

MODEL = "SELECT code, sum(amount) AS total FROM core.items GROUP BY code\n"


def items(code: str = "integer", amount: str = "decimal(10,2)", load: str = "merge") -> str:
    return ITEMS.format(code=code, amount=amount, load=load)


def new_project(root: Path, warehouse: Callable[[], str], target: str) -> Path:
    files = {
        "tidegate.yml": project_file(warehouse()),
        "targets/items.yml": target,
        "sources/items.yml": SOURCE,
        "models/totals.sql": MODEL,
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def csv(*rows: tuple[str, str, str]) -> str:
    return "ID,Code,Amount\n" + "".join(",".join(r) + "\n" for r in rows)


def stored(
    root: Path, columns: list[str], name: str = "items", schema: str = "core"
) -> list[tuple[str, ...]]:
    with connect(load_project(root)) as wh:
        found = wh.execute(exp.select(*[col(c) for c in columns]).from_(table(name, schema)))
    return sorted(tuple(str(v) for v in row) for row in found)


def changes(root: Path) -> list[tuple[str, str | None]]:
    with connect(load_project(root)) as wh:
        return [(c["change"], c["column_name"]) for c in list_changes(wh, "items")]


def test_widened_types_load_with_the_next_file(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    root = new_project(tmp_path / "p", warehouse, items())
    land(root, "items_1.csv", csv(("1", "5", "1.50")))
    assert tidegate(root, "run").returncode == 0
    (root / "targets/items.yml").write_text(items(code="varchar", amount="decimal(12,2)"))
    land(root, "items_2.csv", csv(("2", "x7", "1234567890.25")))

    checked = tidegate(root, "check")
    assert checked.returncode == 0, checked.stderr
    assert "column 'code': type to widen" in checked.stdout
    assert "column 'amount': type to widen" in checked.stdout

    done = tidegate(root, "run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert not list((root / "landing").rglob("*.csv"))
    loaded = [(i, c, Decimal(a)) for i, c, a in stored(root, ["id", "code", "amount"])]
    assert loaded == [("1", "5", Decimal("1.5")), ("2", "x7", Decimal("1234567890.25"))]
    assert ("widen", "code") in changes(root) and ("widen", "amount") in changes(root)
    totals = [(c, Decimal(t)) for c, t in stored(root, ["code", "total"], "totals", "marts")]
    assert totals == [("5", Decimal("1.5")), ("x7", Decimal("1234567890.25"))]
    again = tidegate(root, "check")
    assert again.returncode == 0 and "type to widen" not in again.stdout


def test_a_narrowing_stops_before_any_file(tmp_path: Path, warehouse: Callable[[], str]) -> None:
    root = new_project(tmp_path / "p", warehouse, items(code="bigint"))
    land(root, "items_1.csv", csv(("1", "5", "1.50")))
    assert tidegate(root, "run").returncode == 0
    (root / "targets/items.yml").write_text(items(code="integer", amount="decimal(8,2)"))
    land(root, "items_2.csv", csv(("2", "6", "2.00")))

    for command in ("run", "check"):
        stopped = tidegate(root, command)
        assert stopped.returncode == 2, stopped.stdout + stopped.stderr
        message = " ".join(stopped.stderr.split())
        assert re.search(r"targets/items\.yml:3: column 'code' is BIGINT", message), message
        assert "and integer here" in message
        assert "tidegate migrate items" in message
        assert "targets/items.yml:4: column 'amount'" in message
    assert (root / "landing/items_2.csv").exists()
    assert stored(root, ["id"]) == [("1",)]


def test_migrate_keeps_every_version_and_lists_what_does_not_convert(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    root = new_project(tmp_path / "p", warehouse, items(code="varchar", load="scd2"))
    land(root, "items_1.csv", csv(("1", "5", "1.50"), ("2", "x7", "3.00")))
    assert tidegate(root, "run").returncode == 0
    land(root, "items_2.csv", csv(("1", "6", "1.50"), ("2", "8", "3.00")))
    assert tidegate(root, "run").returncode == 0
    history = ["id", "code", "_valid_from", "_valid_to", "_is_current", "_file_id", "_row"]
    before = stored(root, history)
    assert len(before) == 4
    (root / "targets/items.yml").write_text(items(code="integer", load="scd2"))

    refused = tidegate(root, "migrate", "items")
    assert refused.returncode == 2
    message = " ".join(refused.stderr.split())
    assert "column code: 'x7' is not a valid integer" in message, message
    assert re.search(r"file \w+ row 2 column code", message), message
    assert stored(root, history) == before  # nothing changed

    with connect(load_project(root)) as wh:  # the fix: the bad value corrected in place
        wh.execute(
            exp.update(table("items", "core"), {"code": exp.Literal.string("7")}).where(
                col("code").eq(exp.Literal.string("x7"))
            )
        )
    migrated = tidegate(root, "migrate", "items")
    assert migrated.returncode == 0, migrated.stderr
    assert "4 rows kept" in migrated.stdout
    after = stored(root, history)
    assert after == sorted(tuple("7" if v == "x7" else v for v in row) for row in before)
    with connect(load_project(root)) as wh:
        kinds = wh.column_types("items", "core")
        assert kinds is not None
        assert wh.same_type(kinds["code"], wh.declared_type(exp.DataType.build("int")))
    assert ("migrate", "code") in changes(root)
    land(root, "items_3.csv", csv(("3", "9", "4.00")))
    assert tidegate(root, "run").returncode == 0
    assert len(stored(root, ["id"])) == 5


def test_replay_after_a_type_fix_loads_the_rows_that_now_pass_once(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    root = new_project(tmp_path / "p", warehouse, items(load="append"))
    land(root, "items_1.csv", csv(("1", "5", "1.50"), ("2", "abc", "2.00"), ("3", "x", "y")))
    assert tidegate(root, "run").returncode == 0
    assert stored(root, ["id"]) == [("1",)]
    (root / "targets/items.yml").write_text(items(code="varchar", load="append"))

    replayed = tidegate(root, "replay", "--all")
    assert replayed.returncode == 0, replayed.stderr
    said = " ".join(replayed.stdout.split())
    assert "2 rows tried, 1 loaded" in said and "1 still bad" in said, said
    assert stored(root, ["id", "code"]) == [("1", "5"), ("2", "abc")]
    again = " ".join(tidegate(root, "replay", "--all").stdout.split())
    assert "1 rows tried, 0 loaded" in again and "1 still bad" in again, again
    assert stored(root, ["id", "code"]) == [("1", "5"), ("2", "abc")]
    assert ("widen", "code") in changes(root)


def test_a_new_key_needs_migrate_which_checks_it(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    root = new_project(tmp_path / "p", warehouse, items(code="varchar"))
    land(root, "items_1.csv", csv(("1", "a", "1.00"), ("2", "a", "2.00")))
    assert tidegate(root, "run").returncode == 0
    (root / "targets/items.yml").write_text(items(code="varchar").replace("[id]", "[code]"))
    land(root, "items_2.csv", csv(("3", "a", "3.00")))

    for command in ("check", "run"):
        stopped = tidegate(root, command)
        assert stopped.returncode == 2, command
        said = " ".join(stopped.stderr.split())
        assert "targets/items.yml:5: key ['code'] differs from key ['id']" in said, said
        assert "tidegate migrate items" in said
    assert (root / "landing/items_2.csv").exists()
    refused = tidegate(root, "migrate", "items")
    assert refused.returncode == 2
    assert "does not identify every row" in " ".join(refused.stderr.split())

    with connect(load_project(root)) as wh:
        fix = exp.update(table("items", "core"), {"code": exp.Literal.string("b")})
        wh.execute(fix.where(col("id").eq(exp.Literal.number(2))))
    assert tidegate(root, "migrate", "items").returncode == 0
    assert tidegate(root, "run").returncode == 0
    assert stored(root, ["id", "code"]) == [("2", "b"), ("3", "a")]


def with_note(spec: str) -> str:
    """The items target with a new column ``note`` declared ``spec``."""
    return items().replace("key: [id]", f"  note:   {spec}\nkey: [id]")


def changed_after_a_load(tmp_path: Path, warehouse: Callable[[], str], target: str) -> Path:
    """A project that loaded one file, then its target changed to ``target`` and a second
    file landed (``items_2.csv``: id 2, code 6)."""
    root = new_project(tmp_path / "p", warehouse, items())
    land(root, "items_1.csv", csv(("1", "5", "1.50")))
    assert tidegate(root, "run").returncode == 0
    (root / "targets/items.yml").write_text(target)
    land(root, "items_2.csv", csv(("2", "6", "2.00")))
    return root


def test_a_new_nullable_column_is_shown_by_check_and_added_by_the_next_file(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    root = changed_after_a_load(tmp_path, warehouse, with_note("{type: varchar}"))
    (root / "sources/items.yml").write_text(SOURCE + "      note: 'lower(\"Code\")'\n")

    checked = tidegate(root, "check")
    assert checked.returncode == 0, checked.stderr
    assert "target items: column 'note' to add (varchar)" in " ".join(checked.stdout.split())

    assert tidegate(root, "run").returncode == 0
    assert stored(root, ["id", "note"]) == [("1", "None"), ("2", "6")]
    assert ("add", "note") in changes(root)


def test_a_new_required_column_on_a_table_with_rows_stops_and_says_what_to_do(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    root = changed_after_a_load(tmp_path, warehouse, with_note("{type: varchar, required: true}"))

    for command in ("check", "run"):
        stopped = tidegate(root, command)
        assert stopped.returncode == 2, command
        said = " ".join(stopped.stderr.split())
        assert "targets/items.yml:5: column 'note' is new and required" in said, said
        assert "the table already has 1 rows" in said
        assert "required: false" in said
    assert (root / "landing/items_2.csv").exists()


def test_text_to_date_stops_the_run_and_names_migrate(
    tmp_path: Path, warehouse: Callable[[], str]
) -> None:
    root = new_project(tmp_path / "p", warehouse, items(code="varchar"))
    land(root, "items_1.csv", csv(("1", "2024-01-02", "1.50")))
    assert tidegate(root, "run").returncode == 0
    (root / "targets/items.yml").write_text(items(code="date"))
    land(root, "items_2.csv", csv(("2", "2024-01-03", "2.00")))

    for command in ("check", "run"):
        stopped = tidegate(root, command)
        assert stopped.returncode == 2, command
        said = " ".join(stopped.stderr.split())
        assert re.search(r"targets/items\.yml:3: column 'code' is (TEXT|VARCHAR)", said), said
        assert "and date here" in said
        assert "tidegate migrate items" in said
    assert (root / "landing/items_2.csv").exists()
    assert stored(root, ["id", "code"]) == [("1", "2024-01-02")]
