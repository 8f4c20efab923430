"""Fixtures of the runtime tests: a fresh cache folder per test."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def store_path(tmp_path: Path) -> str:
    """A folder for the batch store of one test."""
    return str(tmp_path / "store")


def rows_of(distiset, name: str = "default") -> list[dict]:
    """The train split of one Distiset member as a list of rows."""
    return distiset[name]["train"].to_list()


def committed_rows(execution) -> list[dict]:
    """The rows of a step execution's current output generation, in part order."""
    data, generation = execution.data, execution.generation
    return [row for sequence in data.part_sequences(generation) for row in data.read_part(generation, sequence)]
