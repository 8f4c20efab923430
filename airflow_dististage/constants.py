"""Names shared across the package, as in ``distilabel.constants``."""

from __future__ import annotations

from typing import Final

DISTILABEL_METADATA_KEY: Final[str] = "distilabel_metadata"
"""The column where steps keep per-row metadata (raw inputs and outputs, token statistics, errors)."""
