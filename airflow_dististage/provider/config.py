"""The ``[dististage]`` Airflow configuration section: options, defaults and one reader.

Defaults use Airflow's ``{AIRFLOW_HOME}`` expansion, so ``airflow config get-value`` shows the
expanded path. :func:`get_setting` is the one place the package reads these options; it works in
every Airflow process (CLI, dag-processor, task) and falls back to the documented default when the
provider's configuration is not loaded.
"""

from __future__ import annotations

import os
from typing import Any

SECTION = "dististage"

OPTIONS: dict[str, dict[str, Any]] = {
    "store": {
        "description": (
            "Where steps exchange batches while a run streams: a local folder or any fsspec URL"
            " (memory://, s3://, gs://, ...). Data lands under <store>/<dag_id>/<run_id>/<step>/."
        ),
        "version_added": "0.1.0",
        "type": "string",
        "example": "s3://my-bucket/dististage/store",
        "default": "{AIRFLOW_HOME}/dististage/store",
    },
    "output": {
        "description": (
            "Where each run writes its Distiset: <output>/<dag_id>/<run_id>/. A local folder or any"
            " fsspec URL. Each run publishes an Airflow Asset for it."
        ),
        "version_added": "0.1.0",
        "type": "string",
        "example": "s3://my-bucket/dististage/output",
        "default": "{AIRFLOW_HOME}/dististage/output",
    },
    "gpu_pool": {
        "description": (
            "The Airflow pool that gates steps declaring GPUs; a step takes one slot per GPU per"
            " replica. Create or resize it with `airflow dististage pools sync`."
        ),
        "version_added": "0.1.0",
        "type": "string",
        "example": "dististage_gpu",
        "default": "dististage_gpu",
    },
    "store_conn_id": {
        "description": (
            "The Airflow connection (its id) whose credentials and endpoint open store and output"
            " when they are object-storage URLs (s3://, gs://, abfs://, ...), in the tasks and in the"
            " run view. Unset by default: fsspec's own configuration (environment, instance roles)."
        ),
        "version_added": "0.1.0",
        "type": "string",
        "example": "dististage_s3",
        "default": None,
    },
    "gpus": {
        "description": (
            "The GPUs one load stage may use when a pipeline is compiled with load_groups=\"auto\""
            " and no gpus= (usually the GPU pool's size). Unset by default: such a compile then fails"
            " asking for it."
        ),
        "version_added": "0.1.0",
        "type": "integer",
        "example": "8",
        "default": None,
    },
}


def default_value(key: str) -> str | None:
    """The documented default of option ``key``, with ``{AIRFLOW_HOME}`` expanded (None: unset)."""
    airflow_home = os.path.expanduser(os.environ.get("AIRFLOW_HOME", "~/airflow"))
    default = _option(key)["default"]
    return None if default is None else default.format(AIRFLOW_HOME=airflow_home)


def get_setting(key: str) -> str | None:
    """The value of ``[dististage] <key>`` (airflow.cfg or ``AIRFLOW__DISTISTAGE__<KEY>``), else its
    default (None for an option without one)."""
    _option(key)
    from airflow.configuration import conf

    return conf.get(SECTION, key, fallback=default_value(key))


def _option(key: str) -> dict[str, Any]:
    if key not in OPTIONS:
        raise KeyError(f"[{SECTION}] has no option {key!r}; options: {sorted(OPTIONS)}.")
    return OPTIONS[key]
