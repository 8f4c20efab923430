"""``structured_output``: generations constrained to a JSON schema (or a regex), as distilabel has it.

An LLM that supports it takes ``structured_output={"format": "json", "schema": ...}`` where the
schema is a JSON schema dict, its JSON text, or a pydantic model class; ``"format"`` may be left out
(a dict or class means ``"json"``, a string ``"regex"``, as in distilabel). The value is normalised
when the LLM is built: the schema becomes a plain JSON-schema dict (a pydantic class through its
``model_json_schema()``, so nothing imports pydantic here), which is what fingerprints, Airflow
Params and run confs see. Each generation is then the JSON text (or the text matching the regex).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Callable, ClassVar, Dict, List, Optional, Tuple

from airflow_dististage.mixins.runtime_parameters import Field, RuntimeParameter, suggest

DEFAULT_MAX_RETRIES = 3
"""Regenerations of a generation that does not match (``structured_output["max_retries"]``)."""

Sample = Tuple[str, Optional[int]]
"""A generated text and its number of output tokens."""


class StructuredOutputMixin:
    """Gives an LLM the ``structured_output`` runtime parameter, checked and normalised on every change.

    The LLM lists the formats it can enforce in ``_structured_output_formats`` and the keys it
    honours besides ``format`` and ``schema`` in ``_structured_output_options``; anything else is an
    error naming the LLM and the key.
    """

    _structured_output_formats: ClassVar[Tuple[str, ...]] = ("json",)
    _structured_output_options: ClassVar[Tuple[str, ...]] = ()

    structured_output: RuntimeParameter[Dict[str, Any]] = Field(
        default=None,
        description='Constrains generations: {"format": "json", "schema": <JSON schema>} (or "regex").',
    )

    def _validate_attributes(self) -> None:
        super()._validate_attributes()  # type: ignore[misc]
        self.structured_output = normalise_structured_output(
            type(self).__name__,
            self.structured_output,
            self._structured_output_formats,
            self._structured_output_options,
        )


def normalise_structured_output(
    owner: str, value: Any, formats: Tuple[str, ...], options: Tuple[str, ...] = ()
) -> Optional[Dict[str, Any]]:
    """``{"format": ..., "schema": ..., <options>}`` with a JSON-schema dict or a regex string.

    Raises:
        TypeError: ``value`` or its schema has the wrong type.
        ValueError: an unknown key, a format ``owner`` cannot enforce, an invalid schema or regex.
    """
    if value is None:
        return None
    where = f"{owner}.structured_output"
    if not isinstance(value, Mapping):
        raise TypeError(f"{where} must be a dict such as {{'format': 'json', 'schema': ...}}, got {value!r}.")
    allowed = ("format", "schema", *options)
    for key in value:
        if key not in allowed:
            raise ValueError(
                f"{where} has the key {key!r}, which {owner} does not use.{suggest(str(key), allowed)}"
                f" Its keys: {list(allowed)}."
            )
    schema = value.get("schema")
    if schema is None:
        raise ValueError(f"{where} needs a 'schema' (a JSON schema, a pydantic model class or a regex).")
    form = value.get("format") or ("regex" if isinstance(schema, str) else "json")
    if form not in formats:
        raise ValueError(f"{owner} enforces structured_output format(s) {list(formats)}, not {form!r}.")
    normalised: Dict[str, Any] = {
        "format": form,
        "schema": _json_schema(where, schema) if form == "json" else _regex(where, schema),
    }
    for key in options:
        if key in value:
            normalised[key] = _option(where, key, value[key])
    return normalised


def _json_schema(where: str, schema: Any) -> Dict[str, Any]:
    if isinstance(schema, type) and callable(getattr(schema, "model_json_schema", None)):
        schema = schema.model_json_schema()  # a pydantic model class
    elif isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except ValueError as error:
            raise ValueError(f"{where}['schema'] is a string but not JSON: {error}.") from None
    if not isinstance(schema, Mapping):
        raise TypeError(
            f"{where}['schema'] must be a JSON schema (dict or JSON text) or a pydantic model class,"
            f" got {type(schema).__name__}."
        )
    try:
        schema = json.loads(json.dumps(schema))
    except (TypeError, ValueError) as error:
        raise TypeError(f"{where}['schema'] is not plain JSON: {error}.") from None
    from jsonschema import exceptions, validators

    try:
        validators.validator_for(schema).check_schema(schema)
    except exceptions.SchemaError as error:
        raise ValueError(f"{where}['schema'] is not a valid JSON schema: {error.message}.") from None
    return schema


def _regex(where: str, pattern: Any) -> str:
    if not isinstance(pattern, str):
        raise TypeError(f"{where}['schema'] must be a regex string for format 'regex', got {pattern!r}.")
    try:
        re.compile(pattern)
    except re.error as error:
        raise ValueError(f"{where}['schema'] is not a valid regex: {error}.") from None
    return pattern


def _option(where: str, key: str, value: Any) -> Any:
    if key == "max_retries" and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise ValueError(f"{where}['max_retries'] must be an integer >= 0, got {value!r}.")
    if key == "whitespace_pattern" and not isinstance(value, str):
        raise TypeError(f"{where}['whitespace_pattern'] must be a regex string, got {value!r}.")
    return value


def json_schema_response_format(structured_output: Dict[str, Any]) -> Dict[str, Any]:
    """The OpenAI ``response_format`` asking for JSON matching a normalised ``structured_output``."""
    schema = structured_output["schema"]
    name = re.sub(r"[^A-Za-z0-9_-]", "_", str(schema.get("title") or "structured_output"))[:64]
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}


class OutputChecker:
    """Tells whether a text matches a normalised ``structured_output`` (JSON schema or regex)."""

    def __init__(self, structured_output: Dict[str, Any]) -> None:
        self._format = structured_output["format"]
        schema = structured_output["schema"]
        if self._format == "json":
            from jsonschema import validators

            self._validator = validators.validator_for(schema)(schema)
        else:
            self._pattern = re.compile(schema)

    def problem(self, text: Optional[str]) -> Optional[str]:
        """Why ``text`` does not match, or ``None`` when it does."""
        if text is None:
            return "no text"
        if self._format == "regex":
            return None if self._pattern.fullmatch(text) else f"does not match the regex {self._pattern.pattern!r}"
        try:
            value = json.loads(text)
        except ValueError as error:
            return f"not JSON ({error})"
        from jsonschema.exceptions import best_match

        error = best_match(self._validator.iter_errors(value))
        if error is None:
            return None
        where = "".join(f"[{part!r}]" for part in error.absolute_path)
        return f"does not match the schema{' at ' + where if where else ''}: {error.message}"


def retry_until_valid(
    owner: str,
    checker: OutputChecker,
    samples: List[List[Sample]],
    resample: Callable[[List[int], int], List[Sample]],
    max_retries: int,
) -> Tuple[List[List[Optional[Sample]]], List[Optional[str]]]:
    """Regenerates each sample ``checker`` rejects, up to ``max_retries`` rounds.

    ``samples`` holds each row's samples; ``resample(rows, attempt)`` returns one new sample per
    entry of ``rows`` (a row appears once per sample it needs). Samples still rejected after the
    last round become ``None``, and their row gets an error naming ``owner``.

    Returns:
        The rows' samples, and per row ``None`` or its error.
    """
    rows: List[List[Optional[Sample]]] = [list(row) for row in samples]
    problems = {
        (row, index): problem
        for row, row_samples in enumerate(rows)
        for index, sample in enumerate(row_samples)
        if (problem := checker.problem(sample[0])) is not None
    }
    for attempt in range(1, max_retries + 1):
        if not problems:
            break
        keys = sorted(problems)
        for key, sample in zip(keys, resample([row for row, _ in keys], attempt)):
            rows[key[0]][key[1]] = sample
            problem = checker.problem(sample[0])
            if problem is None:
                del problems[key]
            else:
                problems[key] = problem
    errors: List[Optional[str]] = [None] * len(rows)
    for (row, index), problem in sorted(problems.items()):
        rows[row][index] = None
        failed = sum(1 for key in problems if key[0] == row)
        errors[row] = (
            f"{owner}: {failed} of {len(rows[row])} generation(s) did not match structured_output after"
            f" {max_retries + 1} attempt(s); the last one {problem}"
        )
    return rows, errors
