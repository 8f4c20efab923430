"""``ClientvLLM``: a vLLM server's OpenAI-compatible *completions* API, prompts rendered here.

distilabel's ``ClientvLLM`` (``distilabel.models.llms.vllm.ClientvLLM``). Unlike
:class:`~airflow_dististage.llms.openai.OpenAILLM`, which sends chats to ``/chat/completions``, it
renders each chat with the tokenizer's chat template in the step and sends the text to
``/completions``. The endpoint, credentials, retries and concurrency are OpenAILLM's. With
``structured_output`` the request carries vLLM's ``structured_outputs`` (JSON schema or regex), which
the server enforces by guided decoding.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from airflow_dististage.llms.base import ChatType, FatalLLMError, GenerateOutput
from airflow_dististage.llms.chat import render_chat
from airflow_dististage.llms.openai import OpenAILLM, completed_output
from airflow_dististage.llms.remote import estimate_tokens


class ClientvLLM(OpenAILLM):  # noqa: N801 - distilabel's name
    """A model served by ``vllm serve``, asked through its completions endpoint.

    Args:
        base_url: the server's API root, e.g. ``http://127.0.0.1:8000/v1``.
        model: the served model's name; empty: the first model the server lists.
        tokenizer: the Hugging Face tokenizer (repo id or folder) whose chat template renders the
            prompts; the model's name when not given.
        tokenizer_revision: the tokenizer's revision.
        api_key, conn_id, max_concurrency, timeout, max_retries, retry_backoff: as in ``OpenAILLM``.
        structured_output: ``{"format": "json" | "regex", "schema": ...}``, enforced by the server.
    """

    _structured_output_formats = ("json", "regex")

    model: str = ""
    tokenizer: Optional[str] = None
    tokenizer_revision: Optional[str] = None

    def _post_init(self) -> None:
        self._served_model: str = ""
        self._tokenizer: Any = None
        super()._post_init()

    @property
    def model_name(self) -> str:
        return self.model or self._served_model

    def load(self) -> None:
        """Opens the client, asks the server for its model if none was named, and loads the tokenizer."""
        super().load()
        self._served_model = self.model or self.run_coroutine(self._first_served_model())
        try:
            from transformers import AutoTokenizer
        except ImportError as error:
            raise ImportError(
                "ClientvLLM renders chats with a Hugging Face tokenizer:"
                " pip install 'airflow-dististage[transformers]'."
            ) from error
        self._tokenizer = AutoTokenizer.from_pretrained(
            self.tokenizer or self._served_model, revision=self.tokenizer_revision
        )

    def unload(self) -> None:
        """Closes the client and forgets the tokenizer."""
        self._tokenizer = None
        super().unload()

    async def _first_served_model(self) -> str:
        models = await self._send(lambda: self._client.models.list())
        if not models.data:
            raise FatalLLMError(f"The vLLM server at {self.base_url!r} serves no model.")
        return models.data[0].id

    async def agenerate(  # type: ignore[override]
        self,
        input: ChatType,  # noqa: A002 - distilabel's name
        num_generations: int = 1,
        max_new_tokens: int = 128,
        temperature: float = 1.0,
        top_p: float = 1.0,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        logit_bias: Optional[Dict[str, int]] = None,
        stop: Optional[List[str]] = None,
        seed: Optional[int] = None,
        extra_body: Optional[Dict[str, Any]] = None,
    ) -> GenerateOutput:
        """Sends one completions request for the chat, rendered with the tokenizer's chat template.

        Args:
            input: the chat to answer.
            num_generations: generations for the chat (the request's ``n``).
            max_new_tokens: most tokens generated per generation (``max_tokens``).
            temperature: sampling temperature.
            top_p: nucleus sampling probability mass.
            frequency_penalty: penalty growing with how often a token was generated.
            presence_penalty: penalty for tokens already generated.
            logit_bias: token id (as a string) -> bias added to its logit.
            stop: strings that end a generation.
            seed: sampling seed.
            extra_body: more JSON fields for vLLM (e.g. ``top_k``, ``min_p``, ``repetition_penalty``).
        """
        if self._client is None or self._tokenizer is None:
            raise FatalLLMError(f"ClientvLLM model {self.model_name!r} is not loaded: call load() first.")
        body = dict(extra_body or {})
        if self.structured_output is not None:
            body["structured_outputs"] = {self.structured_output["format"]: self.structured_output["schema"]}
        request: dict[str, Any] = {
            "model": self._served_model,
            "prompt": render_chat(self._tokenizer, input),
            "n": num_generations,
            "max_tokens": max_new_tokens,
            "temperature": temperature,
            "top_p": top_p,
            "frequency_penalty": frequency_penalty,
            "presence_penalty": presence_penalty,
        }
        optional = {"logit_bias": logit_bias, "stop": stop, "seed": seed, "extra_body": body or None}
        request.update({key: value for key, value in optional.items() if value is not None})
        response = await self._send(
            lambda: self._client.completions.create(**request),
            estimate_tokens(input, max_new_tokens, num_generations),
        )
        choices = sorted(response.choices, key=lambda choice: choice.index)
        return completed_output([choice.text for choice in choices], getattr(response, "usage", None))
