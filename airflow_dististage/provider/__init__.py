"""The Airflow provider: what ``airflow providers list``, ``airflow config`` and ``airflow dististage`` see.

Airflow calls :func:`get_provider_info` in every process, so this module imports nothing but the
option table.
"""

from __future__ import annotations

from typing import Any

from airflow_dististage.provider.config import OPTIONS, SECTION, get_setting

__all__ = ["POOL_SIZE_ROUTE", "get_provider_info", "get_setting"]

DISTRIBUTION = "airflow-dististage"
POOL_SIZE_ROUTE = "/dististage/pools/{name}"
"""Where the api-server tells tasks a pool's size, without a token (see :mod:`.plugin`)."""


def get_provider_info() -> dict[str, Any]:
    """The provider description Airflow reads through the ``apache_airflow_provider`` entry point."""
    from airflow_dististage import __version__

    return {
        "package-name": DISTRIBUTION,
        "name": "Dististage",
        "description": "distilabel-style synthetic-data pipelines compiled to Airflow DAGs, with GPU pools.",
        "versions": [__version__],
        "config": {
            SECTION: {
                "description": "Where airflow-dististage keeps data and which pool gates GPU steps.",
                "options": {key: dict(option) for key, option in OPTIONS.items()},
            }
        },
        "cli": ["airflow_dististage.provider.cli.get_cli_commands"],
    }
