"""``distilabel.models`` (distilabel >= 1.5): the LLMs under their newer import path."""

from __future__ import annotations

from airflow_dististage.models.llms import *  # noqa: F403 - the same names as distilabel.models.llms
from airflow_dististage.models.llms import __all__
