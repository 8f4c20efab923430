"""The Airflow compiler: a pipeline and its plan become an ``airflow.sdk`` DAG.

Layers, each plain data until the last: :mod:`.options` (validated compile options),
:mod:`.graph` (tasks, groups, pools, edges), :mod:`.params` (runtime parameters as Params),
:mod:`.docs` (the DAG's doc_md), :mod:`.tasks` (what each task runs) and :mod:`.dag` (the DAG).
"""

from __future__ import annotations

from airflow_dististage.compiler.dag import compile_pipeline, distiset_asset
from airflow_dististage.compiler.options import CompileError, CompileOptions
from airflow_dististage.compiler.tasks import GpuPoolError

__all__ = ["CompileError", "CompileOptions", "GpuPoolError", "compile_pipeline", "distiset_asset"]
