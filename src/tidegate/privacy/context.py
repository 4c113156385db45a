"""One project's privacy settings, resolved once: the subject graph and the keys."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from sqlglot import exp

from tidegate.compute import local
from tidegate.config.models import ColumnSpec, Project, SourceConfig, TargetConfig
from tidegate.errors import ConfigError
from tidegate.privacy.keys import Keys
from tidegate.privacy.subjects import Graph
from tidegate.transform.types import cast


@dataclass(frozen=True)
class Privacy:
    project: Project

    @classmethod
    def of(cls, project: Project) -> Privacy:
        return cls(project)

    @property
    def targets(self) -> dict[str, TargetConfig]:
        return self.project.targets

    @cached_property
    def graph(self) -> Graph:
        return Graph(self.project.targets)

    @cached_property
    def active(self) -> bool:
        """Whether any target declares a pii column, a subject, or erasure requests."""
        return any(
            t.subject or t.load == "erase" or any(s.pii for s in t.columns.values())
            for t in self.project.targets.values()
        )

    @cached_property
    def keys(self) -> Keys | None:
        secret = self.project.config.privacy.secret
        return Keys.derive(secret) if secret else None

    def need_keys(self) -> Keys:
        if self.keys is None:
            raise ConfigError(
                "tidegate.yml",
                "privacy.secret is not set; set it from the environment:"
                " privacy: {secret: ${TIDEGATE_SECRET}}",
            )
        return self.keys

    @property
    def protect_raw(self) -> bool:
        return self.project.config.privacy.raw_pii == "protect"

    def touches(self, source: SourceConfig) -> bool:
        """Whether a source feeds a target with personal data."""
        return any(
            o.target in self.graph.bearing
            or o.target in self.graph.erase_targets
            or any(s.pii for s in self.targets[o.target].columns.values())
            for o in source.outputs
            if o.target in self.targets
        )


def canonical(spec: ColumnSpec, value: str) -> str:
    """``value`` as the column would hold it, as text: ``'067318'`` stays, ``007`` as an
    integer becomes ``7``. Raises ConfigError when it does not convert."""
    if spec.type in ("varchar", "text", "string"):
        return value
    query = exp.select(exp.cast(cast(exp.Literal.string(value), spec), "varchar"))
    con = local()
    try:
        rows = con.execute(query)
    finally:
        con.close()
    row = rows[0] if rows else None
    if row is None or row[0] is None:
        raise ConfigError("subject", f"the value given is not a valid {spec.type}")
    return str(row[0])
