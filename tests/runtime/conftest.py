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
