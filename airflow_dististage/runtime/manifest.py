"""The run manifest: what a reader needs to find a run's steps in the store without the pipeline's code.

``<url>/<pipeline>/<run>/manifest.json`` holds the run's execution plan (stages, steps, replicas,
GPUs per replica) and each step's lineage fingerprint, the folder its files live in. Fingerprints
depend on the run's parameters, so only the run itself can tell them; every step execution of a
run publishes the same manifest before it runs (the local runner once per run), and a reader such
as the api-server's run view (:mod:`airflow_dististage.runtime.run_report`) needs no DAG file.
It holds no step configuration, so no credential or parameter value.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_dististage.planning import ExecutionPlan, StagePlan, StepPlan

if TYPE_CHECKING:
    from airflow_dististage.runtime.store import BatchStore

MANIFEST_NAME = "manifest.json"
"""Its file name in the run folder; step folders never contain a dot, so it cannot clash with one."""
_FORMAT = 1


@dataclass(frozen=True)
class RunManifest:
    """A run's plan and the lineage fingerprint of each of its steps."""

    plan: ExecutionPlan
    fingerprints: dict[str, str]


def manifest_path(store: BatchStore) -> str:
    """Where ``store``'s run keeps its manifest."""
    return f"{store.run_path}/{MANIFEST_NAME}"


def encode_manifest(plan: ExecutionPlan, fingerprints: Mapping[str, str]) -> bytes:
    """The manifest's bytes: deterministic for a given plan and fingerprints (stages and steps in plan order)."""
    payload = {
        "format": _FORMAT,
        "pipeline_name": plan.pipeline_name,
        "stages": [dataclasses.asdict(stage) for stage in plan.stages],
        "steps": [dataclasses.asdict(step) for step in plan.steps.values()],
        "fingerprints": {name: fingerprints[name] for name in plan.steps},
    }
    return json.dumps(payload).encode()


def write_run_manifest(store: BatchStore, plan: ExecutionPlan, fingerprints: Mapping[str, str]) -> None:
    """Publishes the manifest of ``store``'s run; a manifest that already says the same is left alone."""
    data = encode_manifest(plan, fingerprints)
    path = manifest_path(store)
    if store.read(path) != data:
        store.write_atomic(path, data)


def read_run_manifest(store: BatchStore) -> RunManifest | None:
    """The manifest of ``store``'s run, or None when no step of the run has published one yet.

    Raises:
        ValueError: the file is not a manifest this version can read.
    """
    data = store.read(manifest_path(store))
    if data is None:
        return None
    try:
        payload = json.loads(data)
        if payload.get("format") != _FORMAT:
            raise ValueError(f"format {payload.get('format')!r}, expected {_FORMAT}")
        steps = {entry["name"]: _build(StepPlan, entry) for entry in payload["steps"]}
        plan = ExecutionPlan(
            pipeline_name=payload["pipeline_name"],
            stages=tuple(_build(StagePlan, entry) for entry in payload["stages"]),
            steps=steps,
        )
        return RunManifest(plan=plan, fingerprints={name: payload["fingerprints"][name] for name in steps})
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{manifest_path(store)} is not a readable run manifest: {error}") from None


def _build(cls: type, entry: Mapping[str, Any]) -> Any:
    """``cls`` from its ``asdict`` form (JSON lists back to tuples)."""
    values = {field.name: entry[field.name] for field in dataclasses.fields(cls)}
    return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in values.items()})
