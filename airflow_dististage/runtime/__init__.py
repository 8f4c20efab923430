"""The runtime: each step runs as an independent unit that talks to its neighbours through a durable store.

The exports load on first use, so importing a light submodule (``runtime.gpus``) does not pull
in pyarrow, fsspec or networkx; ``import airflow_dististage`` never imports this package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_dististage.runtime.executor import StepExecution, StepSummary, lineage_fingerprints
    from airflow_dististage.runtime.status import UpstreamFailedError
    from airflow_dististage.runtime.store import BatchStore

_EXPORTS = {
    "BatchStore": "airflow_dististage.runtime.store",
    "StepExecution": "airflow_dististage.runtime.executor",
    "StepSummary": "airflow_dististage.runtime.executor",
    "UpstreamFailedError": "airflow_dististage.runtime.status",
    "lineage_fingerprints": "airflow_dististage.runtime.executor",
}

__all__ = ["BatchStore", "StepExecution", "StepSummary", "UpstreamFailedError", "lineage_fingerprints"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
