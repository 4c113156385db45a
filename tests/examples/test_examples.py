"""The reference exercises, loaded end to end from their real files."""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from tidegate.config import load_project
from tidegate.pipeline import RunResult, run
from tidegate.scaffold import example

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def copy(name: str, tmp_path: Path) -> Path:
    root = tmp_path / name
    example(root, name=name)
    config = root / "tidegate.yml"
    config.write_text(config.read_text().replace("settle_seconds: 1", "settle_seconds: 0"))
    return root


def query(root: Path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def load(root: Path) -> RunResult:
    return run(load_project(root))


def loaded_once(name: str, factory: pytest.TempPathFactory) -> tuple[Path, RunResult]:
    """An example loaded once for the tests of a module that only read what it loaded (they
    share an xdist_group, so one worker loads it)."""
    root = copy(name, factory.mktemp(name))
    return root, load(root)


# --------------------------------------------------------------------------- 000


LEADS = "000-prospective-leads"


@pytest.fixture(scope="module")
def leads(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunResult]:
    return loaded_once(LEADS, tmp_path_factory)


@pytest.mark.xdist_group("examples_000")
def test_000_every_row_read_is_loaded_or_quarantined(leads: tuple[Path, RunResult]) -> None:
    root, result = leads
    read = {f.name: (f.status, f.rows_read) for f in result.files}
    assert read == {
        "TechnicalExerciseDataSource1.csv": ("loaded", 70),
        "TechnicalExerciseDataSource2.csv": ("loaded", 28),
        "TechnicalExerciseDataSource3.csv": ("loaded", 29),
    }
    for f in result.files:
        assert f.rows_read == f.rows_loaded + f.rows_quarantined + f.rows_duplicate
    loaded = sum(f.rows_loaded for f in result.files)
    assert query(root, "SELECT count(*) FROM core.prospective_orgs WHERE _is_current") == [
        (loaded,)
    ]
    quarantined = query(root, "SELECT count(*) FROM tidegate.quarantine")[0][0]
    assert loaded + quarantined == 127


@pytest.mark.xdist_group("examples_000")
def test_000_packed_fields_are_parsed(leads: tuple[Path, RunResult]) -> None:
    root, _ = leads
    rows = query(
        root,
        "SELECT company, address1, address2, city, state, zip, phone, first_name, last_name, title,"
        " license_type, license_number, license_issued, certificate_expiration_date,"
        " ages_served, min_age, max_age FROM core.prospective_orgs WHERE phone IN"
        " ('7022092781', '7022739684', '2097471797', '8304291010', '5105515129', '3622311137')"
        " ORDER BY phone",
    )
    by_phone = {r[6]: r for r in rows}
    assert by_phone["7022092781"][1:6] == (
        "8889 S. EASTERN AVE.",
        "STE 160",
        "LAS VEGAS",
        "NV",
        "89123",
    )
    assert by_phone["7022739684"][3] == "NORTH LAS VEGAS"
    assert by_phone["5105515129"][7:10] == ("DEETRA", "STEWART", "Owner")
    assert by_phone["3622311137"][7:9] == (None, None)  # several people: not split
    ok = by_phone["2097471797"]
    assert ok[7:12] == (
        "Elizabeth",
        "Hellstrom",
        "Primary Caregiver",
        "CHILD CARE FAMILY",
        "K820055232",
    )
    assert ok[12] == date(2020, 9, 2)
    assert ok[14:] == ("Toddlers (12-23 months; 1yr.), Preschool (24-48 months; 2-4 yrs.)", 1, 4)
    tx = by_phone["8304291010"]
    assert tx[0] == 'K" Street Learning Center LLC"'
    assert tx[12] == date(2011, 10, 13)
    assert tx[14:] == ("Infant, Toddler, Preschool, School", 0, 12)
    assert (
        query(root, "SELECT count(DISTINCT city) FROM core.prospective_orgs WHERE state = 'NV'")[0][
            0
        ]
        == 8
    )


def test_000_rerun_adds_no_versions(tmp_path: Path) -> None:
    root = copy(LEADS, tmp_path)
    load(root)
    before = query(root, "SELECT count(*) FROM core.prospective_orgs")
    assert load(root).files == []
    originals = EXAMPLES / LEADS / "landing"
    for path in originals.iterdir():
        shutil.copy(path, root / "landing" / f"{path.stem}_again.csv")
    nevada = (originals / "TechnicalExerciseDataSource1.csv").read_bytes()
    (root / "landing" / "TechnicalExerciseDataSource1_resent.csv.gz").write_bytes(
        gzip.compress(nevada)
    )
    result = load(root)
    statuses = sorted((f.name, f.status, f.rows_unchanged) for f in result.files)
    assert statuses == [
        ("TechnicalExerciseDataSource1_again.csv", "duplicate", 0),
        ("TechnicalExerciseDataSource1_resent.csv.gz", "loaded", 70),
        ("TechnicalExerciseDataSource2_again.csv", "duplicate", 0),
        ("TechnicalExerciseDataSource3_again.csv", "duplicate", 0),
    ]
    assert query(root, "SELECT count(*) FROM core.prospective_orgs") == before


def test_000_a_changed_nevada_file_opens_and_closes_exactly_the_changed_versions(
    tmp_path: Path,
) -> None:
    root = copy(LEADS, tmp_path)
    load(root)
    text = (EXAMPLES / LEADS / "landing" / "TechnicalExerciseDataSource1.csv").read_text(
        encoding="utf-8"
    )
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    phone, address, status = (header.index(n) for n in ("Phone", "Address", "Status"))
    body[0][phone] = "346-393-0000"  # SUNSHINE ACADEMY moved: a new phone-and-address key
    body[0][address] = "151 N. WILLOW ST MESQUITE, NV 89027"
    body[1][status] = "Inactive"  # SUNRISE: an attribute change
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *body])
    (root / "landing" / "TechnicalExerciseDataSource1_v2.csv").write_text(
        out.getvalue(), encoding="utf-8"
    )
    [file] = load(root).files
    assert (file.status, file.rows_loaded, file.rows_unchanged) == ("loaded", 2, 68)
    versions = query(
        root,
        "SELECT phone, address1, license_status, _is_current FROM core.prospective_orgs"
        " WHERE phone IN ('3463930000', '3463939400', '3622311137') ORDER BY phone, _valid_from",
    )
    assert versions == [
        ("3463930000", "151 N. WILLOW ST", "Active", True),
        ("3463939400", "150 N. WILLOW ST", "Active", True),  # deletes: ignore keeps it
        ("3622311137", "2845 MOHAWK ST", "Active", False),
        ("3622311137", "2845 MOHAWK ST", "Inactive", True),
    ]


# --------------------------------------------------------------------------- 001


TITLES = "001-job-titles"


@pytest.fixture(scope="module")
def titles(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunResult]:
    return loaded_once(TITLES, tmp_path_factory)


@pytest.mark.xdist_group("examples_001")
def test_001_titles_and_related_titles(titles: tuple[Path, RunResult]) -> None:
    root, result = titles
    [file] = result.files
    assert (file.rows_read, file.rows_loaded, file.rows_quarantined) == (5000, 4989, 11)
    reasons = query(root, "SELECT DISTINCT reasons FROM tidegate.quarantine")
    assert all(json.loads(r[0])[0]["rule"] == "duplicate" for r in reasons)
    assert query(root, "SELECT count(*) FROM core.job_titles") == [(4989,)]
    assert query(
        root,
        "SELECT pdl_count FROM core.job_titles WHERE title = 'president chief executive officer'",
    ) == [(72943,)]
    non_latin = query(
        root, "SELECT count(*) FROM core.job_titles WHERE regexp_matches(title, '[^\\x00-\\x7F]')"
    )[0][0]
    assert non_latin == 329  # every title with non-ASCII letters survives
    assert query(root, "SELECT count(*) FROM core.job_titles WHERE title = 'бухгалтер'") == [(1,)]
    owner = query(
        root,
        "SELECT kind, count(*) FROM core.related_titles WHERE title = 'owner' GROUP BY 1 ORDER BY 1",
    )
    assert owner == [("skill", 9), ("title", 10)]
    short = query(
        root,
        "SELECT kind, count(*) FROM core.related_titles WHERE title = 'end developer' GROUP BY 1 ORDER BY 1",
    )
    assert short == [("skill", 6), ("title", 8)]
    assert query(
        root,
        "SELECT count(*) FROM core.related_titles WHERE title = 'york city' AND kind = 'title'",
    ) == [(0,)]


@pytest.mark.xdist_group("examples_001")
def test_001_models_answer_the_questions(titles: tuple[Path, RunResult]) -> None:
    root, _ = titles
    top = query(root, "SELECT title, related_titles FROM marts.top_related_titles")
    assert len(top) == 10
    assert {n for _, n in top} == {10}
    expected = query(
        root,
        "SELECT avg(pdl_count) FROM core.job_titles WHERE title IN"
        " (SELECT title FROM core.related_titles WHERE related_title = 'manager' AND kind = 'title')",
    )[0][0]
    [(average, titles)] = query(
        root, "SELECT avg_pdl_count, titles FROM marts.manager_related_avg_count"
    )
    assert average == pytest.approx(expected)
    assert titles == 33


# --------------------------------------------------------------------------- 002


OUTREACH = "002-outreach"


def test_002_dees_play_and_learn(tmp_path: Path) -> None:
    root = copy(OUTREACH, tmp_path)
    landing = root / "landing"
    (landing / "TechnicalExerciseDataSource1.csv").rename(
        landing / "TechnicalExerciseDataSource1_2024-11-10.csv"
    )
    [file] = load(root).files
    row = query(
        root,
        "SELECT city, first_name, last_name, license_status, county, zip, company FROM core.outreach"
        " WHERE phone = '510-551-5129'",
    )
    assert row == [
        (
            "las vegas",
            "Deetra",
            "Stewart",
            "expired",
            "clark",
            "89131",
            "dee's play & learn christian academy",
        )
    ]
    # Two Primrose sites share a phone, and three EOS Fitness sites another: 3 rows held back.
    assert (file.rows_read, file.rows_loaded, file.rows_quarantined) == (70, 67, 3)
    held = query(root, "SELECT reasons FROM tidegate.quarantine")
    assert {json.loads(r[0])[0]["value"] for r in held} == {"630-212-9413", "702-308-3384"}


def test_002_a_newer_file_overwrites_by_phone(tmp_path: Path) -> None:
    root = copy(OUTREACH, tmp_path)
    load(root)
    archived = next((root / "archive").rglob("*.gz"))
    body = gzip.decompress(archived.read_bytes()).decode().replace("DEETRA STEWART", "DEETRA JONES")
    (root / "landing" / "TechnicalExerciseDataSource1_b.csv").write_text(body, encoding="utf-8")
    [file] = load(root).files
    assert (file.rows_loaded, file.rows_unchanged) == (1, 66)
    assert query(root, "SELECT last_name FROM core.outreach WHERE phone = '510-551-5129'") == [
        ("Jones",)
    ]
    assert query(root, "SELECT count(*) FROM core.outreach") == [(67,)]


# --------------------------------------------------------------------------- 003


CARS = "003-car-subscriptions"


def test_003_loads_entities_with_text_kept_as_text(tmp_path: Path) -> None:
    root = copy(CARS, tmp_path)
    result = load(root)
    assert [(f.source, f.rows_read, f.rows_loaded) for f in result.files] == [
        ("cars", 1200, 1200),
        ("customers", 550, 550),
        ("subscriptions", 1200, 1200),
    ]
    assert query(root, "SELECT count(*) FROM core.customers WHERE zip LIKE '0%'") == [(70,)]
    assert query(root, "SELECT count(*) FROM core.customers WHERE house LIKE '0%'") == [(44,)]
    assert query(
        root, "SELECT count(*) FROM core.customers WHERE NOT regexp_matches(house, '^[0-9]+$')"
    ) == [(119,)]
    assert query(root, "SELECT count(*) FROM core.customers WHERE city = 'Böblingen'")[0][0] >= 1
    distribution = query(
        root,
        "SELECT term_months, sum(subscriptions) FROM marts.type_distribution GROUP BY 1 ORDER BY 1",
    )
    assert distribution == [(6, 114), (12, 1086)]
    shares = query(
        root, "SELECT min(b2b_share + b2c_share), max(b2b_share + b2c_share) FROM marts.type_share"
    )
    assert shares == [(pytest.approx(1.0), pytest.approx(1.0))]
    assert query(root, "SELECT sum(cars) FROM marts.infleeted_cars_volumes") == [(1200,)]
    assert query(root, "SELECT sum(cars) FROM marts.defleeted_cars_volumes") == [(602,)]


def test_003_a_new_export_versions_changes_and_closes_missing_rows(tmp_path: Path) -> None:
    root = copy(CARS, tmp_path)
    load(root)
    source = EXAMPLES / CARS / "landing"
    cars = (source / "cars.csv").read_text(encoding="utf-8").splitlines()
    header, first, second, rest = cars[0], cars[1], cars[2], cars[3:]
    moved = first.replace("EUXN6786", "EUXN0001")  # a new plate
    (root / "landing" / "cars_2024-02-01.csv").write_text(
        "\n".join([header, moved, *rest]) + "\n", encoding="utf-8"
    )
    subscriptions = (source / "subscriptions.csv").read_text(encoding="utf-8").splitlines()
    orphan = (
        "0000aaaa-0000-0000-0000-000000000000,no-such-customer,"
        + subscriptions[1].split(",", 3)[2]
        + ",2024-01-01 00:00:00,2024-01-05 00:00:00,six,310.0"
    )
    (root / "landing" / "subscriptions_2024-02-01.csv").write_text(
        "\n".join([*subscriptions, orphan]) + "\n", encoding="utf-8"
    )
    result = {f.source: f for f in load(root).files}
    assert (result["cars"].rows_loaded, result["cars"].rows_unchanged) == (1, 1198)
    gone = second.split(",")[0]
    assert query(root, f"SELECT _is_current, _is_deleted FROM core.cars WHERE id = '{gone}'") == [
        (False, True)
    ]
    plates = query(
        root,
        "SELECT license_plate, _is_current FROM core.cars WHERE vin = 'P0HS791R0M577817' ORDER BY _valid_from",
    )
    assert plates == [("EUXN6786", False), ("EUXN0001", True)]
    subs = result["subscriptions"]
    assert (subs.rows_read, subs.rows_loaded, subs.rows_unchanged, subs.rows_quarantined) == (
        1201,
        0,
        1200,
        1,
    )
    [(reasons,)] = query(root, "SELECT reasons FROM tidegate.quarantine")
    assert json.loads(reasons)[0]["message"] == "not found in customers.id"
