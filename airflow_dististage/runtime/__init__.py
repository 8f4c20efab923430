"""The runtime: each step runs as an independent unit that talks to its neighbours through a durable store.

Importing this package pulls in pyarrow and fsspec; ``import airflow_dististage`` never imports it.
"""

from __future__ import annotations

from airflow_dististage.runtime.executor import StepExecution, StepSummary, lineage_fingerprints
from airflow_dististage.runtime.status import UpstreamFailedError
from airflow_dististage.runtime.store import BatchStore

__all__ = ["BatchStore", "StepExecution", "StepSummary", "UpstreamFailedError", "lineage_fingerprints"]
