"""Row combination shared by ``GroupColumns`` and ``CombineOutputs``: one row from the rows at the
same position of several predecessors, their ``distilabel_metadata`` merged."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from airflow_dististage.constants import DISTILABEL_METADATA_KEY
from airflow_dististage.steps.base import Step

Row = Dict[str, Any]

logger = logging.getLogger(__name__)


def merge_distilabel_metadata(*rows: Mapping[str, Any]) -> Union[Dict[str, Any], List[Any]]:
    """The ``distilabel_metadata`` of ``rows`` merged into one, as distilabel merges it.

    Dict metadata merge key by key: a key one row has keeps its value, a key several rows have
    gets the list of their values, in row order. Metadata that is a list (one dict per generation)
    makes the result a list: the lists concatenated, each dict metadata one more entry. Rows
    without metadata (or with ``None``) add nothing.
    """
    metadata = [row[DISTILABEL_METADATA_KEY] for row in rows if row.get(DISTILABEL_METADATA_KEY) is not None]
    if any(isinstance(entry, list) for entry in metadata):
        merged: List[Any] = []
        for entry in metadata:
            merged.extend(entry if isinstance(entry, list) else [entry])
        return merged
    values: Dict[str, List[Any]] = defaultdict(list)
    for entry in metadata:
        for key, value in entry.items():
            values[key].append(value)
    return {key: found[0] if len(found) == 1 else found for key, found in values.items()}


def aligned_rows(step: Step, inputs: Sequence[List[Row]]) -> Iterator[Tuple[Row, ...]]:
    """The rows at each position of the predecessors' batches, up to the shortest batch (as distilabel).

    The rows past it are dropped, as distilabel drops them; the first time it happens the step
    logs a warning naming the batch lengths (a filter on one branch misaligns the rows).
    """
    lengths = [len(batch) for batch in inputs]
    if len(set(lengths)) > 1 and not step.__dict__.get("_warned_unaligned"):
        object.__setattr__(step, "_warned_unaligned", True)
        logger.warning(
            "Step %r received batches of %s rows from its predecessors: it joins row i of each, so the"
            " %d row(s) past the shortest batch are dropped (later such batches are not reported)."
            " Give every predecessor the same rows, in the same order.",
            step.name, lengths, sum(lengths) - min(lengths) * len(lengths),
        )
    return zip(*inputs)


def combine_rows(rows: Sequence[Mapping[str, Any]], grouped: Optional[Mapping[str, str]] = None) -> Row:
    """One row holding every column of ``rows``.

    A column in ``grouped`` becomes, under ``grouped[column]``, the list of its values in row order
    (a row without it adds nothing); any other column takes the value of the last row that has it;
    ``distilabel_metadata`` is merged with :func:`merge_distilabel_metadata`.
    """
    grouped = grouped or {}
    combined: Row = {}
    for row in rows:
        for key, value in row.items():
            if key == DISTILABEL_METADATA_KEY:
                continue
            if key in grouped:
                combined.setdefault(grouped[key], []).append(value)
            else:
                combined[key] = value
    if any(row.get(DISTILABEL_METADATA_KEY) is not None for row in rows):
        combined[DISTILABEL_METADATA_KEY] = merge_distilabel_metadata(*rows)
    return combined
