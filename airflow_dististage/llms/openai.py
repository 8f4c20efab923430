"""``OpenAILLM``: any OpenAI-compatible chat-completions server (OpenAI, a vLLM server, ...).

An :class:`~airflow_dististage.llms.remote.RemoteLLM`: one request per chat, ``max_concurrency`` at a
time across the input batches the step has in flight, paced by the optional rate limits, retried
with backoff; a row whose retries run out gets ``None`` and its error. With
``structured_output`` each request carries the JSON schema as ``response_format`` and each
generation is the JSON text the server returned.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, Dict, List, Optional

from airflow_dististage.llms.base import ChatType, FatalLLMError, GenerateOutput
from airflow_dististage.llms.remote import RemoteLLM, estimate_tokens
from airflow_dististage.llms.secret import Secret
from airflow_dististage.llms.structured_output import StructuredOutputMixin, json_schema_response_format
from airflow_dististage.mixins.runtime_parameters import Field, RuntimeParameter


class OpenAILLM(StructuredOutputMixin, RemoteLLM):
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
        structured_output: ``{"format": "json", "schema": <JSON schema or pydantic model class>}``;
            sent as ``response_format`` of type ``json_schema``.
        max_concurrency: most requests in flight at once (per step replica, across its input batches).
        max_requests_per_minute: most requests sent per minute (per step replica); None: no limit.
        max_tokens_per_minute: most tokens per minute (per step replica): estimated before each
            request (prompt characters / 4 + max_new_tokens per generation), then corrected by the
            usage the server returns; None: no limit.
        timeout: seconds one request may take.
        max_retries: retries of a request after its first attempt.
        retry_backoff: seconds before the first retry; doubles with each retry (at most 60 s).
    """

    _credentials_hint: ClassVar[str] = "conn_id / OPENAI_API_KEY"

    model: str
    base_url: RuntimeParameter[str] = Field(
        default=None, run_conf=False, description="The API root URL, e.g. http://host:8000/v1."
    )
    conn_id: Optional[str] = None

    def _validate_attributes(self) -> None:
        super()._validate_attributes()
        if self.structured_output is not None and self.generation_kwargs.get("response_format") is not None:
            raise ValueError(
                f"OpenAILLM(model={self.model!r}) has both structured_output and"
                " generation_kwargs['response_format']: structured_output sets the response format, keep one."
            )

    @property
    def model_name(self) -> str:
        return self.model

    # -- life cycle ----------------------------------------------------------------------
    def load(self) -> None:
        """Resolves the endpoint and credentials and opens the async HTTP client."""
        try:
            import openai
        except ImportError as error:
            raise ImportError(
                "OpenAILLM needs the openai package: pip install 'airflow-dististage[openai]'."
            ) from error
        base_url, self._secret = self._resolve_endpoint()
        from openai.types.chat import ChatCompletion

        self._completion_type = ChatCompletion
        self._client = openai.AsyncOpenAI(
            api_key=self._secret.reveal(), base_url=base_url, timeout=self.timeout, max_retries=0
        )

    def unload(self) -> None:
        """Closes the HTTP client, then stops the event loop."""
        client, self._client = self._client, None
        if client is not None:
            self.run_coroutine(client.close())
        super().unload()

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

    def _is_transient(self, error: BaseException) -> bool:
        import openai

        return isinstance(error, openai.APIConnectionError) or super()._is_transient(error)

    # -- generation ----------------------------------------------------------------------
    async def agenerate(  # type: ignore[override]
        self,
        input: ChatType,  # noqa: A002 - distilabel's name
        num_generations: int = 1,
        max_new_tokens: int = 128,
        temperature: float = 1.0,
        top_p: float = 1.0,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        stop: Optional[List[str]] = None,
        seed: Optional[int] = None,
        response_format: Optional[Dict[str, Any]] = None,
        extra_body: Optional[Dict[str, Any]] = None,
    ) -> GenerateOutput:
        """Sends one chat-completions request for the chat.

        Args:
            input: the chat to answer.
            num_generations: generations for the chat (the request's ``n``).
            max_new_tokens: most tokens generated per generation (``max_tokens``).
            temperature: sampling temperature.
            top_p: nucleus sampling probability mass.
            frequency_penalty: penalty growing with how often a token was generated.
            presence_penalty: penalty for tokens already generated.
            stop: strings that end a generation.
            seed: sampling seed, for servers that support it.
            response_format: the request's response_format (e.g. {"type": "json_object"}); use
                structured_output for a JSON schema.
            extra_body: more JSON fields for the request (e.g. vLLM's top_k).
        """
        if self._client is None:
            raise FatalLLMError(f"OpenAILLM model {self.model!r} is not loaded: call load() first.")
        if self.structured_output is not None:
            if response_format is not None:
                raise FatalLLMError(
                    f"OpenAILLM model {self.model!r}: response_format and structured_output both set the"
                    " response format; keep one."
                )
            response_format = json_schema_response_format(self.structured_output)
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
            "response_format": response_format,
        }
        request.update({key: value for key, value in optional.items() if value is not None})
        # A plain JSON body through client.post(): create() converts typed parameters first, which
        # costs about a millisecond of CPU per request, a limit at hundreds of requests per second.
        body = {"messages": input, **request, **(extra_body or {})}
        response = await self._send(
            lambda: self._client.post("/chat/completions", body=body, cast_to=self._completion_type),
            estimate_tokens(input, max_new_tokens, num_generations),
        )
        return _completed(response)

    def _used_tokens(self, response: Any) -> Optional[int]:
        usage = getattr(response, "usage", None)
        return None if usage is None else usage.prompt_tokens + usage.completion_tokens


def _completed(response: Any) -> GenerateOutput:
    choices = sorted(response.choices, key=lambda choice: choice.index)
    return completed_output([choice.message.content for choice in choices], getattr(response, "usage", None))


def completed_output(generations: List[Optional[str]], usage: Any) -> GenerateOutput:
    """The output of one OpenAI-style response: its generations and the token counts of its ``usage``."""
    count = len(generations)
    if usage is None or not count:
        input_tokens: list[int | None] = [None] * count
        output_tokens: list[int | None] = [None] * count
    else:
        input_tokens = [usage.prompt_tokens] * count
        share, extra = divmod(usage.completion_tokens, count)  # the API reports one total for all choices
        output_tokens = [share + (index < extra) for index in range(count)]
    return {"generations": generations, "statistics": {"input_tokens": input_tokens, "output_tokens": output_tokens}}


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
