"""tidegate in Dagster: one asset per target, a landing sensor, checks from the contract.

    from tidegate.dagster import definitions
    defs = definitions("path/to/project")          # assets, sensor, checks, schedules

or, piece by piece, ``tidegate_assets``, ``tidegate_sensor``, ``tidegate_checks`` and
``tidegate_schedules``; or, in a ``dg`` project, the ``TidegateProjectComponent`` with YAML
alone (``dg scaffold defs tidegate.dagster.TidegateProjectComponent NAME --project ...``).

Materialising a selection of targets runs tidegate for the sources that feed them, and only
those (their SQL models are rebuilt by the same run); each asset reports the run's files
and rows for its target. The sensor asks for a run when stable new files sit in landing
(or an API source is due); it keeps what it asked for in its cursor and never waits.
"""

import hashlib
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetCheckExecutionContext, AssetExecutionContext, SensorEvaluationContext
from sqlglot import exp

from tidegate.clock import utcnow
from tidegate.config import load_project
from tidegate.config.models import Project, TargetConfig
from tidegate.discover.landing import describe, entries
from tidegate.discover.routing import route
from tidegate.errors import ConfigError, RoutingError
from tidegate.integrations import targets as per_target
from tidegate.notify.stale import expect_every, last_deliveries
from tidegate.pipeline import RunResult, run
from tidegate.read import peek_columns
from tidegate.sql_models import parse_model
from tidegate.store import project_store
from tidegate.store.spool import Spool
from tidegate.warehouse import connect, ledger

__all__ = [
    "TidegateProjectComponent",
    "TidegateTranslator",
    "definitions",
    "tidegate_assets",
    "tidegate_checks",
    "tidegate_schedules",
    "tidegate_sensor",
]

CHECKS = ("reconciled", "quarantine_rate", "freshness", "erasures_applied")
PathLike = str | Path


class TidegateTranslator:
    """How targets and models become Dagster assets; override any method.

    >>> TidegateTranslator().target_key("customers")
    AssetKey(['customers'])
    """

    def target_key(self, name: str) -> dg.AssetKey:
        return dg.AssetKey([name])

    def model_key(self, name: str) -> dg.AssetKey:
        return dg.AssetKey([name])

    def group_name(self, project: Project, target: str) -> str:
        """The feeding source's name; several sources: their names joined by '_'."""
        return "_".join(per_target.sources_of(project, target)) or "tidegate"

    def target_spec(self, project: Project, name: str) -> dg.AssetSpec:
        target = project.targets[name]
        deps = [self.target_key(r.target) for r in target.references if r.target != name]
        return dg.AssetSpec(
            key=self.target_key(name),
            deps=deps,
            group_name=self.group_name(project, name),
            description=_describe_target(name, target),
            kinds={"tidegate", project.config.warehouse.type},
            metadata={
                "load": target.load,
                "key": ", ".join(target.key) or "-",
                "sources": ", ".join(per_target.sources_of(project, name)) or "-",
            },
        )

    def model_spec(self, project: Project, name: str) -> dg.AssetSpec:
        tree = parse_model(name, project.models[name])
        read = {t.name for t in tree.find_all(exp.Table)}
        deps = [self.target_key(t) for t in sorted(read & set(project.targets))]
        deps += [self.model_key(m) for m in sorted(read & set(project.models)) if m != name]
        return dg.AssetSpec(
            key=self.model_key(name),
            deps=deps,
            group_name="models",
            description=f"The view {project.config.warehouse.schemas.models}.{name} "
            f"(models/{name}.sql), rebuilt by every run.",
            kinds={"tidegate", "sql"},
        )


def _describe_target(name: str, target: TargetConfig) -> str:
    columns = ", ".join(target.columns)
    return f"tidegate target {name} ({target.load}): {columns}"


@dataclass(frozen=True)
class _Layout:
    """The project and the asset key of every target and model."""

    root: Path
    project: Project
    translator: TidegateTranslator

    @property
    def target_keys(self) -> dict[str, dg.AssetKey]:
        return {name: self.translator.target_key(name) for name in sorted(self.project.targets)}

    @property
    def model_keys(self) -> dict[str, dg.AssetKey]:
        return {name: self.translator.model_key(name) for name in sorted(self.project.models)}

    def reload(self) -> Project:
        """The project as it is now on disk (its YAML may have changed since loading)."""
        return load_project(self.root)


def _layout(project_dir: PathLike, translator: TidegateTranslator | None) -> _Layout:
    root = Path(project_dir).resolve()
    layout = _Layout(root, load_project(root), translator or TidegateTranslator())
    keys = [*layout.target_keys.values(), *layout.model_keys.values()]
    if len(set(keys)) != len(keys):
        raise ConfigError(root, "a target and a model have the same asset key; rename one")
    return layout


def _name(root: Path) -> str:
    cleaned = "".join(c if c.isalnum() else "_" for c in root.name).strip("_").lower()
    return cleaned if cleaned and not cleaned[0].isdigit() else f"p_{cleaned}"


# --------------------------------------------------------------------------- assets


def tidegate_assets(
    project_dir: PathLike, translator: TidegateTranslator | None = None
) -> list[dg.AssetsDefinition]:
    """One asset per target and per SQL model, in one subsettable multi-asset."""
    return [_assets(_layout(project_dir, translator))]


def _assets(layout: _Layout) -> dg.AssetsDefinition:
    project = layout.project
    specs = [layout.translator.target_spec(project, n) for n in layout.target_keys]
    specs += [layout.translator.model_spec(project, n) for n in layout.model_keys]

    @dg.multi_asset(specs=specs, can_subset=True, name=f"tidegate_{_name(layout.root)}")
    def _tidegate(context: AssetExecutionContext) -> Iterator[dg.MaterializeResult[Any]]:
        yield from _materialise(context, layout)

    return _tidegate


def _materialise(
    context: dg.AssetExecutionContext, layout: _Layout
) -> Iterator[dg.MaterializeResult[Any]]:
    project = layout.reload()
    selected = context.selected_asset_keys
    targets = [t for t, key in layout.target_keys.items() if key in selected]
    sources = per_target.sources_for(project, targets)
    everything = set(targets) >= set(project.targets)
    with connect(project) as wh:
        ledger.ensure(wh)
        before = per_target.current_versions(wh, project, targets)
    context.log.info(f"tidegate run of {sorted(sources) if not everything else 'every source'}")
    result = run(project, sources=None if everything else sources)
    for delivery in result.notifications:
        if not delivery.get("delivered"):
            context.log.warning(f"notification not delivered: {delivery}")
    with connect(project) as wh:
        summaries = per_target.summarise(wh, project, result, targets, before)
    for name in targets:
        summary = summaries[name]
        for error in summary.errors[:20]:
            context.log.warning(error)
        yield dg.MaterializeResult(asset_key=layout.target_keys[name], metadata=summary.metadata())
    for key in layout.model_keys.values():
        if key in selected:
            yield dg.MaterializeResult(asset_key=key, metadata={"run_id": result.run_id})
    _raise_on_failed(result)


def _raise_on_failed(result: RunResult) -> None:
    """Files that failed (not rejected: those are done) stay in landing; the step fails so
    the orchestrator shows it and a retry takes them."""
    failed = [f for f in result.files if f.status == "failed"]
    if failed:
        lines = [f"{f.path}: {f.error}" for f in failed[:10]]
        raise dg.Failure(
            description=f"{len(failed)} files failed and stay in landing:\n" + "\n".join(lines),
            metadata={"run_id": result.run_id, "files_failed": len(failed)},
        )


# --------------------------------------------------------------------------- checks


def tidegate_checks(
    project_dir: PathLike, translator: TidegateTranslator | None = None
) -> list[dg.AssetChecksDefinition]:
    """The contract's checks of every target, read from the ledger and the warehouse:
    ``reconciled`` and ``quarantine_rate`` (the last run), ``freshness`` (for targets whose
    sources have an ``expect_every``), ``erasures_applied`` (``load: erase`` targets)."""
    return [_checks(_layout(project_dir, translator))]


def _check_names(project: Project, target: str) -> list[str]:
    names = ["reconciled", "quarantine_rate"]
    feeding = [project.sources[s] for s in per_target.sources_of(project, target)]
    if any(expect_every(project, s) is not None for s in feeding):
        names.append("freshness")
    if project.targets[target].load == "erase":
        names.append("erasures_applied")
    return names


_DESCRIPTIONS = {
    "reconciled": "Every file of the last run: read = loaded + unchanged + quarantined + duplicate.",
    "quarantine_rate": "No file of the last run quarantined more than reject_file_over.",
    "freshness": "The newest file of each source is younger than its expect_every.",
    "erasures_applied": "Every erasure request loaded is in the erasure log.",
}


def _checks(layout: _Layout) -> dg.AssetChecksDefinition:
    project = layout.project
    specs = [
        dg.AssetCheckSpec(name, asset=key, description=_DESCRIPTIONS[name])
        for target, key in layout.target_keys.items()
        for name in _check_names(project, target)
    ]
    by_key = {key: target for target, key in layout.target_keys.items()}

    @dg.multi_asset_check(
        specs=specs, can_subset=True, name=f"tidegate_{_name(layout.root)}_checks"
    )
    def _contract(context: AssetCheckExecutionContext) -> Iterator[dg.AssetCheckResult]:
        current = layout.reload()
        with connect(current) as wh:
            ledger.ensure(wh)
            for check_key in sorted(context.selected_asset_check_keys, key=str):
                target = by_key[check_key.asset_key]
                outcome = getattr(per_target, check_key.name)(wh, current, target)
                yield dg.AssetCheckResult(
                    asset_key=check_key.asset_key,
                    check_name=check_key.name,
                    passed=outcome.passed,
                    description=outcome.description,
                    metadata=_jsonable(outcome.metadata),
                )

    return _contract


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    """Lists become JSON metadata; scalars stay as they are."""
    return {k: dg.MetadataValue.json(v) if isinstance(v, list) else v for k, v in values.items()}


# --------------------------------------------------------------------------- the sensor


def tidegate_sensor(
    project_dir: PathLike,
    translator: TidegateTranslator | None = None,
    *,
    name: str | None = None,
    minimum_interval_seconds: int = 30,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """Requests a run of the targets fed by stable new files in landing, or by an API source
    that is due. Its cursor holds every file (path and content hash) it asked for that is
    still in landing, so no file is asked for twice; a tick never sleeps: a file changed
    within ``settle_seconds`` is left for a later tick."""
    layout = _layout(project_dir, translator)
    assets = _assets(layout)

    @dg.sensor(
        name=name or f"tidegate_{_name(layout.root)}_landing",
        minimum_interval_seconds=minimum_interval_seconds,
        asset_selection=dg.AssetSelection.assets(assets),
        default_status=default_status,
        description=f"New files in {layout.project.path('landing')}",
    )
    def _landing(context: SensorEvaluationContext) -> dg.SensorResult:
        return landing_tick(layout, context.cursor)

    return _landing


def landing_tick(layout: _Layout, cursor: str | None) -> dg.SensorResult:
    project = layout.reload()
    state = json.loads(cursor) if cursor else {}
    asked: dict[str, str] = state.get("files", {})
    present, new_sources, unrouted = _new_files(project, asked)
    due = _due_api_sources(project, state.get("api", {}))
    targets = per_target.targets_of(project, new_sources | set(due))
    if unrouted:  # only a full run rejects a file that matches no source
        targets = set(project.targets)
    cursor_out = {"files": present, "api": {**state.get("api", {}), **due}}
    new = sorted(set(present) - set(asked))
    if not targets:
        return dg.SensorResult(run_requests=[], cursor=json.dumps(cursor_out, sort_keys=True))
    run_key = hashlib.sha256(json.dumps([new, sorted(due.items())]).encode()).hexdigest()[:32]
    request = dg.RunRequest(
        run_key=run_key,
        asset_selection=[layout.target_keys[t] for t in sorted(targets)],
        tags={"tidegate/files": str(len(new)), "tidegate/project": layout.root.name},
    )
    return dg.SensorResult(run_requests=[request], cursor=json.dumps(cursor_out, sort_keys=True))


def _new_files(project: Project, asked: Mapping[str, str]) -> tuple[dict[str, str], set[str], bool]:
    """Stable files in landing (a folder or a bucket): {key: content hash} of all of them
    (the next cursor), the sources of those not asked for yet, and whether one of those
    matches no source. An object is downloaded once, when it is new, to hash and route it."""
    store = project_store(project, "landing")
    spool = Spool(project.root / ".tidegate" / "spool")
    now = time.time()
    present: dict[str, str] = {}
    sources: set[str] = set()
    unrouted = False
    try:
        for entry in entries(store):
            if now - entry.mtime < project.config.settle_seconds:
                continue  # may still be written; a later tick takes it
            known = asked.get(entry.key)
            if known and known.endswith(f":{entry.size}:{entry.mtime}"):
                present[entry.key] = known  # unchanged since we asked: no need to hash it again
                continue
            try:
                file = describe(store, entry, spool)
            except FileNotFoundError:
                continue  # taken by a run since it was listed
            present[entry.key] = f"{file.sha256}:{entry.size}:{entry.mtime}"
            if known and known.split(":")[0] == file.sha256:
                continue
            try:
                sources.add(route(file, project.sources, _peek))
            except RoutingError:
                unrouted = True
    finally:
        spool.close()
    return present, sources, unrouted


def _peek(file: Any, source: Any) -> list[str]:
    return peek_columns(file.path, source.read, source.format)


def _due_api_sources(project: Project, asked: Mapping[str, str]) -> dict[str, str]:
    """API sources whose newest file is older than their ``expect_every`` and that were not
    asked for within it: {source: when asked}."""
    api_sources = {n: s for n, s in project.sources.items() if getattr(s, "api", None) is not None}
    if not api_sources:
        return {}
    now = utcnow()
    with connect(project) as wh:
        ledger.ensure(wh)
        newest = last_deliveries(wh)
    due = {}
    for name, source in api_sources.items():
        every = expect_every(project, source)
        last_asked = asked.get(name)
        if every is None or (last_asked and now - _parse(last_asked) < every):
            continue
        if name not in newest or now - newest[name] >= every:
            due[name] = now.isoformat()
    return due


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --------------------------------------------------------------------------- schedules


def tidegate_schedules(
    project_dir: PathLike, translator: TidegateTranslator | None = None
) -> list[dg.ScheduleDefinition]:
    """The ``schedules:`` of tidegate.yml, each a job over its targets' assets."""
    layout = _layout(project_dir, translator)
    return _schedules(layout, _assets(layout))


def _schedules(layout: _Layout, assets: dg.AssetsDefinition) -> list[dg.ScheduleDefinition]:
    project = layout.project
    out = []
    for name, schedule in project.config.schedules.items():
        targets = _schedule_targets(project, name, schedule.targets, schedule.sources)
        job = dg.define_asset_job(
            f"{name}_job",
            selection=dg.AssetSelection.assets(*[layout.target_keys[t] for t in targets]),
            description=f"tidegate: {', '.join(targets)}",
        )
        out.append(
            dg.ScheduleDefinition(
                name=name,
                job=job,
                cron_schedule=schedule.cron,
                execution_timezone=schedule.timezone,
                default_status=dg.DefaultScheduleStatus.RUNNING
                if schedule.running
                else dg.DefaultScheduleStatus.STOPPED,
            )
        )
    return out


def _schedule_targets(
    project: Project, name: str, targets: Sequence[str] | None, sources: Sequence[str] | None
) -> list[str]:
    where = f"tidegate.yml: schedules.{name}"
    unknown = [t for t in targets or [] if t not in project.targets]
    unknown += [s for s in sources or [] if s not in project.sources]
    if unknown:
        raise ConfigError(where, f"no target or source named {unknown}")
    chosen = set(targets or []) | per_target.targets_of(project, sources or [])
    return sorted(chosen) if targets is not None or sources is not None else sorted(project.targets)


# --------------------------------------------------------------------------- everything


def definitions(
    project_dir: PathLike,
    translator: TidegateTranslator | None = None,
    *,
    sensor: bool = True,
    checks: bool = True,
    schedules: bool = True,
) -> dg.Definitions:
    """A ready ``Definitions``: the assets, the landing sensor, the checks and the schedules
    declared in tidegate.yml."""
    layout = _layout(project_dir, translator)
    assets = _assets(layout)
    return dg.Definitions(
        assets=[assets],
        asset_checks=[_checks(layout)] if checks else [],
        sensors=[tidegate_sensor(layout.root, translator)] if sensor else [],
        schedules=_schedules(layout, assets) if schedules else [],
    )


class TidegateScaffolder(dg.Scaffolder[Any]):
    """``dg scaffold defs tidegate.dagster.TidegateProjectComponent NAME``: a defs.yaml that
    points at a tidegate project (``--project PATH``, default: the new folder itself)."""

    def scaffold(self, request: dg.ScaffoldRequest[Any]) -> None:
        params = request.params
        project = getattr(params, "project", None) if params is not None else None
        dg.scaffold_component(request, {"project": project or "."})

    @classmethod
    def get_scaffold_params(cls) -> type[Any]:
        return ScaffoldParams


class ScaffoldParams(dg.Model):
    project: str | None = None


@dg.scaffold_with(TidegateScaffolder)
class TidegateProjectComponent(dg.Component, dg.Model, dg.Resolvable):
    """A tidegate project in a Dagster project, with YAML alone::

    type: tidegate.dagster.TidegateProjectComponent
    attributes:
      project: ../../../tidegate        # relative to this defs.yaml
      sensor: true
    """

    project: str = "."
    sensor: bool = True
    checks: bool = True
    schedules: bool = True

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        root = Path(self.project)
        root = root if root.is_absolute() else context.path / root
        return definitions(root, sensor=self.sensor, checks=self.checks, schedules=self.schedules)
