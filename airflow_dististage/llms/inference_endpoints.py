"""``InferenceEndpointsLLM``: a text-generation-inference (TGI) server, an Inference Endpoint or a Hub model.

Requests go through ``huggingface_hub.AsyncInferenceClient`` (imported in ``load()``). Without
``tokenizer_id`` each chat is one ``/v1/chat/completions`` request; with it the chat is rendered by
that tokenizer's chat template and sent to TGI's generate route (``POST <base_url>``), as in
distilabel. TGI makes one generation per request, so ``num_generations`` means that many requests
per chat; a request without a ``seed`` gets a random one so that TGI's cache does not repeat an
answer. ``structured_output`` becomes TGI's grammar (``{"type": "json"|"regex", "value": ...}``) on
the generate route and ``response_format`` on the chat route.
"""

from __future__ import annotations

import os
import random
from typing import Any, ClassVar, List, Optional

from airflow_dististage.llms.base import ChatType, FatalLLMError, GenerateOutput
from airflow_dististage.llms.chat import render_chat
from airflow_dististage.llms.remote import RemoteLLM, estimate_tokens
from airflow_dististage.llms.secret import Secret
from airflow_dististage.llms.structured_output import StructuredOutputMixin, json_schema_response_format
from airflow_dististage.mixins.runtime_parameters import Field, RuntimeParameter

HF_TOKEN_ENV_VAR = "HF_TOKEN"
_SEED_LIMIT = 2**31 - 1


class InferenceEndpointsLLM(StructuredOutputMixin, RemoteLLM):
    """A model served by text-generation-inference, reached at ``base_url`` or by Hub ``model_id``.

    The token comes from ``api_key``, else ``HF_TOKEN``, else the token ``huggingface_hub`` saved
    (``hf auth login``); it is read in ``load()`` (on the worker) and never appears in reprs, logs
    or fingerprints. ``base_url`` is a runtime parameter only the code and
    ``pipeline.run(parameters=...)`` set, never a run's conf, so the token goes nowhere the DAG
    file did not name. distilabel's ``endpoint_name`` / ``endpoint_namespace`` are not supported:
    give the endpoint's URL as ``base_url``.

    Args:
        model_id: a Hub model id: the model Hugging Face serves (when no ``base_url``), and the
            ``model`` field of chat requests.
        base_url: the server's root URL, e.g. ``http://tgi:8080`` or an Inference Endpoint's URL.
        api_key: the Hugging Face token; prefer ``HF_TOKEN`` so the DAG file holds no secret.
        tokenizer_id: a tokenizer (Hub id or folder) whose chat template renders prompts for TGI's
            generate route; without it chats go to the chat-completions route.
        model_display_name: the name written to the ``model_name`` column.
        structured_output: ``{"format": "json" | "regex", "schema": ...}``, enforced by TGI's grammar.
        max_concurrency: most requests in flight at once (per step replica).
        timeout: seconds one request may take.
        max_retries: retries of a request after its first attempt.
        retry_backoff: seconds before the first retry; doubles with each retry (at most 60 s).
    """

    _num_generations_param_supported = False
    _structured_output_formats = ("json", "regex")
    _credentials_hint: ClassVar[str] = "api_key / HF_TOKEN"

    model_id: Optional[str] = None
    base_url: RuntimeParameter[str] = Field(
        default=None, run_conf=False, description="The server's root URL, e.g. http://tgi:8080."
    )
    tokenizer_id: Optional[str] = None
    model_display_name: Optional[str] = None

    def _post_init(self) -> None:
        self._tokenizer: Any = None
        super()._post_init()

    def _validate_attributes(self) -> None:
        super()._validate_attributes()
        if not self.base_url and not self.model_id:
            raise ValueError(
                "InferenceEndpointsLLM needs base_url (a TGI server or Inference Endpoint URL) or model_id"
                " (a Hub model Hugging Face serves)."
            )

    @property
    def model_name(self) -> str:
        return self.model_display_name or self.model_id or self.base_url

    def __repr__(self) -> str:
        return f"InferenceEndpointsLLM(model_id={self.model_id!r}, base_url={self.base_url!r})"

    # -- life cycle ----------------------------------------------------------------------
    def load(self) -> None:
        """Resolves the token, opens the async client and loads the tokenizer (if any)."""
        try:
            from huggingface_hub import AsyncInferenceClient, get_token
        except ImportError as error:
            raise ImportError(
                "InferenceEndpointsLLM needs the huggingface_hub package: pip install huggingface_hub."
            ) from error
        secret = self.api_key
        if secret is None:
            found = os.environ.get(HF_TOKEN_ENV_VAR) or get_token()
            secret = Secret(found) if found else None
        self._secret = secret
        token = secret.reveal() if secret is not None else None
        if self.base_url:
            self._client = AsyncInferenceClient(base_url=self.base_url, token=token, timeout=self.timeout)
        else:
            self._client = AsyncInferenceClient(model=self.model_id, token=token, timeout=self.timeout)
        if self.tokenizer_id:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.tokenizer_id)

    def unload(self) -> None:
        """Closes the client, then stops the event loop."""
        client, self._client, self._tokenizer = self._client, None, None
        if client is not None:
            self.run_coroutine(client.close())
        super().unload()

    def _fatal_reason(self, error: BaseException) -> Optional[str]:
        from huggingface_hub.errors import OfflineModeIsEnabled

        if isinstance(error, OfflineModeIsEnabled):
            return (
                f"InferenceEndpointsLLM {self.model_name!r}: huggingface_hub refuses every request while"
                " HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set; unset it in the worker's environment."
            )
        return super()._fatal_reason(error)

    def _is_transient(self, error: BaseException) -> bool:
        # httpx's and httpx2's connection and read errors share this base class name.
        transport = any(klass.__name__ == "TransportError" for klass in type(error).__mro__)
        return transport or super()._is_transient(error)

    # -- generation ----------------------------------------------------------------------
    async def agenerate(  # type: ignore[override]
        self,
        input: ChatType,  # noqa: A002 - distilabel's name
        max_new_tokens: int = 128,
        temperature: float = 1.0,
        top_p: Optional[float] = None,
        top_k: Optional[int] = None,
        typical_p: Optional[float] = None,
        do_sample: bool = False,
        repetition_penalty: Optional[float] = None,
        frequency_penalty: Optional[float] = None,
        presence_penalty: Optional[float] = None,
        stop_sequences: Optional[List[str]] = None,
        seed: Optional[int] = None,
        watermark: bool = False,
        return_full_text: bool = False,
    ) -> GenerateOutput:
        """Sends one request for the chat (one generation).

        Args:
            input: the chat to answer.
            max_new_tokens: most tokens generated.
            temperature: sampling temperature.
            top_p: nucleus sampling probability mass (TGI wants it strictly between 0 and 1).
            top_k: sample among the k likeliest tokens (generate route only).
            typical_p: typical-decoding mass (generate route only).
            do_sample: sample rather than decode greedily (generate route only).
            repetition_penalty: multiplicative penalty for repeated tokens (generate route only).
            frequency_penalty: penalty growing with how often a token was generated.
            presence_penalty: penalty for tokens already generated (chat route only).
            stop_sequences: strings that end the generation.
            seed: sampling seed; a random one when not set.
            watermark: watermark the text (generate route only).
            return_full_text: prepend the prompt to the text (generate route only).
        """
        if self._client is None:
            raise FatalLLMError(f"InferenceEndpointsLLM {self.model_name!r} is not loaded: call load() first.")
        seed = seed if seed is not None else random.randint(0, _SEED_LIMIT)  # noqa: S311 - not cryptography
        if self._tokenizer is None:
            return await self._chat_completion(
                input,
                max_tokens=max_new_tokens,
                temperature=temperature,
                top_p=top_p,
                frequency_penalty=frequency_penalty,
                presence_penalty=presence_penalty,
                stop=stop_sequences,
                seed=seed,
            )
        return await self._text_generation(
            input,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            top_k=top_k,
            typical_p=typical_p,
            do_sample=do_sample,
            repetition_penalty=repetition_penalty,
            frequency_penalty=frequency_penalty,
            stop=stop_sequences,
            seed=seed,
            watermark=watermark,
            return_full_text=return_full_text,
        )

    async def _chat_completion(self, chat: ChatType, **parameters: Any) -> GenerateOutput:
        structured = self.structured_output
        if structured is not None:
            parameters["response_format"] = (
                json_schema_response_format(structured)
                if structured["format"] == "json"
                else {"type": "regex", "value": structured["schema"]}
            )
        response = await self._send(
            lambda: self._client.chat_completion(messages=chat, model=self.model_id, **parameters),
            estimate_tokens(chat, parameters.get("max_tokens")),
        )
        usage = response.usage
        return {
            "generations": [response.choices[0].message.content if response.choices else None],
            "statistics": {
                "input_tokens": [usage.prompt_tokens if usage else None],
                "output_tokens": [usage.completion_tokens if usage else None],
            },
        }

    async def _text_generation(self, chat: ChatType, **parameters: Any) -> GenerateOutput:
        structured = self.structured_output
        grammar = {"type": structured["format"], "value": structured["schema"]} if structured else None
        prompt = render_chat(self._tokenizer, chat)
        output = await self._send(
            lambda: self._client.text_generation(prompt, details=True, grammar=grammar, **parameters),
            estimate_tokens(chat, parameters.get("max_new_tokens")),
        )
        details = output.details
        return {
            "generations": [output.generated_text],
            "statistics": {
                "input_tokens": [len(self._tokenizer.encode(prompt, add_special_tokens=False))],
                "output_tokens": [details.generated_tokens if details is not None else None],
            },
        }
