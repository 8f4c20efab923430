"""``Secret``: a credential that never shows in reprs, logs or step fingerprints."""

from __future__ import annotations

from typing import Any

_MASK = "**********"


class Secret:
    """Holds a credential; ``repr``/``str`` show a mask, ``reveal()`` gives the value.

    Accepts a plain string or anything with ``get_secret_value()`` (pydantic's ``SecretStr``).
    """

    __slots__ = ("_value",)

    def __init__(self, value: Any) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        elif hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        if not isinstance(value, str) or not value:
            raise TypeError("A secret must be a non-empty string (or a pydantic SecretStr).")
        self._value = value

    def reveal(self) -> str:
        """The credential itself; only pass it to the client that needs it."""
        return self._value

    def scrub(self, text: str) -> str:
        """``text`` with every occurrence of the credential masked."""
        return text.replace(self._value, _MASK)

    def __repr__(self) -> str:
        return f"Secret('{_MASK}')"

    __str__ = __repr__
