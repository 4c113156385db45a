"""Loading a project folder: what loads, and what each mistake reports (file and line)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import tidegate.config
from tidegate.config import Project, load_project
from tidegate.config.loader import json_schema
from tidegate.errors import ConfigError

PROJECT = """\
warehouse:
  type: duckdb
  path: warehouse.duckdb
landing: landing/
"""

TARGET = """\
columns:
  company:  {type: varchar, required: true}
  phone:    {type: varchar, pattern: '^\\d{10}$'}
  capacity: {type: integer, check: "capacity >= 0"}
  zip:      {type: varchar, allowed: [01234, NO]}
  issued:   {type: date, formats: ['%m/%d/%y'], max: 2030-12-31}
key: [phone]
load: scd2
history: {track: [company, capacity]}
"""

SOURCE = """\
match: "Nevada*.csv"
format: csv
read: {null: ['', 'NA']}
outputs:
  - target: orgs
    columns:
      company: '"Name"'
      phone: "regexp_replace(\\"Phone\\", '[^0-9]', '', 'g')"
      capacity: 'try_cast("Beds" AS integer)'
derive:
  has_name: '"Name" IS NOT NULL'
"""


def make_project(root: Path, files: dict[str, str], *, base: bool = True) -> Path:
    """Write a project: the valid base files, overridden or extended by ``files``."""
    contents = {"tidegate.yml": PROJECT, "targets/orgs.yml": TARGET, "sources/nevada.yml": SOURCE}
    for name, text in ({**contents, **files} if base else files).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def load_error(root: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_project(root)
    return info.value


# --------------------------------------------------------------------------- what loads


def test_valid_project_loads(tmp_path: Path) -> None:
    make_project(tmp_path, {"models/b_mart.sql": "select 2", "models/a_view.sql": "select 1"})

    project = load_project(tmp_path)

    assert isinstance(project, Project)
    assert project.root == tmp_path
    assert project.config.warehouse.type == "duckdb"
    assert project.path("landing") == tmp_path / "landing"
    assert list(project.targets) == ["orgs"]
    orgs = project.targets["orgs"]
    assert orgs.load == "scd2" and orgs.key == ["phone"]
    assert orgs.columns["phone"].pattern == r"^\d{10}$"
    assert project.sources["nevada"].outputs[0].columns["company"] == '"Name"'
    assert list(project.models) == ["a_view", "b_mart"]
    assert project.models["b_mart"] == "select 2"


def test_yaml_scalars_are_not_rewritten(tmp_path: Path) -> None:
    # YAML 1.1 would read 01234 as 668, NO as false and 2030-12-31 as a date.
    project = load_project(make_project(tmp_path, {}))

    columns = project.targets["orgs"].columns
    assert columns["zip"].allowed == ["01234", "NO"]
    assert columns["issued"].max == "2030-12-31"


def test_empty_folders_are_an_empty_project(tmp_path: Path) -> None:
    project = load_project(make_project(tmp_path, {"tidegate.yml": ""}, base=False))

    assert project.targets == {} and project.sources == {} and project.models == {}
    assert project.config.warehouse.path == "warehouse.duckdb"


def test_yaml_extension_is_accepted(tmp_path: Path) -> None:
    make_project(tmp_path, {"targets/orgs.yml": "", "targets/people.yaml": TARGET})
    (tmp_path / "targets" / "orgs.yml").unlink()
    (tmp_path / "sources" / "nevada.yml").unlink()

    assert list(load_project(tmp_path).targets) == ["people"]


# --------------------------------------------------------------------------- files and names


def test_missing_project_file_says_to_run_init(tmp_path: Path) -> None:
    error = load_error(tmp_path)

    assert error.path == tmp_path / "tidegate.yml"
    assert error.line is None
    assert "no tidegate.yml in" in str(error)
    assert "run `tidegate init`" in str(error)


def test_file_name_must_be_an_identifier(tmp_path: Path) -> None:
    make_project(tmp_path, {"sources/nevada-2024.yml": SOURCE})

    error = load_error(tmp_path)

    assert error.path == tmp_path / "sources" / "nevada-2024.yml"
    assert "source name 'nevada-2024'" in error.message
    assert "must be an identifier" in error.message


def test_model_name_must_be_an_identifier(tmp_path: Path) -> None:
    make_project(tmp_path, {"models/2024 mart.sql": "select 1"})

    error = load_error(tmp_path)

    assert error.path == tmp_path / "models" / "2024 mart.sql"
    assert "model name '2024 mart'" in error.message


def test_same_name_as_yml_and_yaml_is_an_error(tmp_path: Path) -> None:
    make_project(tmp_path, {"targets/orgs.yaml": TARGET})

    error = load_error(tmp_path)

    assert error.path == tmp_path / "targets" / "orgs.yml"
    assert "target 'orgs' is also defined in" in error.message


# --------------------------------------------------------------------------- YAML


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    make_project(
        tmp_path,
        {
            "targets/orgs.yml": """\
            columns:
              company: {type: varchar}
              phone: {type: varchar
            key: [phone]
            """
        },
    )

    error = load_error(tmp_path)

    assert error.path == tmp_path / "targets" / "orgs.yml"
    assert error.line == 4
    assert str(error).startswith(f"{tmp_path / 'targets' / 'orgs.yml'}:4: invalid YAML: ")


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    make_project(tmp_path, {"tidegate.yml": "landing: in/\narchive: old/\nlanding: other/\n"})

    error = load_error(tmp_path)

    assert error.path == tmp_path / "tidegate.yml"
    assert error.line == 3
    assert error.message == "invalid YAML: duplicate key 'landing' (first on line 1)"


# --------------------------------------------------------------------------- validation


def test_misspelled_key_gives_file_line_and_suggestion(tmp_path: Path) -> None:
    make_project(
        tmp_path,
        {
            "targets/orgs.yml": """\
            columns:
              company: {type: varchar}
              phone:
                type: varchar
                requried: true
            """
        },
    )

    error = load_error(tmp_path)

    assert error.path == tmp_path / "targets" / "orgs.yml"
    assert error.line == 5
    assert error.message == "unknown key 'requried' in column 'phone'; did you mean 'required'?"


def test_misspelled_top_level_key(tmp_path: Path) -> None:
    make_project(tmp_path, {"tidegate.yml": "warehouse: {type: duckdb}\nlandnig: in/\n"})

    error = load_error(tmp_path)

    assert (error.path, error.line) == (tmp_path / "tidegate.yml", 2)
    assert error.message == "unknown key 'landnig'; did you mean 'landing'?"


def test_unknown_key_without_a_close_match_lists_the_valid_keys(tmp_path: Path) -> None:
    make_project(tmp_path, {"tidegate.yml": "warehouse:\n  type: duckdb\n  colour: blue\n"})

    error = load_error(tmp_path)

    assert error.line == 3
    assert error.message.startswith("unknown key 'colour' in warehouse; the valid keys are: ")
    assert (
        "buckets, catalog, conf, control, master, path, remote, schemas, table_format, type, url, warehouse_dir"
        in error.message
    )


def test_wrong_type_names_line_expected_type_and_value(tmp_path: Path) -> None:
    make_project(tmp_path, {"tidegate.yml": "landing: in/\nsettle_seconds: soon\n"})

    error = load_error(tmp_path)

    assert (error.path, error.line) == (tmp_path / "tidegate.yml", 2)
    assert error.message == "settle_seconds: expected a number, got 'soon'"


def test_wrong_type_inside_a_column(tmp_path: Path) -> None:
    make_project(
        tmp_path,
        {"targets/orgs.yml": "columns:\n  company:\n    type: varchar\n    required: maybe\n"},
    )

    error = load_error(tmp_path)

    assert error.line == 4
    assert error.message == "column 'company', required: expected true or false, got 'maybe'"


def test_wrong_choice_lists_the_choices(tmp_path: Path) -> None:
    make_project(tmp_path, {"targets/orgs.yml": "columns:\n  a: {}\nload: upsert\n"})

    error = load_error(tmp_path)

    assert error.line == 3
    assert error.message == (
        "load: expected one of 'append', 'merge', 'scd2', 'replace' or 'erase', got 'upsert'"
    )


def test_union_errors_become_one_message(tmp_path: Path) -> None:
    source = "match: 5\noutputs: []\n"
    make_project(tmp_path, {"sources/nevada.yml": source})

    error = load_error(tmp_path)

    assert error.line == 1
    assert error.message == "match: expected a string or a list or a mapping, got 5"


def test_missing_required_key(tmp_path: Path) -> None:
    make_project(tmp_path, {"sources/nevada.yml": "match: '*.csv'\noutputs:\n  - columns: {}\n"})

    error = load_error(tmp_path)

    assert error.line == 3
    assert error.message == "missing required key 'target' in outputs[0]"


def test_reserved_underscore_column_names(tmp_path: Path) -> None:
    make_project(
        tmp_path,
        {"targets/orgs.yml": "columns:\n  company: {}\n  _loaded_at: {type: timestamp}\n"},
    )

    error = load_error(tmp_path)

    assert (error.path, error.line) == (tmp_path / "targets" / "orgs.yml", 3)
    assert error.message.startswith(
        "column '_loaded_at': names starting with '_' are reserved for tidegate's own columns"
    )


def test_scd2_without_key(tmp_path: Path) -> None:
    make_project(tmp_path, {"targets/orgs.yml": "columns:\n  company: {}\n\nload: scd2\n"})

    error = load_error(tmp_path)

    assert (error.path, error.line) == (tmp_path / "targets" / "orgs.yml", 4)
    assert error.message == "load: scd2 needs a 'key' (the columns that identify a row)"


def test_key_column_must_exist(tmp_path: Path) -> None:
    make_project(tmp_path, {"targets/orgs.yml": "columns:\n  company: {}\nkey: [phone]\n"})

    error = load_error(tmp_path)

    assert error.line == 3
    assert error.message == "key: column 'phone' is not one of the target's columns ['company']"


def test_several_errors_are_all_reported_in_line_order(tmp_path: Path) -> None:
    target = "columns:\n  company: {type: varchar, requried: true}\nload: upsert\n"
    make_project(tmp_path, {"targets/orgs.yml": target, "tidegate.yml": "landing: [1]\n"})
    project_file, target_file = tmp_path / "tidegate.yml", tmp_path / "targets" / "orgs.yml"

    error = load_error(tmp_path)

    assert (error.path, error.line) == (project_file, 1)
    assert str(error).splitlines() == [
        f"{project_file}:1: landing: expected a string, got [1]",
        f"{target_file}:2: unknown key 'requried' in column 'company'; did you mean 'required'?",
        f"{target_file}:3: load: expected one of 'append', 'merge', 'scd2', 'replace' or 'erase',"
        " got 'upsert'",
    ]


# --------------------------------------------------------------------------- cross-file checks


def test_unknown_target_in_a_source(tmp_path: Path) -> None:
    source = SOURCE.replace("target: orgs", "target: org")
    make_project(tmp_path, {"sources/nevada.yml": source})

    error = load_error(tmp_path)

    assert (error.path, error.line) == (tmp_path / "sources" / "nevada.yml", 5)
    assert error.message == "outputs[0].target: no target named 'org'; did you mean 'orgs'?"


def test_unknown_target_without_a_close_match_lists_targets(tmp_path: Path) -> None:
    source = SOURCE.replace("target: orgs", "target: invoices")
    make_project(tmp_path, {"sources/nevada.yml": source})

    error = load_error(tmp_path)

    assert error.message.endswith("no target named 'invoices'; the targets are: orgs")


def test_unknown_output_column(tmp_path: Path) -> None:
    source = SOURCE.replace("capacity: 'try_cast", "capacty: 'try_cast")
    make_project(tmp_path, {"sources/nevada.yml": source})

    error = load_error(tmp_path)

    assert (error.path, error.line) == (tmp_path / "sources" / "nevada.yml", 9)
    assert error.message == (
        "outputs[0].columns: 'capacty' is not a column of target 'orgs'; did you mean 'capacity'?"
    )


def test_history_track_columns_must_exist(tmp_path: Path) -> None:
    make_project(
        tmp_path, {"targets/orgs.yml": TARGET.replace("[company, capacity]", "[company, beds]")}
    )

    error = load_error(tmp_path)

    assert error.line == 9
    assert error.message.startswith("history.track: 'beds' is not a column of target 'orgs'")


def test_references_name_existing_targets_and_columns(tmp_path: Path) -> None:
    people = """\
    columns:
      name: {}
      org_phone: {}
    references:
      - {columns: [org_phone], target: orgs}
      - {columns: [org_phone], target: org}
      - {columns: [org_fone], target: orgs, target_columns: [phone]}
    """
    make_project(tmp_path, {"targets/people.yml": people})
    people_file = tmp_path / "targets" / "people.yml"

    error = load_error(tmp_path)

    assert str(error).splitlines() == [
        f"{people_file}:6: references[1].target: no target named 'org'; did you mean 'orgs'?",
        f"{people_file}:7: references[2].columns: 'org_fone' is not a column of target 'people';"
        " did you mean 'org_phone'?",
    ]


# --------------------------------------------------------------------------- SQL expressions


def test_bad_sql_mapping_names_the_line_and_column(tmp_path: Path) -> None:
    source = SOURCE.replace("'try_cast(\"Beds\" AS integer)'", "'coalesce(\"Beds\" 0)'")
    make_project(tmp_path, {"sources/nevada.yml": source})

    error = load_error(tmp_path)

    assert (error.path, error.line) == (tmp_path / "sources" / "nevada.yml", 9)
    assert error.message.startswith("invalid SQL for target column orgs.capacity: Expecting )")
    assert error.message.endswith('in `coalesce("Beds" 0)`')


def test_bad_sql_derive_and_statement(tmp_path: Path) -> None:
    source = SOURCE.replace("""'"Name" IS NOT NULL'""", "'drop table orgs'")
    make_project(tmp_path, {"sources/nevada.yml": source})

    error = load_error(tmp_path)

    assert error.line == 11
    assert error.message == (
        "invalid SQL in derive.has_name: expected an expression, got a DROP statement,"
        " in `drop table orgs`"
    )


def test_bad_sql_check_names_the_line(tmp_path: Path) -> None:
    make_project(tmp_path, {"targets/orgs.yml": TARGET.replace("capacity >= 0", "capacity >=")})

    error = load_error(tmp_path)

    assert (error.path, error.line) == (tmp_path / "targets" / "orgs.yml", 4)
    assert error.message.startswith("invalid SQL in the check of column 'capacity': ")
    assert "missing for GTE at column 11" in error.message


# --------------------------------------------------------------------------- ${VAR}


def test_variables_come_from_env_and_dotenv_and_env_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = """\
    warehouse: {type: postgres, url: "postgresql://${PG_HOST}/${PG_DB}"}
    landing: ${LANDING:-incoming/}
    archive: $${NOT_A_VARIABLE}
    """
    make_project(tmp_path, {"tidegate.yml": project, ".env": "PG_HOST=dotenv-host\nPG_DB=sales\n"})
    monkeypatch.setenv("PG_HOST", "env-host")
    monkeypatch.delenv("PG_DB", raising=False)
    monkeypatch.delenv("LANDING", raising=False)

    config = load_project(tmp_path).config

    assert config.warehouse.url == "postgresql://env-host/sales"
    assert config.landing == "incoming/"
    assert config.archive == "${NOT_A_VARIABLE}"


def test_undefined_variable_names_file_line_and_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TIDEGATE_TEST_URL", raising=False)
    project = "landing: in/\nwarehouse:\n  type: postgres\n  url: ${TIDEGATE_TEST_URL}\n"
    make_project(tmp_path, {"tidegate.yml": project})

    error = load_error(tmp_path)

    assert (error.path, error.line) == (tmp_path / "tidegate.yml", 4)
    assert error.message.startswith(
        "warehouse.url: environment variable 'TIDEGATE_TEST_URL' is not set"
    )


# --------------------------------------------------------------------------- the package


def test_public_api() -> None:
    assert set(tidegate.config.__all__) == {
        "ColumnMatch",
        "ColumnSpec",
        "HistoryConfig",
        "OutputConfig",
        "Project",
        "ProjectConfig",
        "ReadOptions",
        "Reference",
        "SourceConfig",
        "TargetConfig",
        "WarehouseConfig",
        "json_schema",
        "load_project",
    }


def test_json_schema_describes_the_three_files() -> None:
    schemas = json_schema()

    assert set(schemas) == {"tidegate.yml", "targets/*.yml", "sources/*.yml"}
    assert schemas["targets/*.yml"]["additionalProperties"] is False
    assert "columns" in schemas["targets/*.yml"]["required"]
