"""``OpenAILLM``: any OpenAI-compatible chat-completions server (OpenAI, a vLLM server, ...).

Requests run on a thread pool capped at ``max_concurrency``; each is retried with exponential
backoff on 408/409/429/5xx, timeouts and connection errors. A row whose retries run out gets
``None`` generations and its error, instead of failing the batch. Refused credentials (401/403) or
an unknown model (404) fail the step: every row would fail the same way.
"""

from __future__ import annotations

import logging
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional

from airflow_dististage.llms.base import LLM, ChatType, GenerateOutput
from airflow_dististage.llms.secret import Secret
from airflow_dististage.mixins.runtime_parameters import Field, RuntimeParameter

logger = logging.getLogger(__name__)

_RETRYABLE_STATUS = (408, 409, 429)
_FATAL_STATUS = (401, 403, 404)
_MAX_BACKOFF_SECONDS = 60.0


class OpenAILLM(LLM):
    """A model behind an OpenAI-compatible ``/chat/completions`` endpoint.

    Credentials come from ``api_key``, else the password of the Airflow connection ``conn_id``
    (whose host is the base URL, or a host name completed by its schema, port and extra ``path``),
    else ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL``. They are read in ``load()`` (on the worker), and
    never appear in reprs, logs or fingerprints. ``base_url`` is a runtime parameter that only the
    code and ``pipeline.run(parameters=...)`` set, never a run's conf: the key must go nowhere the DAG
    file or the connection did not name.

    Args:
        model: the model name the server knows.
        base_url: the API root, e.g. ``http://127.0.0.1:8000/v1`` (OpenAI's when not set anywhere).
        api_key: the key; prefer ``conn_id`` or the environment so the DAG file holds no secret.
        conn_id: an Airflow connection: password = key, host = base URL (see ``_connection_url``).
        max_concurrency: most requests in flight at once (per step replica).
        timeout: seconds one request may take.
        max_retries: retries of a request after its first attempt.
        retry_backoff: seconds before the first retry; doubles with each retry (at most 60 s).
    """

    model: str
    base_url: RuntimeParameter[str] = Field(
        default=None, run_conf=False, description="The API root URL, e.g. http://host:8000/v1."
    )
    api_key: Optional[Any] = None
    conn_id: Optional[str] = None
    max_concurrency: RuntimeParameter[int] = Field(default=16, description="Most requests in flight at once.")
    timeout: RuntimeParameter[float] = Field(default=120.0, description="Seconds one request may take.")
    max_retries: RuntimeParameter[int] = Field(default=6, description="Retries of a failed request.")
    retry_backoff: RuntimeParameter[float] = Field(
        default=1.0, description="Seconds before the first retry; doubles with each retry."
    )

    def _post_init(self) -> None:
        if self.api_key is not None:
            self.api_key = Secret(self.api_key)
        self._client: Any = None
        self._secret: Secret | None = None
        super()._post_init()

    def _validate_attributes(self) -> None:
        super()._validate_attributes()
        checks = (
            ("max_concurrency", self.max_concurrency, 1),
            ("max_retries", self.max_retries, 0),
        )
        for name, value, minimum in checks:
            if not isinstance(value, int) or value < minimum:
                raise ValueError(f"OpenAILLM.{name} must be an integer >= {minimum}, got {value!r}.")
        if not isinstance(self.timeout, (int, float)) or self.timeout <= 0:
            raise ValueError(f"OpenAILLM.timeout must be a positive number of seconds, got {self.timeout!r}.")
        if not isinstance(self.retry_backoff, (int, float)) or self.retry_backoff < 0:
            raise ValueError(f"OpenAILLM.retry_backoff must be a number of seconds >= 0, got {self.retry_backoff!r}.")

    @property
    def model_name(self) -> str:
        return self.model

    # -- life cycle ----------------------------------------------------------------------
    def load(self) -> None:
        """Resolves the endpoint and credentials and opens the HTTP client."""
        try:
            import openai
        except ImportError as error:
            raise ImportError(
                "OpenAILLM needs the openai package: pip install 'airflow-dististage[openai]'."
            ) from error
        base_url, self._secret = self._resolve_endpoint()
        self._client = openai.OpenAI(
            api_key=self._secret.reveal(), base_url=base_url, timeout=self.timeout, max_retries=0
        )

    def unload(self) -> None:
        """Closes the HTTP client."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _resolve_endpoint(self) -> tuple[str | None, Secret]:
        base_url, secret = self.base_url, self.api_key
        if self.conn_id:
            from airflow.sdk import BaseHook

            connection = BaseHook.get_connection(self.conn_id)
            base_url = base_url or _connection_url(connection)
            if secret is None and connection.password:
                secret = Secret(connection.password)
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        if secret is None and os.environ.get("OPENAI_API_KEY"):
            secret = Secret(os.environ["OPENAI_API_KEY"])
        if secret is None:
            if base_url is None:
                raise ValueError(
                    f"OpenAILLM(model={self.model!r}) has no API key: set conn_id to an Airflow connection"
                    " whose password is the key, or set OPENAI_API_KEY."
                )
            secret = Secret("EMPTY")  # self-hosted servers (vLLM) accept any key unless told otherwise
        return base_url, secret

    # -- generation ----------------------------------------------------------------------
    def generate(  # type: ignore[override]
        self,
        inputs: List[ChatType],
        num_generations: int = 1,
        max_new_tokens: int = 128,
        temperature: float = 1.0,
        top_p: float = 1.0,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        stop: Optional[List[str]] = None,
        seed: Optional[int] = None,
        extra_body: Optional[Dict[str, Any]] = None,
    ) -> List[GenerateOutput]:
        """Sends one chat-completions request per chat, ``max_concurrency`` at a time.

        Args:
            inputs: chats to answer.
            num_generations: generations per chat (the request's ``n``).
            max_new_tokens: most tokens generated per generation (``max_tokens``).
            temperature: sampling temperature.
            top_p: nucleus sampling probability mass.
            frequency_penalty: penalty growing with how often a token was generated.
            presence_penalty: penalty for tokens already generated.
            stop: strings that end a generation.
            seed: sampling seed, for servers that support it.
            extra_body: more JSON fields for the request (e.g. vLLM's top_k).
        """
        if self._client is None:
            raise RuntimeError(f"OpenAILLM model {self.model!r} is not loaded: call load() first.")
        request: dict[str, Any] = {
            "model": self.model,
            "max_tokens": max_new_tokens,
            "temperature": temperature,
            "top_p": top_p,
            "frequency_penalty": frequency_penalty,
            "presence_penalty": presence_penalty,
        }
        optional = {
            "n": num_generations if num_generations > 1 else None,
            "stop": stop,
            "seed": seed,
            "extra_body": extra_body,
        }
        request.update({key: value for key, value in optional.items() if value is not None})
        workers = max(1, min(self.max_concurrency, len(inputs)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="openai-llm") as pool:
            return list(pool.map(lambda chat: self._complete(chat, request, num_generations), inputs))

    def _complete(self, chat: ChatType, request: dict[str, Any], num_generations: int) -> GenerateOutput:
        import openai

        attempts = self.max_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                response = self._client.chat.completions.create(messages=chat, **request)
            except openai.APIStatusError as error:
                if error.status_code in _FATAL_STATUS:
                    raise RuntimeError(
                        f"OpenAILLM model {self.model!r}: the server refused the request with"
                        f" {error.status_code} ({self._describe(error)}). Check the model name and the"
                        " credentials (conn_id / OPENAI_API_KEY)."
                    ) from None
                if error.status_code not in _RETRYABLE_STATUS and error.status_code < 500:
                    return _failed(num_generations, self._describe(error))
                failure: Exception = error
            except (openai.APITimeoutError, openai.APIConnectionError) as error:
                failure = error
            else:
                return _completed(response, num_generations)
            if attempt == attempts:
                break
            delay = self._backoff(attempt, failure)
            logger.warning(
                "OpenAILLM %s: attempt %d/%d failed (%s); retrying in %.2f s.",
                self.model, attempt, attempts, self._describe(failure), delay,
            )
            time.sleep(delay)
        logger.warning(
            "OpenAILLM %s: giving up on a row after %d attempts (%s).", self.model, attempts, self._describe(failure)
        )
        return _failed(num_generations, f"{self._describe(failure)} (after {attempts} attempts)")

    def _backoff(self, attempt: int, error: Exception) -> float:
        delay = min(self.retry_backoff * 2 ** (attempt - 1), _MAX_BACKOFF_SECONDS)
        delay *= 0.5 + random.random() / 2  # noqa: S311 - jitter, not cryptography
        response = getattr(error, "response", None)
        retry_after = response.headers.get("retry-after") if response is not None else None
        if retry_after:
            try:
                delay = max(delay, min(float(retry_after), _MAX_BACKOFF_SECONDS))
            except ValueError:
                pass  # an HTTP date: keep our own delay
        return delay

    def _describe(self, error: Exception) -> str:
        text = f"{type(error).__name__}: {error}"
        return self._secret.scrub(text) if self._secret is not None else text


def _completed(response: Any, num_generations: int) -> GenerateOutput:
    choices = sorted(response.choices, key=lambda choice: choice.index)
    generations = [choice.message.content for choice in choices]
    usage = getattr(response, "usage", None)
    count = len(generations)
    if usage is None or not count:
        input_tokens: list[int | None] = [None] * count
        output_tokens: list[int | None] = [None] * count
    else:
        input_tokens = [usage.prompt_tokens] * count
        share, extra = divmod(usage.completion_tokens, count)  # the API reports one total for all choices
        output_tokens = [share + (index < extra) for index in range(count)]
    return {"generations": generations, "statistics": {"input_tokens": input_tokens, "output_tokens": output_tokens}}


def _failed(num_generations: int, error: str) -> GenerateOutput:
    return {
        "generations": [None] * num_generations,
        "statistics": {"input_tokens": [None] * num_generations, "output_tokens": [None] * num_generations},
        "error": error,
    }


def _connection_url(connection: Any) -> str | None:
    """The base URL an Airflow connection describes.

    ``host`` is either the whole URL (``http://vllm:8000/v1``) or a bare host name; then ``schema``
    gives the scheme (``http`` or ``https``), ``port`` the port and the extra ``path`` the API root
    (``/v1`` when not given).
    """
    host = connection.host
    if not host:
        return None
    if "://" in host:
        return host
    scheme = (connection.schema or "").lower()
    if scheme not in ("http", "https"):
        raise ValueError(
            f"Airflow connection {connection.conn_id!r}: host {host!r} has no scheme. Write the whole base"
            " URL in host (e.g. http://vllm:8000/v1), or set the connection's schema to 'http' or 'https'."
        )
    port = f":{connection.port}" if connection.port else ""
    path = str(connection.extra_dejson.get("path", "/v1"))
    return f"{scheme}://{host}{port}/{path.strip('/')}".rstrip("/")
