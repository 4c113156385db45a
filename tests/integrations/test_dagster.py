"""tidegate in Dagster, in process, through Dagster's own APIs: the asset graph, a
materialised selection and its metadata, the landing sensor, the contract's checks,
schedules and the Component."""

from __future__ import annotations

import json
import runpy
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
from dagster.components.testing import create_defs_folder_sandbox

from tidegate.clock import utcnow
from tidegate.config import load_project
from tidegate.dagster import (
    TidegateProjectComponent,
    TidegateTranslator,
    definitions,
    tidegate_assets,
    tidegate_checks,
    tidegate_sensor,
)
from tidegate.errors import ConfigError
from tidegate.sql import lit, table
from tidegate.sql import update as sql_update
from tidegate.warehouse import connect

from .conftest import CUSTOMERS, ORDERS, land

CUSTOMERS_2 = (
    "id,name,email\n1,Ada,ada@example.org\n2,Alan,alan.turing@example.org\n4,Grace,g@example.org\n"
)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as test_instance:
        yield test_instance


def materialise(
    root: Path, selection: list[str], instance: dg.DagsterInstance
) -> dict[str, dict[str, Any]]:
    [assets] = tidegate_assets(root)
    result = dg.materialize([assets], selection=selection, instance=instance)
    assert result.success
    return {
        event.asset_key.to_user_string(): {
            k: v.value for k, v in event.materialization.metadata.items()
        }
        for event in result.get_asset_materialization_events()
        if event.asset_key is not None
    }


def test_one_asset_per_target_grouped_by_source_with_references_and_models(shop: Path) -> None:
    defs = definitions(shop)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == {"customers", "orders", "erasure_requests", "order_totals"}
    orders = graph.get(dg.AssetKey("orders"))
    assert orders.parent_keys == {dg.AssetKey("customers")}
    assert graph.get(dg.AssetKey("order_totals")).parent_keys == {dg.AssetKey("orders")}
    assert orders.group_name == "orders"
    assert graph.get(dg.AssetKey("customers")).group_name == "customers"
    assert graph.get(dg.AssetKey("order_totals")).group_name == "models"


def test_a_translator_renames_the_keys_and_the_dependencies_follow(shop: Path) -> None:
    class Prefixed(TidegateTranslator):
        def target_key(self, name: str) -> dg.AssetKey:
            return dg.AssetKey(["shop", name])

    [assets] = tidegate_assets(shop, Prefixed())
    assert dg.AssetKey(["shop", "customers"]) in assets.keys
    deps = assets.asset_deps[dg.AssetKey(["shop", "orders"])]
    assert deps == {dg.AssetKey(["shop", "customers"])}


def test_materialising_a_selection_runs_only_its_sources_and_reports_per_target(
    shop: Path, instance: dg.DagsterInstance
) -> None:
    land(shop, "customers_1.csv", CUSTOMERS)
    land(shop, "orders_1.csv", ORDERS)

    first = materialise(shop, ["customers"], instance)

    assert list(first) == ["customers"]
    meta = first["customers"]
    assert meta["files_loaded"] == 1 and meta["rows_loaded"] == 2
    assert (meta["rows_quarantined"], meta["rows_rejected"]) == (1, 0)
    assert (meta["versions_opened"], meta["versions_closed"]) == (2, 0)
    assert len(str(meta["run_id"])) == 32
    assert (shop / "landing" / "orders_1.csv").exists()  # not its source: left for later

    land(shop, "customers_2.csv", CUSTOMERS_2)
    second = materialise(shop, ["customers"], instance)["customers"]
    # Ada unchanged, Alan's new address closes a version, Grace opens one.
    assert (second["versions_opened"], second["versions_closed"]) == (2, 1)
    assert (second["rows_loaded"], second["rows_unchanged"]) == (2, 1)
    assert second["run_id"] != meta["run_id"]

    both = materialise(shop, ["orders", "order_totals"], instance)
    assert set(both) == {"orders", "order_totals"}
    assert both["orders"]["rows_loaded"] == 2
    with duckdb.connect(str(shop / "warehouse.duckdb"), read_only=True) as con:
        totals = con.execute("SELECT customer_id, total FROM marts.order_totals ORDER BY 1")
        assert [(a, float(b)) for a, b in totals.fetchall()] == [(1, 5.0), (2, 7.5)]


def sensor_tick(
    sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None
) -> dg.SensorResult:
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def selected(result: dg.SensorResult) -> list[list[str]]:
    return [
        sorted(k.to_user_string() for k in request.asset_selection or [])
        for request in result.run_requests or []
    ]


def test_the_sensor_asks_once_per_stable_new_file_for_the_targets_it_feeds(
    shop: Path, instance: dg.DagsterInstance
) -> None:
    sensor = tidegate_sensor(shop)

    empty = sensor_tick(sensor, instance, None)
    assert selected(empty) == []

    land(shop, "customers_1.csv", CUSTOMERS)
    first = sensor_tick(sensor, instance, empty.cursor)
    assert selected(first) == [["customers"]]
    [request] = first.run_requests or []
    assert request.run_key

    again = sensor_tick(sensor, instance, first.cursor)  # nothing new: nothing asked
    assert selected(again) == []

    land(shop, "orders_1.csv", ORDERS)
    land(shop, "customers_1.csv", CUSTOMERS_2)  # same name, new content: a new delivery
    both = sensor_tick(sensor, instance, again.cursor)
    assert selected(both) == [["customers", "orders"]]

    land(shop, "stranger.txt", "?")  # matches no source: only a full run rejects it
    full = sensor_tick(sensor, instance, both.cursor)
    assert selected(full) == [["customers", "erasure_requests", "orders"]]
    assert set(json.loads(full.cursor or "{}")["files"]) == {
        "customers_1.csv",
        "orders_1.csv",
        "stranger.txt",
    }


def test_the_sensor_leaves_a_file_still_being_written_for_a_later_tick(
    shop: Path, instance: dg.DagsterInstance
) -> None:
    settle = (shop / "tidegate.yml").read_text().replace("settle_seconds: 0", "settle_seconds: 60")
    (shop / "tidegate.yml").write_text(settle)
    sensor = tidegate_sensor(shop)
    land(shop, "customers_1.csv", CUSTOMERS)  # written just now
    assert selected(sensor_tick(sensor, instance, None)) == []
    land(shop, "customers_1.csv", CUSTOMERS, age_seconds=120)  # quiet for two minutes
    assert selected(sensor_tick(sensor, instance, None)) == [["customers"]]


def run_checks(root: Path, instance: dg.DagsterInstance) -> dict[str, dg.AssetCheckEvaluation]:
    """Every check of the project, on its own (no asset materialised)."""
    [checks] = tidegate_checks(root)
    [assets] = tidegate_assets(root)
    result = dg.materialize(
        [assets, checks], selection=dg.AssetSelection.all_asset_checks(), instance=instance
    )
    assert result.get_asset_materialization_events() == []
    return {
        f"{e.asset_key.to_user_string()}:{e.check_name}": e
        for e in result.get_asset_check_evaluations()
    }


def test_the_contract_checks_pass_and_fail_with_the_reason(
    shop: Path, instance: dg.DagsterInstance
) -> None:
    land(shop, "customers_1.csv", CUSTOMERS)
    materialise(shop, ["customers"], instance)

    checks = run_checks(shop, instance)

    assert set(checks) == {
        "customers:reconciled",
        "customers:quarantine_rate",
        "customers:freshness",
        "orders:reconciled",
        "orders:quarantine_rate",
        "erasure_requests:reconciled",
        "erasure_requests:quarantine_rate",
        "erasure_requests:erasures_applied",
    }
    assert checks["customers:reconciled"].passed
    assert checks["customers:quarantine_rate"].passed  # 1 of 3, under 50%
    assert checks["customers:freshness"].passed

    # Two of three rows bad: over 50%, the file is rejected and the check says so.
    land(shop, "customers_2.csv", "id,name,email\n5,Eve,e@x\n6,,x\n7,Bob,bad\n")
    materialise(shop, ["customers"], instance)

    checks = run_checks(shop, instance)

    rate = checks["customers:quarantine_rate"]
    assert not rate.passed
    assert rate.metadata["files_over"].value == ["customers_2.csv"]
    assert checks["customers:reconciled"].passed
    assert checks["customers:freshness"].passed

    project = load_project(shop)
    with connect(project) as wh, wh.transaction():  # as if the last file came 3 hours ago
        old = utcnow() - timedelta(hours=3)
        wh.execute(sql_update(table("files", wh.schemas.meta), {"started_at": old}, lit(True)))

    fresh = run_checks(shop, instance)["customers:freshness"]
    assert not fresh.passed
    assert "source customers: no new file for 3h" in (fresh.description or "")


def test_erasure_requests_applied_is_checked_against_the_erasure_log(
    shop: Path, instance: dg.DagsterInstance
) -> None:
    land(shop, "customers_1.csv", CUSTOMERS)
    materialise(shop, ["customers"], instance)
    land(shop, "erase_1.csv", "id\n1\n")
    meta = materialise(shop, ["erasure_requests"], instance)["erasure_requests"]
    assert meta["files_loaded"] == 1

    check = run_checks(shop, instance)["erasure_requests:erasures_applied"]

    assert check.passed, check.description
    assert check.metadata["requests"].value == 1
    with duckdb.connect(str(shop / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT id FROM core.customers ORDER BY id").fetchall() == [(2,)]


def test_schedules_from_tidegate_yml(shop: Path) -> None:
    defs = definitions(shop)
    hourly = defs.resolve_schedule_def("customers_hourly")
    assert (hourly.cron_schedule, hourly.execution_timezone) == ("0 * * * *", "Europe/Zagreb")
    job = defs.resolve_job_def("customers_hourly_job")
    assert job.asset_layer.selected_asset_keys == {dg.AssetKey("customers")}
    daily = defs.resolve_schedule_def("orders_daily")
    assert daily.cron_schedule == "0 0 * * *"
    assert defs.resolve_job_def("orders_daily_job").asset_layer.selected_asset_keys == {
        dg.AssetKey("orders")
    }


def test_a_dagster_project_adds_a_tidegate_project_with_yaml_alone(shop: Path) -> None:
    with create_defs_folder_sandbox() as sandbox:
        defs_path = sandbox.scaffold_component(
            component_cls=TidegateProjectComponent, scaffold_params={"project": str(shop)}
        )
        written = (defs_path / "defs.yaml").read_text()
        assert "tidegate" in written and str(shop) in written
        with sandbox.load_component_and_build_defs(defs_path=defs_path) as (component, defs):
            assert isinstance(component, TidegateProjectComponent)
            keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
            assert keys == {"customers", "orders", "erasure_requests", "order_totals"}
            assert [s.name for s in defs.sensors or []] == ["tidegate_shop_landing"]


EXAMPLE_004 = Path(__file__).resolve().parents[2] / "examples" / "004-shop-events"


def test_example_004_definitions_reproduce_the_exercise_jobs_and_schedules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TIDEGATE_SECRET", "example-004-test-secret-0123456789")
    monkeypatch.setenv("TIDEGATE_VAULT_KEY", "example-004-test-vault-key-0123456789")
    namespace = runpy.run_path(str(EXAMPLE_004 / "definitions.py"))
    defs = namespace["defs"]
    assert isinstance(defs, dg.Definitions)

    def schedule(name: str) -> tuple[str, str | None, set[str]]:
        found = defs.resolve_schedule_def(name)
        job = defs.resolve_job_def(f"{name}_job")
        keys = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
        return found.cron_schedule, found.execution_timezone, keys

    zagreb = "Europe/Zagreb"
    assert schedule("customers") == ("0 * * * *", zagreb, {"customers"})
    assert schedule("transactions") == (
        "0 * * * *",
        zagreb,
        {"customers", "transactions", "delivery_addresses", "purchases"},
    )
    assert schedule("products") == ("0 0 * * *", zagreb, {"products"})
    assert schedule("erasure") == ("0 1 * * *", zagreb, {"erasure_requests"})
    assert all(s.default_status == dg.DefaultScheduleStatus.STOPPED for s in defs.schedules or [])
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey("purchases")).group_name == "transactions"
    assert graph.get(dg.AssetKey("revenue_by_day")).parent_keys == {dg.AssetKey("transactions")}


def test_the_public_api_of_tidegate_dagster_is_pinned() -> None:
    import tidegate.dagster

    assert tidegate.dagster.__all__ == [
        "TidegateProjectComponent",
        "TidegateTranslator",
        "definitions",
        "tidegate_assets",
        "tidegate_checks",
        "tidegate_schedules",
        "tidegate_sensor",
    ]


def test_a_schedule_naming_an_unknown_target_is_a_config_error(shop: Path) -> None:
    config = shop / "tidegate.yml"
    config.write_text(config.read_text().replace("targets: [orders]", "targets: [oders]"))
    with pytest.raises(
        ConfigError, match=r"schedules.orders_daily: no target or source named \['oders'\]"
    ):
        definitions(shop)
