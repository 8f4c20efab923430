"""``RemoteLLM``: the base of LLMs behind an HTTP API (OpenAI-compatible servers, TGI).

Requests run concurrently (``max_concurrency`` at a time for the step replica, across the input
batches it has in flight, see :class:`AsyncLLM`); each is retried with exponential backoff on
408/409/429/5xx, timeouts and connection errors. ``max_requests_per_minute`` and
``max_tokens_per_minute`` pace the requests on the client side, and a 429 pauses all of them for its
``Retry-After`` and lowers the concurrency for a while (see
:class:`~airflow_dististage.llms.request_gate.RequestGate`). A row whose retries
run out gets ``None`` generations and its error, instead of failing the batch. Refused credentials
(401/403) or an unknown model (404) fail the step: every row would fail the same way. The
credential never shows in errors or logs.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable
from typing import Any, Callable, ClassVar, Optional, TypeVar

from airflow_dististage.llms.async_llm import AsyncLLM
from airflow_dististage.llms.base import FatalLLMError, GenerationError
from airflow_dististage.llms.request_gate import RequestGate
from airflow_dististage.llms.secret import Secret
from airflow_dististage.mixins.runtime_parameters import Field, RuntimeParameter

logger = logging.getLogger(__name__)

_RETRYABLE_STATUS = (408, 409, 429)
_FATAL_STATUS = (401, 403, 404)
_MAX_BACKOFF_SECONDS = 60.0
DEFAULT_MAX_CONCURRENCY = 96
"""Requests in flight per step replica by default: at 200 ms a request, at most 480 rows/s."""
_T = TypeVar("_T")


class RemoteLLM(AsyncLLM):
    """An :class:`AsyncLLM` sending HTTP requests, with timeouts, retries and a secret kept out of logs.

    Subclasses open ``_client`` and set ``_secret`` in ``load()``, say in ``_credentials_hint`` where
    the key comes from, and tell transient transport errors apart in ``_is_transient``.

    Args:
        api_key: the key (a string or pydantic ``SecretStr``), kept as a :class:`Secret`; prefer the
            environment or a connection, so that the DAG file holds no secret.
        max_concurrency: most requests in flight at once (per step replica).
        max_requests_per_minute: most requests sent per minute (per step replica); None: no limit.
        max_tokens_per_minute: most tokens (input + output) per minute (per step replica), counted as
            the server reports them and estimated before each request; None: no limit.
        timeout: seconds one request may take.
        max_retries: retries of a request after its first attempt.
        retry_backoff: seconds before the first retry; doubles with each retry (at most 60 s).
    """

    _credentials_hint: ClassVar[str] = "the API key"
    _secret: Optional[Secret] = None

    api_key: Optional[Any] = None
    max_concurrency: RuntimeParameter[int] = Field(
        default=DEFAULT_MAX_CONCURRENCY, description="Most requests in flight at once."
    )
    max_requests_per_minute: RuntimeParameter[float] = Field(
        default=None, description="Most requests sent per minute (None: no limit)."
    )
    max_tokens_per_minute: RuntimeParameter[float] = Field(
        default=None, description="Most tokens (input + output) per minute (None: no limit)."
    )
    timeout: RuntimeParameter[float] = Field(default=120.0, description="Seconds one request may take.")
    max_retries: RuntimeParameter[int] = Field(default=6, description="Retries of a failed request.")
    retry_backoff: RuntimeParameter[float] = Field(
        default=1.0, description="Seconds before the first retry; doubles with each retry."
    )

    def _post_init(self) -> None:
        if self.api_key is not None:
            self.api_key = Secret(self.api_key)
        self._client: Any = None
        super()._post_init()

    def _validate_attributes(self) -> None:
        super()._validate_attributes()
        name = type(self).__name__
        if not isinstance(self.max_retries, int) or isinstance(self.max_retries, bool) or self.max_retries < 0:
            raise ValueError(f"{name}.max_retries must be an integer >= 0, got {self.max_retries!r}.")
        if not isinstance(self.timeout, (int, float)) or self.timeout <= 0:
            raise ValueError(f"{name}.timeout must be a positive number of seconds, got {self.timeout!r}.")
        if not isinstance(self.retry_backoff, (int, float)) or self.retry_backoff < 0:
            raise ValueError(f"{name}.retry_backoff must be a number of seconds >= 0, got {self.retry_backoff!r}.")
        for field in ("max_requests_per_minute", "max_tokens_per_minute"):
            rate = getattr(self, field)
            if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0):
                raise ValueError(f"{name}.{field} must be None or a number > 0, got {rate!r}.")

    def _new_request_gate(self) -> RequestGate:
        return RequestGate(self.max_concurrency, self.max_requests_per_minute, self.max_tokens_per_minute)

    def _describe_error(self, error: BaseException) -> str:
        text = super()._describe_error(error)
        return self._secret.scrub(text) if self._secret is not None else text

    def _is_transient(self, error: BaseException) -> bool:
        """Whether ``error`` is a timeout or a connection problem worth retrying."""
        return isinstance(error, (TimeoutError, ConnectionError))

    def _fatal_reason(self, error: BaseException) -> Optional[str]:
        """Why ``error`` would fail every row alike (so the step fails), or ``None``."""
        status = _http_status(error)
        if status not in _FATAL_STATUS:
            return None
        return (
            f"{type(self).__name__} model {self.model_name!r}: the server refused the request with {status}"
            f" ({self._describe_error(error)}). Check the model name and the credentials"
            f" ({self._credentials_hint})."
        )

    def _used_tokens(self, response: Any) -> Optional[int]:
        """Input plus output tokens the server reports for ``response`` (None: it reports none)."""
        return None

    async def _send(self, request: Callable[[], Awaitable[_T]], estimated_tokens: int = 0) -> _T:
        """``await request()``, paced by the request gate and retried as the module docstring says.

        Each attempt waits for the gate's pause and rates (booking ``estimated_tokens``, corrected
        by :meth:`_used_tokens` once answered); a 429 pauses the gate for its ``Retry-After``.

        Raises:
            FatalLLMError: the server refused the credentials or does not know the model.
            GenerationError: this request failed for good (the message is free of the secret).
        """
        gate = self.request_gate()
        attempts = self.max_retries + 1
        for attempt in range(1, attempts + 1):
            await gate.pace(estimated_tokens)
            try:
                response = await request()
            except Exception as error:  # noqa: BLE001 - sorted below
                reason = self._fatal_reason(error)
                if reason is not None:
                    raise FatalLLMError(reason) from None
                status = _http_status(error)
                gate.settle(estimated_tokens, 0)
                retryable = status in _RETRYABLE_STATUS or (status or 0) >= 500 or self._is_transient(error)
                if not retryable:
                    raise GenerationError(self._describe_error(error)) from None
                failure: Exception = error
            else:
                gate.settle(estimated_tokens, self._used_tokens(response))
                gate.succeeded()
                return response
            delay = self._backoff(attempt, failure)
            if status == 429:
                retry_after = _retry_after(failure)
                gate.throttled(delay if retry_after is None else retry_after)
            if attempt == attempts:
                break
            logger.warning(
                "%s %s: attempt %d/%d failed (%s); retrying in %.2f s.",
                type(self).__name__, self.model_name, attempt, attempts, self._describe_error(failure), delay,
            )
            await asyncio.sleep(delay)
        raise GenerationError(f"{self._describe_error(failure)} (after {attempts} attempts)")

    def _backoff(self, attempt: int, error: Exception) -> float:
        delay = min(self.retry_backoff * 2 ** (attempt - 1), _MAX_BACKOFF_SECONDS)
        delay *= 0.5 + random.random() / 2  # noqa: S311 - jitter, not cryptography
        retry_after = _retry_after(error)
        return delay if retry_after is None else max(delay, retry_after)


def _retry_after(error: BaseException) -> float | None:
    """The seconds a response's ``Retry-After`` asks for (at most 60), or None (absent, or an HTTP date)."""
    response = _response(error)
    value = response.headers.get("retry-after") if response is not None else None
    if not value:
        return None
    try:
        return min(max(float(value), 0.0), _MAX_BACKOFF_SECONDS)
    except ValueError:
        return None


def estimate_tokens(chat: Any, max_new_tokens: int | None, num_generations: int = 1) -> int:
    """Tokens a request will use, guessed before it is sent: a token per 4 characters of the chat,
    plus ``max_new_tokens`` per generation (an upper bound on the output)."""
    characters = sum(len(str(message.get("content") or "")) for message in chat)
    return characters // 4 + 1 + (max_new_tokens or 0) * num_generations


def _response(error: BaseException) -> Any:
    """The HTTP response an error carries, on itself or on the error it was raised from."""
    for candidate in (error, error.__cause__):
        response = getattr(candidate, "response", None)
        if response is not None and hasattr(response, "status_code"):
            return response
    return None


def _http_status(error: BaseException) -> int | None:
    response = _response(error)
    return response.status_code if response is not None else None
