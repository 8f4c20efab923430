"""An isolated AIRFLOW_HOME for the provider tests (Airflow reads it once, at its first import)."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="dististage-provider-airflow-"))
