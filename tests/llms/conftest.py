"""Fixtures of the LLM tests: the tiny model (built once per session) and the GPU gate."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.llms.tiny_model import build_tiny_model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the tiny random-weight model and its tokenizer (see ``tiny_model.py``)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


def _gpu_and_vllm_missing() -> str | None:
    """Why GPU tests cannot run here, asked without initialising CUDA in this (forking) process."""
    if importlib.util.find_spec("vllm") is None:
        return "vllm is not installed"
    smi = shutil.which("nvidia-smi")
    listing = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=60) if smi else None
    if listing is None or listing.returncode != 0 or "GPU" not in listing.stdout:
        return "no CUDA GPU"
    return None


@pytest.fixture(autouse=True)
def _skip_gpu_tests_without_gpu(request: pytest.FixtureRequest) -> None:
    """Tests marked ``gpu`` run only where a CUDA GPU and vllm are present."""
    if request.node.get_closest_marker("gpu") is not None:
        reason = _gpu_and_vllm_missing()
        if reason:
            pytest.skip(f"gpu test: {reason}")
