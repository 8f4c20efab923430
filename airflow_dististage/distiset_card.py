"""The ``README.md`` dataset card a saved Distiset carries, written without Hugging Face's card classes.

Like distilabel's card: YAML metadata (``size_categories``, ``tags``), a summary pointing at
``pipeline.yaml``, and one example row per configuration, with long lists cut to ten items.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

TAGS = ["synthetic", "distilabel", "airflow-dististage"]
_SIZE_CATEGORIES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
)
_LIST_ITEMS_SHOWN = 10


def size_category(rows: int) -> str:
    """The Hub's ``size_categories`` value for a dataset of ``rows`` rows (``n<1K``, ``1K<n<10K``...)."""
    for limit, category in _SIZE_CATEGORIES:
        if rows < limit:
            return category
    return "n>1B"


def render_card(
    name: str, rows: Mapping[str, int], examples: Mapping[str, dict[str, Any] | None], has_pipeline: bool
) -> str:
    """The card of the Distiset ``name``: ``rows`` and an example row (None: no rows) per configuration."""
    import yaml

    metadata = yaml.safe_dump(
        {"size_categories": size_category(max(rows.values(), default=0)), "tags": TAGS}, sort_keys=False
    )
    lines = [
        "---", metadata.rstrip(), "---", "",
        f"# Dataset Card for {name}", "",
        "This dataset was created with airflow-dististage: a"
        " [distilabel](https://github.com/argilla-io/distilabel)-style pipeline, run on Apache Airflow"
        " or on one machine.", "",
        "## Dataset Summary", "",
    ]
    if has_pipeline:
        lines += ["`distiset_configs/pipeline.yaml` holds the configuration of the pipeline that generated it"
                  " (`Pipeline.from_yaml` builds it again).", ""]
    lines += ["## Dataset structure", "", "The examples have the following structure per configuration:", ""]
    for config, example in examples.items():
        lines += [f"<details><summary> Configuration: {config} ({rows[config]} rows) </summary><hr>", ""]
        if example is None:
            lines += ["This configuration has no rows.", ""]
        else:
            lines += ["```json", json.dumps(_shortened(example), indent=4, ensure_ascii=False, default=str), "```", ""]
        lines += ["</details>", ""]
    return "\n".join(lines)


def _shortened(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with each list longer than ten items cut to ten, and a note of how many there were."""
    shown = {}
    for key, value in row.items():
        if isinstance(value, list) and len(value) > _LIST_ITEMS_SHOWN:
            value = [*value[:_LIST_ITEMS_SHOWN], f"... (truncated - showing 10 of {len(value)} elements)"]
        shown[key] = value
    return shown
