"""Where files live: a local folder or any fsspec URL, behind one ``Store`` protocol.

    >>> from pathlib import Path
    >>> is_url("s3://bucket/landing/"), is_url("landing"), is_url("C:/in")
    (True, False, False)

``landing``, ``archive`` and ``rejected`` are each a folder (relative to the project or
absolute) or a URL; ``storage:`` holds the fsspec options for the URLs. S3 credentials
also come from the AWS environment variables (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_ENDPOINT_URL``, ``AWS_REGION``),
read from the environment first and the project's ``.env`` second.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from tidegate.config.redact import URL_SCHEME
from tidegate.store.base import Entry, Store
from tidegate.store.local import LocalStore

if TYPE_CHECKING:
    from tidegate.config.models import Project

__all__ = [
    "Entry",
    "LocalStore",
    "Store",
    "is_url",
    "known_scheme",
    "locate",
    "open_store",
    "project_store",
]

# option name -> the AWS variables that give it, first found wins
AWS_VARIABLES: dict[str, tuple[str, ...]] = {
    "key": ("AWS_ACCESS_KEY_ID",),
    "secret": ("AWS_SECRET_ACCESS_KEY",),
    "token": ("AWS_SESSION_TOKEN",),
    "endpoint_url": ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
}
AWS_REGION = ("AWS_REGION", "AWS_DEFAULT_REGION")
S3_SCHEMES = ("s3", "s3a")


def is_url(location: str) -> bool:
    return URL_SCHEME.match(location) is not None


def scheme_of(location: str) -> str:
    match = URL_SCHEME.match(location)
    return match.group(1).lower() if match else ""


def known_scheme(scheme: str) -> bool:
    """A scheme fsspec has a filesystem for (its package may still need installing)."""
    from fsspec.registry import known_implementations, registry

    return scheme in known_implementations or scheme in registry


def _local(location: str, root: Path) -> Path:
    if scheme_of(location) == "file":
        return Path(unquote(urlsplit(location).path))
    path = Path(location)
    return path if path.is_absolute() else root / path


def open_store(
    location: str,
    *,
    root: Path,
    setting: str = "store",
    storage: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Store:
    """The store at a folder setting's value: local for a path or ``file://``, else fsspec."""
    if not is_url(location) or scheme_of(location) == "file":
        return LocalStore(_local(location, root), setting)
    from tidegate.store.fsspec import FsspecStore, secret_values

    options = fsspec_options(scheme_of(location), storage or {}, env or os.environ)
    return FsspecStore(location, options, setting, secret_values(options))


def fsspec_options(
    scheme: str, storage: Mapping[str, Any], env: Mapping[str, str]
) -> dict[str, Any]:
    """``storage:`` as given, and for S3 the AWS variables it does not override."""
    options = dict(storage)
    if scheme not in S3_SCHEMES:
        return options
    for option, names in AWS_VARIABLES.items():
        value = next((env[n] for n in names if env.get(n)), None)
        if value and option not in options:
            options[option] = value
    region = next((env[n] for n in AWS_REGION if env.get(n)), None)
    if region and "client_kwargs" not in options:
        options["client_kwargs"] = {"region_name": region}
    return options


def environment(root: Path) -> dict[str, str]:
    """The project's ``.env``, overridden by the real environment where it sets a value
    (an empty variable is no credential). python-dotenv is imported only for a project
    that has the file."""
    dotenv = root / ".env"
    values: dict[str, str | None] = {}
    if dotenv.is_file():
        from dotenv import dotenv_values

        values = dict(dotenv_values(dotenv))
    merged = {k: v for k, v in values.items() if v is not None}
    merged.update({k: v for k, v in os.environ.items() if v})
    return merged


def project_store(project: Project, setting: str) -> Store:
    """The store of ``landing``, ``archive`` or ``rejected``."""
    location = str(getattr(project.config, setting))
    return open_store(
        location,
        root=project.root,
        setting=setting,
        storage=project.config.storage,
        env=environment(project.root),
    )


def locate(project: Project, stored: str) -> tuple[Store, str]:
    """The store and key of a path or URL the ledger recorded (an archived file)."""
    if not is_url(stored) or scheme_of(stored) == "file":
        path = _local(stored, project.root)
        return LocalStore(path.parent, "archive"), path.name
    folder, _, name = stored.rstrip("/").rpartition("/")
    store = open_store(
        folder,
        root=project.root,
        setting="archive",
        storage=project.config.storage,
        env=environment(project.root),
    )
    return store, name
