"""Load a project folder into a validated ``Project``.

Every problem becomes a ``ConfigError`` that names the file and the line a user has to
edit. When several things are wrong, all of them are reported at once (one
``file:line: message`` per line) so that fixing a project is not a loop of one error per run.

    >>> project = load_project(Path("my_project"))  # doctest: +SKIP
    >>> sorted(project.targets)  # doctest: +SKIP
    ['prospective_orgs']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from tidegate.config.api import api_match
from tidegate.config.checks import source_problems, sql_problem, target_problems
from tidegate.config.document import Document, YamlPath, parse_yaml, read_text
from tidegate.config.inputs import PROJECT_FILES, YAML_SUFFIXES, digest
from tidegate.config.models import IDENTIFIER, Project, ProjectConfig, SourceConfig, TargetConfig
from tidegate.config.parsed import Parsed
from tidegate.config.privacy import privacy_problems
from tidegate.config.variables import environment, read_document
from tidegate.config.wording import validate
from tidegate.errors import ConfigError

__all__ = ["json_schema", "load_project", "locate", "yaml_lines"]

ModelT = TypeVar("ModelT", bound=BaseModel)

PROJECT_FILE = PROJECT_FILES[0]


def _yaml_files(folder: Path, kind: str) -> dict[str, Path]:
    """``name -> file`` for every ``*.yml``/``*.yaml`` file; names must be identifiers."""
    files: dict[str, Path] = {}
    if not folder.is_dir():
        return files
    for file in sorted(p for p in folder.iterdir() if p.suffix in YAML_SUFFIXES):
        _check_name(file, kind)
        if file.stem in files:
            raise ConfigError(file, f"{kind} {file.stem!r} is also defined in {files[file.stem]}")
        files[file.stem] = file
    return files


def _check_name(file: Path, kind: str) -> None:
    if not IDENTIFIER.match(file.stem):
        raise ConfigError(
            file,
            f"{kind} name {file.stem!r} (the file name) must be an identifier: letters, digits"
            " and underscores, not starting with a digit; rename the file",
        )


def _read_models(folder: Path) -> dict[str, str]:
    if not folder.is_dir():
        return {}
    models: dict[str, str] = {}
    for file in sorted(folder.glob("*.sql")):
        _check_name(file, "model")
        models[file.stem] = read_text(file)
    return models


def _project_file(root: Path) -> Path:
    for name in PROJECT_FILES:
        if (root / name).is_file():
            return root / name
    raise ConfigError(
        root / PROJECT_FILE,
        f"no {PROJECT_FILE} in {root}: this is not a tidegate project; run `tidegate init`"
        " to create one, or point to the project folder",
    )


def _collect(
    files: Mapping[str, Path],
    model: type[ModelT],
    env: Mapping[str, str],
    failures: list[ConfigError],
) -> dict[str, tuple[Document, ModelT]]:
    """Read and validate each file, going on after a failure so that all are reported."""
    loaded: dict[str, tuple[Document, ModelT]] = {}
    for name, file in files.items():
        try:
            document = read_document(file, env)
            loaded[name] = document, validate(document, model)
        except ConfigError as exc:
            failures.append(exc)
    return loaded


def _combine(failures: list[ConfigError]) -> ConfigError:
    first, rest = failures[0], failures[1:]
    return ConfigError(first.path, "\n".join([first.message, *map(str, rest)]), first.line)


def load_project(root: Path) -> Project:
    """Read and validate every file of the project in ``root``.

    Raises ``ConfigError`` naming the file and line of the first problem; its message
    lists every problem found, one ``file:line: message`` per line.
    """
    root = Path(root)
    loaded_from = digest(root)  # before reading: a file changed meanwhile is a new digest
    env = environment(root)
    failures: list[ConfigError] = []
    project_file = _project_file(root)
    config = _collect({PROJECT_FILE: project_file}, ProjectConfig, env, failures)
    targets = _collect(_yaml_files(root / "targets", "target"), TargetConfig, env, failures)
    sources = _collect(_yaml_files(root / "sources", "source"), SourceConfig, env, failures)
    models = _read_models(root / "models")
    if failures:
        raise _combine(failures)

    target_models = {name: target for name, (_, target) in targets.items()}
    document, project_config = config[PROJECT_FILE]
    if problems := privacy_problems(project_config.privacy, target_models):
        failures.append(document.error(problems))
    parsed = Parsed(root, sql_problem)
    for name, (document, target) in targets.items():
        if problems := target_problems(name, target, target_models, parsed.problem):
            failures.append(document.error(problems))
    for document, source in sources.values():
        if problems := source_problems(source, target_models, parsed.problem):
            failures.append(document.error(problems))
    if failures:
        raise _combine(failures)
    parsed.keep()

    return Project(
        root=root,
        config=config[PROJECT_FILE][1],
        targets=target_models,
        sources={name: routed(name, source) for name, (_, source) in sources.items()},
        models=models,
        inputs=loaded_from,
    )


def routed(name: str, source: SourceConfig) -> SourceConfig:
    """An ``api:`` source without ``match`` takes the files its pulls land."""
    if source.api is None or source.match is not None:
        return source
    return source.model_copy(update={"match": api_match(name)})


def json_schema() -> dict[str, dict[str, Any]]:
    """JSON Schemas of the three kinds of project file, keyed by the files they describe.

    Editors use them for completion and inline errors, e.g. with the YAML language server:
    ``# yaml-language-server: $schema=target.schema.json`` at the top of a target file.
    """
    return {
        PROJECT_FILE: ProjectConfig.model_json_schema(),
        "targets/*.yml": TargetConfig.model_json_schema(),
        "sources/*.yml": SourceConfig.model_json_schema(),
    }


def locate(root: Path, folder: str, name: str, path: YamlPath) -> tuple[Path, int]:
    """The file of ``<folder>/<name>.yml`` in a project and the line of ``path`` in it,
    so that an error met while running an expression can point at where it was written.

    ``locate(root, "sources", "people", ("outputs", 0, "columns", "id"))``
    """
    file = _yaml_files(root / folder, folder.rstrip("s")).get(name, root / folder / f"{name}.yml")
    try:
        return file, parse_yaml(file).line(path)
    except ConfigError:  # changed or removed since the project was loaded
        return file, 1


def yaml_lines(file: Path) -> Callable[[YamlPath], int]:
    """The line of a location (its keys and list indexes from the root) in a project file,
    for problems found after loading it, as ``tidegate check`` finds them."""
    return parse_yaml(file).line
