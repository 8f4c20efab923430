"""A throw-away real Airflow 3 on loopback, for the end-to-end tests, ``make demo`` and ``make ui``;
:class:`AirflowCluster` is the same on PostgreSQL, Redis, an S3 server and Celery workers."""

from __future__ import annotations

from airflow_dististage.devstack.api import AirflowApi, AirflowApiError
from airflow_dististage.devstack.cluster import AirflowCluster, CeleryWorker
from airflow_dististage.devstack.stack import AirflowDevStack, DevStackError, free_port

__all__ = ["AirflowApi", "AirflowApiError", "AirflowCluster", "AirflowDevStack", "CeleryWorker", "DevStackError", "free_port"]
