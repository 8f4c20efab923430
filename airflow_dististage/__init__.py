"""airflow-dististage: distilabel-style synthetic-data pipelines that run on Apache Airflow."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_dististage.pipeline import Pipeline

__version__ = "0.1.0"
__all__ = ["Pipeline", "__version__", "compile_pipeline"]


def compile_pipeline(pipeline: Pipeline, **kwargs: Any) -> Any:
    """Compiles ``pipeline`` to an Airflow DAG (see ``airflow_dististage.compiler``)."""
    from airflow_dististage.compiler import compile_pipeline as _compile

    return _compile(pipeline, **kwargs)


def __getattr__(name: str) -> Any:
    # Lazy so that Airflow, which imports the provider module in every process, does not pay for networkx.
    if name == "Pipeline":
        from airflow_dististage.pipeline import Pipeline

        return Pipeline
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
