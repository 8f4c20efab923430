"""An Airflow plugin that lets tasks read a pool's size: ``GET <api>/dististage/pools/<name>``.

(:data:`airflow_dististage.provider.POOL_SIZE_ROUTE`; the compiled DAG's GPU-pool check calls it.)

Tasks cannot query pools themselves (Airflow 3 blocks the ORM in tasks, the Execution API has no
pool route, and the public REST API needs a user token), yet a run must fail fast when its GPU pool
is missing or too small. The api-server mounts this small app; its one read-only route answers
``{"name": ..., "slots": N}``, or 404 with ``{"name": ..., "slots": null, "detail": ...}`` for a
missing pool. The ``slots`` key is what tells the check it reached this plugin and not, say, the
UI's catch-all page.

The route is unauthenticated by design: tasks hold no API token, and it tells only a pool's name
and size (no other pool data, no write access). Expose the api-server accordingly.
Registered through the ``airflow.plugins`` entry point.
"""

from __future__ import annotations

import functools
from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/dististage"


@functools.cache
def create_pool_app() -> Any:
    """The FastAPI app with the ``/pools/{name}`` route (one per process)."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI(title="airflow-dististage", description="Pool sizes for airflow-dististage tasks.")

    @app.get("/pools/{name}")
    def pool_size(name: str) -> Any:
        from airflow_dististage.provider.pools import read_pool

        pool = read_pool(name)
        if pool.slots is None:
            body = {"name": name, "slots": None, "detail": f"Pool {name!r} does not exist."}
            return JSONResponse(status_code=404, content=body)
        return {"name": pool.name, "slots": pool.slots}

    return app


class DististagePlugin(AirflowPlugin):
    """Mounts :func:`create_pool_app` at ``/dististage`` on the api-server."""

    name = "dististage"

    @property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        # Built on first use only: every task process loads the plugins too, and needs no web app.
        return [{"app": create_pool_app(), "url_prefix": URL_PREFIX, "name": "airflow-dististage pool sizes"}]
