"""EvolInstruct, at distilabel's module path ``steps.tasks.evol_instruct``."""

from __future__ import annotations

from airflow_dististage.steps.tasks.evol_instruct.base import EvolInstruct

__all__ = ["EvolInstruct"]
