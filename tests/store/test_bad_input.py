"""Stores that cannot be used: one line naming the setting, exit code 2, no secret shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.pipeline.conftest import PEOPLE_SOURCE, PEOPLE_TARGET, people_csv, tidegate

from tidegate.config import load_project
from tidegate.errors import ConfigError

from .conftest import new_bucket

PROJECT = "warehouse: {type: duckdb, path: warehouse.duckdb}\nsettle_seconds: 0\n"
SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"


def project(root: Path, lines: str) -> Path:
    files = {
        "tidegate.yml": PROJECT + lines,
        "targets/people.yml": PEOPLE_TARGET,
        "sources/people.yml": PEOPLE_SOURCE,
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def everything_shown(root: Path, *outputs: str) -> str:
    logs = root / ".tidegate" / "logs"
    logged = [p.read_text() for p in logs.glob("*")] if logs.is_dir() else []
    return "\n".join([*outputs, *logged])


@pytest.mark.parametrize("setting", ["landing", "archive", "rejected"])
def test_an_unknown_scheme_is_refused_naming_the_setting(tmp_path: Path, setting: str) -> None:
    project(tmp_path, f"{setting}: nosuch://bucket/{setting}/\n")

    with pytest.raises(ConfigError) as caught:
        load_project(tmp_path)
    assert (caught.value.path.name, caught.value.line) == ("tidegate.yml", 3)
    assert caught.value.message.startswith(f"{setting}: unknown scheme nosuch://")

    done = tidegate(tmp_path, "run")
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert f"tidegate.yml:3: {setting}: unknown scheme nosuch://" in line


def test_a_missing_bucket_is_one_line_and_exit_2(tmp_path: Path, s3_env: dict[str, str]) -> None:
    root = project(
        tmp_path,
        "landing: s3://no-such-bucket-here/landing/\nstorage: {endpoint_url: '${S3_ENDPOINT}'}\n",
    )

    done = tidegate(root, "run", env={"AWS_SECRET_ACCESS_KEY": SECRET})

    assert done.returncode == 2, done.stdout + done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "landing: s3://no-such-bucket-here/landing/: the bucket 'no-such-bucket-here'" in line
    assert SECRET not in everything_shown(root, done.stdout, done.stderr)


def test_a_missing_archive_bucket_stops_before_any_file_is_taken(
    tmp_path: Path, bucket: str
) -> None:
    root = project(
        tmp_path,
        f"landing: s3://{bucket}/landing/\narchive: s3://gone-bucket/archive/\n"
        "storage: {endpoint_url: '${S3_ENDPOINT}'}\n",
    )
    from .conftest import Place

    place = Place("s3", root, bucket)
    place.land("people_1.csv", people_csv(("1", "Ada", "ada@example.org", "12/10/1815")))

    done = tidegate(root, "run")

    assert done.returncode == 2, done.stdout + done.stderr
    assert "archive: s3://gone-bucket/archive/: the bucket 'gone-bucket' does not exist" in (
        done.stderr
    )
    assert list(place.folder("landing")) == ["people_1.csv"]


@pytest.mark.parametrize("where", ["environment", "storage", "dotenv"])
@pytest.mark.parametrize("debug", [False, True])
def test_refused_credentials_are_one_line_exit_2_and_never_shown(
    tmp_path: Path, s3_strict_server: str, where: str, debug: bool
) -> None:
    lines = "landing: s3://some-bucket/landing/\n"
    env = {"S3_ENDPOINT": s3_strict_server, "AWS_ACCESS_KEY_ID": "AKIAUNKNOWNKEY0000001"}
    if where == "environment":
        env["AWS_SECRET_ACCESS_KEY"] = SECRET
        lines += "storage: {endpoint_url: '${S3_ENDPOINT}'}\n"
    elif where == "storage":
        env["S3_SECRET"] = SECRET
        env["AWS_SECRET_ACCESS_KEY"] = ""
        lines += "storage: {endpoint_url: '${S3_ENDPOINT}', secret: '${S3_SECRET}'}\n"
    else:
        env["AWS_SECRET_ACCESS_KEY"] = ""
        env["AWS_ENDPOINT_URL"] = ""
        (tmp_path / ".env").write_text(
            f"AWS_SECRET_ACCESS_KEY={SECRET}\nAWS_ENDPOINT_URL={s3_strict_server}\n"
        )
    root = project(tmp_path, lines)

    done = tidegate(root, *(["--debug"] if debug else []), "run", env=env)

    assert done.returncode == 2, done.stdout + done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: landing: s3://some-bucket/landing/: the store refused the")
    if not debug:
        assert len(done.stderr.strip().splitlines()) == 1
    assert SECRET not in everything_shown(root, done.stdout, done.stderr)


def test_credentials_and_endpoint_from_dotenv_load_a_file(tmp_path: Path, s3_server: str) -> None:
    """No option and no variable in the environment: the project's .env is enough."""
    bucket = new_bucket(s3_server)
    (tmp_path / ".env").write_text(
        f"AWS_ACCESS_KEY_ID=testing\nAWS_SECRET_ACCESS_KEY={SECRET}\n"
        f"AWS_ENDPOINT_URL={s3_server}\nAWS_DEFAULT_REGION=us-east-1\n"
    )
    root = project(tmp_path, f"landing: s3://{bucket}/landing/\n")
    blank = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_ENDPOINT_URL": ""}
    import s3fs

    s3fs.S3FileSystem(endpoint_url=s3_server, key="x", secret="y").pipe(
        f"{bucket}/landing/people_1.csv",
        people_csv(("1", "Ada", "ada@example.org", "12/10/1815")).encode(),
    )

    done = tidegate(root, "run", env=blank)

    assert done.returncode == 0, done.stdout + done.stderr
    assert SECRET not in everything_shown(root, done.stdout, done.stderr)
