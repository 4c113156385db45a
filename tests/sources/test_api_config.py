"""The api: block of a source file: its model, its errors, and where its files route."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidegate.config import load_project
from tidegate.discover.landing import LandingFile
from tidegate.discover.routing import route
from tidegate.errors import ConfigError
from tidegate.sources.http import retry_after, safe_url

TARGET = "columns:\n  id: {type: varchar}\n"


def project(tmp_path: Path, source: str, env: str = "") -> Path:
    root = tmp_path / "p"
    (root / "targets").mkdir(parents=True)
    (root / "sources").mkdir()
    (root / "tidegate.yml").write_text("settle_seconds: 0\n")
    (root / "targets" / "cars.yml").write_text(TARGET)
    (root / "sources" / "cars.yml").write_text(source)
    if env:
        (root / ".env").write_text(env)
    return root


OUTPUTS = "outputs:\n  - target: cars\n    columns: {id: id}\n"


def test_an_api_source_routes_the_files_its_pulls_land(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        "api:\n  url: ${CARS_API}/cars\n  headers: {Authorization: 'Bearer ${CARS_TOKEN}'}\n"
        "  params: {limit: 500}\n  paginate: {type: page, param: page}\n" + OUTPUTS,
        env="CARS_API=http://127.0.0.1:1\nCARS_TOKEN=tok-do-not-print\n",
    )
    loaded = load_project(root)
    cars = loaded.sources["cars"]
    assert cars.globs == ["api/cars/*.jsonl"]
    assert cars.api is not None and cars.api.params == {"limit": "500"}
    assert "do-not-print" not in repr(cars)
    file = LandingFile(Path("x"), "api/cars/cars-abc-00001.jsonl", 1, 0.0, "0" * 64)
    assert route(file, loaded.sources, lambda f, s: []) == "cars"


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("  url: http://h/x\n  paginate: {type: offset, param: offset}\n", "needs 'limit'"),
        ("  url: http://h/x\n  paginate: {type: cursor, param: c}\n", "needs 'next'"),
        ("  url: http://h/x\n  pagination: {type: page}\n", "pagination"),
        ("  url: http://h/x\n  records: 'data..items'\n", "expected a dotted path"),
        ("  url: file:///etc/passwd\n", "expected an http:// or https:// URL with a host"),
        ("  url: http://h/x\n  retry: {attempts: 0}\n", "attempts"),
    ],
)
def test_a_wrong_api_block_is_a_config_error_at_its_line(
    tmp_path: Path, block: str, message: str
) -> None:
    root = project(tmp_path, "api:\n" + block + OUTPUTS)
    with pytest.raises(ConfigError) as caught:
        load_project(root)
    assert "cars.yml:" in str(caught.value)
    assert message in str(caught.value)


def test_a_source_needs_match_or_api(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="a source needs 'match'"):
        load_project(project(tmp_path, OUTPUTS))


def test_a_wrong_header_value_is_not_shown(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        "api:\n  url: http://h/x\n  headers: {Authorization: [tok-do-not-print]}\n" + OUTPUTS,
    )
    with pytest.raises(ConfigError) as caught:
        load_project(root)
    assert "do-not-print" not in str(caught.value)


def test_a_url_is_shown_without_its_userinfo_or_query() -> None:
    assert safe_url("https://u:pw@api.example.org:8443/v1/cars?key=k#x") == (
        "https://api.example.org:8443/v1/cars"
    )


def test_retry_after_takes_seconds_or_a_date() -> None:
    from datetime import datetime

    now = datetime(2024, 1, 1)
    assert retry_after("7", now) == 7.0
    assert retry_after("Mon, 01 Jan 2024 00:00:30 GMT", now) == 30.0
    assert retry_after("soon", now) is None
