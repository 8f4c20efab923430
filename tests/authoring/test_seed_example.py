"""The seed example prints exactly its three stages."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_seed_script_prints_its_stages() -> None:
    result = subprocess.run(
        [sys.executable, "dags_examples/seed_pipeline.py"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.splitlines() == [
        "Stage 0: ['load_data_from_dicts_0', 'dummy_step_0']",
        "Stage 1: ['global_dummy_step_0']",
        "Stage 2: ['dummy_step_1']",
    ]
