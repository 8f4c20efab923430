"""The data the loader tests read: a parquet "hub" folder, saved datasets, a Distiset and files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airflow_dististage.distiset import Distiset

ROWS = [{"id": i, "text": f"t{i}"} for i in range(7)]


def write_loader_data(root: Path) -> Path:
    """The loaders' data under ``root``: a parquet "hub" folder, saved datasets, a Distiset and files."""
    from datasets import Dataset, DatasetDict

    train, test = Dataset.from_list(ROWS), Dataset.from_list([{"id": 100, "text": "test"}])
    (root / "hub").mkdir(parents=True)
    train.to_parquet(str(root / "hub" / "train.parquet"))
    test.to_parquet(str(root / "hub" / "test.parquet"))
    train.save_to_disk(str(root / "saved"))
    DatasetDict({"train": train, "test": test}).save_to_disk(str(root / "saved_dict"))
    Distiset({"default": DatasetDict({"train": train}), "other": DatasetDict({"train": test})}).save_to_disk(
        root / "distiset"
    )
    (root / "files" / "more").mkdir(parents=True)
    _write_jsonl(root / "files" / "a.jsonl", ROWS[:4])
    _write_jsonl(root / "files" / "more" / "b.jsonl", ROWS[4:])
    _write_jsonl(root / "rows.txt", ROWS)
    train.to_csv(str(root / "rows.csv"), index=False)
    train.to_parquet(str(root / "rows.parquet"))
    return root


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
