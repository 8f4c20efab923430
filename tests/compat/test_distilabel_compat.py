"""distilabel code runs on airflow_dististage after renaming its imports, with identical output.

Each pipeline of ``tests/compat/pipelines`` is written for distilabel 1.5.3; ``record.py`` ran it under
distilabel and saved its Distiset in ``tests/compat/recorded``. Here each one is copied with
``distilabel`` renamed to ``airflow_dististage`` in its import statements (the only change), run
in this process with a temporary cache folder, and its Distiset must equal the recording: the same
configurations, columns (in order), Arrow types and rows (in order). distilabel is not needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.compat import harness


@pytest.fixture(scope="module")
def renamed_pipelines(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return harness.copy_pipelines(tmp_path_factory.mktemp("compat") / "pipelines")


def _first_difference(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> str:
    if len(ours) != len(theirs):
        return f"{len(ours)} rows, distilabel gives {len(theirs)}"
    for index, (row, expected) in enumerate(zip(ours, theirs)):
        for column in dict.fromkeys([*expected, *row]):
            if row.get(column, "<missing>") != expected.get(column, "<missing>"):
                return (
                    f"row {index}, column {column!r}: we give {row.get(column, '<missing>')!r},"
                    f" distilabel gives {expected.get(column, '<missing>')!r}"
                )
    return ""


def assert_same_distiset(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    """Fails naming the configuration, split, column and row where ``ours`` first differs."""
    assert sorted(ours) == sorted(theirs), "configurations differ"
    for config, splits in theirs.items():
        assert sorted(ours[config]) == sorted(splits), f"{config}: splits differ"
        for split, expected in splits.items():
            got, where = ours[config][split], f"{config}/{split}"
            assert got["columns"] == expected["columns"], (
                f"{where}: we give columns {got['columns']}, distilabel gives {expected['columns']}"
            )
            types = {
                column: (got["types"].get(column), expected["types"].get(column))
                for column in {*got["types"], *expected["types"]}
                if got["types"].get(column) != expected["types"].get(column)
            }
            assert not types, f"{where}: Arrow types differ, (ours, distilabel's): {types}"
            difference = _first_difference(got["rows"], expected["rows"])
            assert not difference, f"{where}: {difference}"


@pytest.mark.parametrize("name", harness.pipeline_names())
def test_pipeline_output_equals_distilabel(name: str, renamed_pipelines: Path, tmp_path: Path) -> None:
    recorded = json.loads((harness.RECORDED_DIR / f"{name}.json").read_text())
    ours = json.loads(harness.dumps(harness.run(renamed_pipelines, name, tmp_path / "work")))
    assert_same_distiset(ours, recorded)


def test_renaming_changes_import_statements_only() -> None:
    source = (
        "from distilabel.steps import KeepColumns\n"
        "import distilabel.typing\n"
        "    from distilabel.models import LLM\n"
        'row["distilabel_metadata"] = "distilabel"\n'
    )
    assert harness.rename_imports(source) == (
        "from airflow_dististage.steps import KeepColumns\n"
        "import airflow_dististage.typing\n"
        "    from airflow_dististage.models import LLM\n"
        'row["distilabel_metadata"] = "distilabel"\n'
    )


def test_every_pipeline_is_recorded_and_imports_distilabel_only() -> None:
    names = harness.pipeline_names()
    assert len(names) >= 12
    assert sorted(path.stem for path in harness.RECORDED_DIR.glob("*.json")) == names
    for path in harness.PIPELINES_DIR.glob("*.py"):
        assert "airflow_dististage" not in path.read_text(), f"{path.name} must be written for distilabel"
