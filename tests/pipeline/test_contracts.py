"""Contracts end to end: replay after a fix, nested records, several sources into one target."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from tidegate.config import load_project
from tidegate.pipeline import run
from tidegate.replay import replay

from .conftest import PEOPLE_TARGET, land, people_csv, tidegate, write_project


def rows(root: Path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_fix_the_contract_and_replay_loads_the_fixed_rows_once(project: Path) -> None:
    land(
        project,
        "people_1.csv",
        people_csv(
            ("1", "Ada", "ada@x.org", "12/10/1815"),
            ("2", "Alan", "alan@x.org", "1912-06-23"),  # ISO date: fine
            ("3", "Grace", "grace@x.org", "1906.12.09"),  # a format the contract does not accept
            ("4", "", "nobody@x.org", "01/01/2000"),  # no name: stays bad
        ),
    )
    [file] = run(load_project(project)).files
    assert (file.rows_loaded, file.rows_quarantined) == (2, 2)

    write_project(
        project,
        {"targets/people.yml": PEOPLE_TARGET.replace("['%m/%d/%Y']", "['%m/%d/%Y', '%Y.%m.%d']")},
    )
    done = tidegate(project, "replay", "--all", "--json")
    assert done.returncode == 0, done.stderr
    [result] = json.loads(done.stdout)
    assert (result["tried"], result["loaded"], result["still_bad"]) == (2, 1, 1)
    assert rows(project, "SELECT id FROM core.people ORDER BY id") == [(1,), (2,), (3,)]
    assert rows(project, "SELECT rows_read, rows_loaded, rows_quarantined FROM tidegate.files") == [
        (4, 3, 1)
    ]
    assert rows(project, "SELECT row, status FROM tidegate.quarantine ORDER BY row") == [
        (3, "replayed"),
        (4, "open"),
    ]
    [(reasons,)] = rows(project, "SELECT reasons FROM tidegate.quarantine WHERE status = 'open'")
    assert [r["rule"] for r in json.loads(reasons)] == ["required"]

    again = replay(load_project(project))
    assert [(r.loaded, r.still_bad) for r in again] == [(0, 1)]
    assert rows(project, "SELECT count(*) FROM core.people") == [(3,)]


def test_quarantine_command_lists_and_counts_by_reason(project: Path) -> None:
    land(
        project,
        "people_1.csv",
        people_csv(("x", "A", "a@b", "bad"), ("y", "B", "b@c", "01/01/2000")),
    )
    run(load_project(project))
    done = tidegate(project, "quarantine", "--json")
    report = json.loads(done.stdout)
    assert report["total"] == 2
    assert {(c["rule"], c["column"], c["rows"]) for c in report["by_reason"]} == {
        ("type", "id", 2),
        ("type", "born", 1),
    }
    assert report["rows"][0]["record"] == {
        "ID": "x",
        "Full Name": "A",
        "E-mail": "a@b",
        "Born": "bad",
    }
    only_born = json.loads(tidegate(project, "quarantine", "--json", "--rule", "type").stdout)
    assert only_born["total"] == 2
    assert tidegate(project, "quarantine").returncode == 0


NESTED = {
    "targets/orders.yml": """\
        columns:
          order_id: {type: varchar, required: true}
          customer: {type: varchar, required: true}
          total:    {type: "decimal(10,2)", check: "total > 0"}
        key: [order_id]
        """,
    "targets/order_lines.yml": """\
        columns:
          order_id: {type: varchar, required: true}
          line:     {type: integer}
          sku:      {type: integer, required: true}
          quantity: {type: integer, min: 1}
        """,
    "sources/orders.yml": """\
        match: "orders*.jsonl"
        outputs:
          - target: orders
            columns:
              order_id: order_id
              customer: customer_id
              total: total
          - target: order_lines
            unnest: "from_json(items, '[\\"JSON\\"]')"
            columns:
              order_id: order_id
              line: _item
              sku: item->>'sku'
              quantity: item->>'qty'
        """,
}


def test_nested_records_become_parent_and_child_rows(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", NESTED)
    lines = [
        {
            "order_id": "o1",
            "customer_id": "c1",
            "total": "10.50",
            "items": [{"sku": 1, "qty": 2}, {"sku": 2, "qty": 1}],
        },
        {
            "order_id": "o2",
            "customer_id": "c2",
            "total": "-1",
            "items": [{"sku": 3, "qty": 1}],
        },  # parent fails
        {
            "order_id": "o3",
            "customer_id": "c3",
            "total": "5",
            "items": [{"sku": 4, "qty": 0}],
        },  # child fails
        {"order_id": "o4", "customer_id": "c4", "total": "7", "items": []},
    ]
    land(root, "orders_1.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")
    [file] = run(load_project(root)).files
    assert (file.status, file.rows_read, file.rows_loaded, file.rows_quarantined) == (
        "loaded",
        4,
        2,
        2,
    )
    assert rows(root, "SELECT order_id, total FROM core.orders ORDER BY 1") == [
        ("o1", 10.5),
        ("o4", 7),
    ]
    assert rows(
        root, "SELECT order_id, line, sku, quantity FROM core.order_lines ORDER BY 1, 2"
    ) == [
        ("o1", 1, 1, 2),
        ("o1", 2, 2, 1),
    ]
    quarantined = rows(root, "SELECT row, target, reasons FROM tidegate.quarantine ORDER BY row")
    assert [(r, t, [x["rule"] for x in json.loads(why)]) for r, t, why in quarantined] == [
        (2, "orders", ["check"]),
        (3, "order_lines", ["min"]),
    ]


def test_many_sources_feed_one_target(tmp_path: Path) -> None:
    extra = {
        "sources/legacy.yml": """\
            match: "legacy_*.tsv"
            outputs:
              - target: people
                columns:
                  id: '"person"'
                  name: '"first" || '' '' || "last"'
            """,
    }
    root = write_project(tmp_path / "p", extra)
    land(root, "people_1.csv", people_csv(("1", "Ada", "ada@x.org", "12/10/1815")))
    land(root, "legacy_1.tsv", "person\tfirst\tlast\n7\tAlan\tTuring\n")
    result = run(load_project(root))
    assert sorted((f.source, f.status) for f in result.files) == [
        ("legacy", "loaded"),
        ("people", "loaded"),
    ]
    assert rows(root, "SELECT id, name FROM core.people ORDER BY id") == [
        (1, "Ada"),
        (7, "Alan Turing"),
    ]


REFERENCES = {
    "targets/customers.yml": """\
        columns:
          id:   {type: integer, required: true}
          name: {type: varchar}
        key: [id]
        """,
    "targets/payments.yml": """\
        columns:
          payment_id:  {type: varchar, required: true}
          customer_id: {type: integer}
          amount:      {type: "decimal(10,2)"}
        references:
          - {columns: [customer_id], target: customers, target_columns: [id]}
        """,
    "sources/customers.yml": """\
        match: "*customers*.csv"
        outputs: [{target: customers, columns: {id: '"id"', name: '"name"'}}]
        """,
    "sources/payments.yml": """\
        match: "*payments*.csv"
        outputs: [{target: payments, columns: {payment_id: '"id"', customer_id: '"customer"', amount: '"amount"'}}]
        """,
}


def test_references_must_exist_and_referenced_sources_load_first(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", REFERENCES)
    # Alphabetically payments come first; the reference puts customers first.
    land(root, "a_payments.csv", "id,customer,amount\np1,1,9.99\np2,2,1.00\np3,,3.00\n")
    land(root, "b_customers.csv", "id,name\n1,Ada\n")
    result = run(load_project(root))
    assert [f.source for f in result.files] == ["customers", "payments"]
    payments = result.files[1]
    assert (payments.rows_loaded, payments.rows_quarantined) == (2, 1)
    [(row, reasons)] = rows(root, "SELECT row, reasons FROM tidegate.quarantine")
    assert row == 2
    assert json.loads(reasons) == [
        {
            "rule": "reference",
            "column": "customer_id",
            "value": "2",
            "message": "not found in customers.id",
        }
    ]
    land(root, "c_customers.csv", "id,name\n2,Alan\n")
    run(load_project(root))
    assert [(r.loaded, r.still_bad) for r in replay(load_project(root))] == [(1, 0)]
    assert rows(root, "SELECT payment_id FROM core.payments ORDER BY 1") == [
        ("p1",),
        ("p2",),
        ("p3",),
    ]


def test_new_columns_reject_the_file_when_the_source_says_so(tmp_path: Path) -> None:
    from .conftest import PEOPLE_SOURCE

    root = write_project(
        tmp_path / "p", {"sources/people.yml": PEOPLE_SOURCE + "on_new_columns: reject\n"}
    )
    land(root, "people_1.csv", people_csv(("1", "Ada", "a@b.c", "01/01/2000")))
    run(load_project(root))
    land(root, "people_2.csv", "ID,Full Name,E-mail,Born,Extra\n2,Alan,a@b.c,01/01/1912,x\n")
    [file] = run(load_project(root)).files
    assert file.status == "rejected"
    assert file.error == "new columns ['Extra'] (the source says on_new_columns: reject)"
    assert rows(root, "SELECT count(*) FROM core.people") == [(1,)]


def test_absolute_threshold(tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "p", {"targets/people.yml": PEOPLE_TARGET + "reject_file_over: 1\n"}
    )
    land(
        root, "people_1.csv", people_csv(("x", "A", "a@b", "bad"), ("2", "B", "b@c", "01/01/2000"))
    )
    assert run(load_project(root)).files[0].status == "loaded"
    land(
        root, "people_2.csv", people_csv(("x", "A", "a@b", "bad"), ("y", "B", "b@c", "01/01/2000"))
    )
    [file] = run(load_project(root)).files
    assert (file.status, file.error) == ("rejected", "2 of 2 rows failed, over the limit of 1")


def test_a_bad_row_gets_only_true_reference_reasons(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", REFERENCES)
    land(root, "b_customers.csv", "id,name\n1,Ada\n")
    land(root, "c_payments.csv", "id,customer,amount\n,1,9.99\n")  # no id, customer exists
    run(load_project(root))
    [(reasons,)] = rows(root, "SELECT reasons FROM tidegate.quarantine")
    assert [r["rule"] for r in json.loads(reasons)] == ["required"]
