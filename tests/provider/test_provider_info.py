"""The provider as Airflow discovers it: entry point, provider info, config section and CLI group."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import distribution, entry_points
from pathlib import Path

import pytest

from airflow_dististage.provider import get_provider_info, get_setting
from airflow_dististage.provider.config import default_value

CLI_TIMEOUT_S = 120


def _airflow(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    return subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        env={**clean, "AIRFLOW_HOME": str(home), **env},
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=True,
    )


def test_entry_point_returns_this_provider_for_this_distribution() -> None:
    ours = [ep for ep in entry_points(group="apache_airflow_provider") if ep.dist.name == "airflow-dististage"]
    (entry_point,) = ours
    info = entry_point.load()()
    assert info == get_provider_info()
    assert info["package-name"] == distribution("airflow-dististage").metadata["Name"]
    assert info["versions"] == [distribution("airflow-dististage").version]


def test_config_section_documents_every_option() -> None:
    options = get_provider_info()["config"]["dististage"]["options"]
    assert sorted(options) == ["gpu_pool", "gpus", "output", "store", "store_conn_id"]
    for name, option in options.items():
        assert {"description", "type", "default", "example", "version_added"} <= set(option), name
    assert options["gpu_pool"]["default"] == "dististage_gpu"
    assert options["gpus"]["default"] is None and options["gpus"]["type"] == "integer"
    assert options["store_conn_id"]["default"] is None


def test_setting_defaults_follow_airflow_home_and_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    home = os.environ["AIRFLOW_HOME"]
    assert default_value("store") == f"{home}/dististage/store"
    assert get_setting("output") == f"{home}/dististage/output"
    monkeypatch.setenv("AIRFLOW__DISTISTAGE__GPU_POOL", "a100s")
    assert get_setting("gpu_pool") == "a100s"
    assert get_setting("gpus") is None and get_setting("store_conn_id") is None
    monkeypatch.setenv("AIRFLOW__DISTISTAGE__GPUS", "4")
    assert get_setting("gpus") == "4"
    with pytest.raises(KeyError, match="'slots'.*options: \\['gpu_pool', 'gpus', 'output', 'store', 'store_conn_id'\\]"):
        get_setting("slots")


def test_airflow_cli_sees_the_provider_its_config_and_its_commands(tmp_path: Path) -> None:
    assert _airflow("config", "get-value", "dististage", "gpu_pool", home=tmp_path).stdout.strip() == "dististage_gpu"
    store = _airflow("config", "get-value", "dististage", "store", home=tmp_path).stdout.strip()
    assert store == f"{tmp_path}/dististage/store"
    providers = _airflow("providers", "list", "--output", "json", home=tmp_path).stdout
    assert '"package_name": "airflow-dististage"' in providers
    usage = _airflow("dististage", "--help", home=tmp_path).stdout
    assert "plan" in usage and "pools" in usage
