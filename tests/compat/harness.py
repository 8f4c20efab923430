"""Runs a corpus pipeline and turns its Distiset into comparable JSON; shared by the recorder and the test.

Standard library only (plus what the pipelines import), so it runs both in distilabel's own virtual
environment (``record.py``) and in ours (``test_distilabel_compat.py``), where the pipelines are
first copied with their imports renamed (:func:`copy_pipelines`).

Each pipeline module exposes ``main(workdir) -> Distiset``; it may set ``UNORDERED_CONFIGS``, the
configurations whose row order distilabel does not fix (several replicas of a step): their rows are
sorted by their JSON text. Nothing else is normalised.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

PIPELINES_DIR = Path(__file__).resolve().parent / "pipelines"
DATA_DIR = Path(__file__).resolve().parent / "data"
RECORDED_DIR = Path(__file__).resolve().parent / "recorded"

_DISTILABEL_IMPORT = re.compile(r"^(\s*(?:from|import)\s+)distilabel(?=[.\s])", re.MULTILINE)


def pipeline_names() -> list[str]:
    """The corpus pipelines: every module of ``pipelines/`` that defines ``main``."""
    return sorted(
        path.stem
        for path in PIPELINES_DIR.glob("*.py")
        if re.search(r"^def main\(", path.read_text(), re.MULTILINE)
    )


def rename_imports(source: str, package: str = "airflow_dististage") -> str:
    """``source`` with ``distilabel`` replaced by ``package`` in its import statements, and nowhere else."""
    return _DISTILABEL_IMPORT.sub(lambda match: match.group(1) + package, source)


def copy_pipelines(target: Path, package: str | None = "airflow_dististage") -> Path:
    """Copies ``pipelines/`` to ``target`` (imports renamed to ``package`` unless it is None) and ``data/``
    next to it, where the pipelines find their files (``Path(__file__).parent.parent / "data"``)."""
    shutil.copytree(DATA_DIR, target.parent / "data", dirs_exist_ok=True)
    target.mkdir(parents=True, exist_ok=True)
    for path in PIPELINES_DIR.glob("*.py"):
        source = path.read_text()
        (target / path.name).write_text(source if package is None else rename_imports(source, package))
    return target


def load_module(pipelines: Path, name: str) -> Any:
    """Imports pipeline ``name`` from the folder ``pipelines`` (which goes first on ``sys.path``)."""
    if str(pipelines) not in sys.path:
        sys.path.insert(0, str(pipelines))
    module_name = f"compat_pipeline_{name}"
    spec = importlib.util.spec_from_file_location(module_name, pipelines / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # distilabel pickles the steps' classes by module name
    spec.loader.exec_module(module)
    return module


def distiset_to_json(distiset: Any, unordered: tuple[str, ...] = ()) -> dict[str, Any]:
    """``{config: {split: {"columns", "types", "rows"}}}``, configs and splits sorted by name.

    ``types`` are the Arrow types of the columns as text; ``rows`` are in the Distiset's order, except in
    the ``unordered`` configs, where they are sorted by their JSON text.
    """
    result: dict[str, Any] = {}
    for config in sorted(distiset):
        splits = {}
        for split in sorted(distiset[config]):
            dataset = distiset[config][split]
            rows = dataset.to_list()
            if config in unordered:
                rows.sort(key=lambda row: json.dumps(row, sort_keys=True))
            schema = dataset.data.schema
            splits[split] = {
                "columns": list(dataset.column_names),
                "types": {field.name: str(field.type) for field in schema},
                "rows": rows,
            }
        result[config] = splits
    return result


def run(pipelines: Path, name: str, workdir: Path) -> dict[str, Any]:
    """Runs pipeline ``name`` of the folder ``pipelines`` in ``workdir``; its Distiset as JSON."""
    module = load_module(pipelines, name)
    workdir.mkdir(parents=True, exist_ok=True)
    distiset = module.main(str(workdir))
    return distiset_to_json(distiset, tuple(getattr(module, "UNORDERED_CONFIGS", ())))


def dumps(result: dict[str, Any]) -> str:
    """The recorded file's text: stable, readable JSON."""
    return json.dumps(result, indent=1, ensure_ascii=False, sort_keys=False) + "\n"


if __name__ == "__main__":
    # python harness.py <pipelines folder> <name> <workdir> <output.json>
    folder, pipeline, work, output = sys.argv[1:5]
    shutil.rmtree(work, ignore_errors=True)
    Path(output).write_text(dumps(run(Path(folder), pipeline, Path(work))))
