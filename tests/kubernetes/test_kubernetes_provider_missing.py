"""``kubernetes_gpu=True`` without the cncf-kubernetes provider fails at compile time naming the package.

The provider is in the test extra, so the test blocks its import (``sys.modules[name] = None`` makes
``import name`` raise ImportError, as on a machine without it)."""

from __future__ import annotations

import sys

import pytest

from airflow_dististage.compiler.options import CompileError
from tests.compiler.conftest import build_gpu_pipeline


def test_kubernetes_gpu_without_the_provider(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setitem(sys.modules, "airflow.providers.cncf.kubernetes", None)
    with pytest.raises(CompileError, match="pip install apache-airflow-providers-cncf-kubernetes"):
        build_gpu_pipeline().to_airflow(
            dag_id="x", kubernetes_gpu=True, store=str(tmp_path / "s"), output=str(tmp_path / "o")
        )
