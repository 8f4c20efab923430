"""``TransformersLLM``: a Hugging Face causal LM in the step's process, for CPU and small GPU runs.

With ``structured_output`` it validates and retries (no constrained decoding): each generation is
parsed and checked against the JSON schema (or regex); one that does not match is generated again,
up to ``structured_output["max_retries"]`` times (default 3, so 4 attempts; each retry reseeds with
``seed + attempt`` when a seed is given). What still does not match becomes a ``None`` generation
and its row gets an error naming the LLM. Retries only help when sampling (``do_sample``).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from airflow_dististage.llms.base import LLM, ChatType, GenerateOutput, release_gpu_memory
from airflow_dististage.llms.chat import render_chat
from airflow_dististage.llms.structured_output import (
    DEFAULT_MAX_RETRIES,
    OutputChecker,
    Sample,
    StructuredOutputMixin,
    retry_until_valid,
)
from airflow_dististage.llms.merged_calls import MergedCallsMixin
from airflow_dististage.mixins.runtime_parameters import Field, RuntimeParameter, suggest

TORCH_DTYPES = ("auto", "float32", "float", "float64", "double", "float16", "half", "bfloat16")
"""``torch_dtype`` values: ``"auto"`` or a floating-point ``torch`` dtype name."""


class TransformersLLM(MergedCallsMixin, StructuredOutputMixin, LLM):
    """A ``transformers`` causal language model; each batch is one left-padded ``generate`` call.

    Args:
        model: Hugging Face repo id or local folder of the model and its tokenizer.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; by default CUDA when the step declares
            ``resources.gpus`` (a ``cuda`` device makes it declare one), else CPU.
        torch_dtype: weights' data type (``"auto"``, ``"float32"``, ``"bfloat16"``...).
        chat_template: Jinja chat template; the tokenizer's when not given (ChatML if it has none).
        trust_remote_code: allow the model's own code from the Hub.
        structured_output: ``{"format": "json" | "regex", "schema": ..., "max_retries": 3}``; see the
            module docstring.
        prompts_per_call: merge the prompts of several input batches into one ``generate`` call of
            about this many (padded to the longest: mind the memory); None (the default): one call
            per batch. See :mod:`~airflow_dististage.llms.merged_calls`.
    """

    _structured_output_formats = ("json", "regex")
    _structured_output_options = ("max_retries",)

    model: str
    device: Optional[str] = None
    torch_dtype: str = "auto"
    chat_template: Optional[str] = None
    trust_remote_code: bool = False
    prompts_per_call: RuntimeParameter[int] = Field(
        default=None,
        description="Prompts of several input batches merged into one generate call (None: one batch a call).",
    )

    def _post_init(self) -> None:
        self._model: Any = None
        self._tokenizer: Any = None
        self._checker: Optional[OutputChecker] = None
        self._uses_gpu = False
        super()._post_init()

    def _validate_attributes(self) -> None:
        super()._validate_attributes()
        if self.torch_dtype not in TORCH_DTYPES:
            raise ValueError(
                f"TransformersLLM(model={self.model!r}): torch_dtype {self.torch_dtype!r} is not one of"
                f" {list(TORCH_DTYPES)}.{suggest(str(self.torch_dtype), TORCH_DTYPES)}"
            )

    def agree_gpus(self, step_name: str, gpus: int | None) -> int | None:
        """A ``cuda`` device needs a declared GPU (one if the step declares none); CPU otherwise."""
        on_cuda = isinstance(self.device, str) and self.device.startswith("cuda")
        if on_cuda and gpus == 0:
            raise ValueError(
                f"Step {step_name!r}: TransformersLLM device={self.device!r} needs a GPU, but the step"
                " declares resources.gpus=0."
            )
        if on_cuda and gpus is None:
            gpus = 1
        self._uses_gpu = bool(gpus)
        return gpus

    @property
    def model_name(self) -> str:
        return self.model

    def load(self) -> None:
        """Loads the tokenizer and the weights onto ``device``."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = self.device or ("cuda" if self._uses_gpu and torch.cuda.is_available() else "cpu")
        tokenizer = AutoTokenizer.from_pretrained(self.model, trust_remote_code=self.trust_remote_code)
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        dtype = self.torch_dtype if self.torch_dtype == "auto" else getattr(torch, self.torch_dtype)
        model = AutoModelForCausalLM.from_pretrained(
            self.model, dtype=dtype, trust_remote_code=self.trust_remote_code
        )
        self._model = model.to(device).eval()
        self._tokenizer = tokenizer
        self._checker = OutputChecker(self.structured_output) if self.structured_output else None

    def unload(self) -> None:
        """Drops the weights and frees their memory."""
        self._model = None
        self._tokenizer = None
        self._checker = None
        release_gpu_memory()

    def generate(  # type: ignore[override]
        self,
        inputs: List[ChatType],
        num_generations: int = 1,
        max_new_tokens: int = 128,
        temperature: float = 0.1,
        top_p: float = 1.0,
        top_k: int = 0,
        repetition_penalty: float = 1.1,
        do_sample: bool = True,
        seed: Optional[int] = None,
    ) -> List[GenerateOutput]:
        """Generates for the whole batch in one ``model.generate`` call (more calls to retry
        generations that do not match ``structured_output``).

        Args:
            inputs: chats to answer.
            num_generations: generations per chat.
            max_new_tokens: most tokens generated per generation.
            temperature: sampling temperature (with do_sample).
            top_p: nucleus sampling probability mass (with do_sample).
            top_k: sample among the k likeliest tokens, 0 for all (with do_sample).
            repetition_penalty: multiplicative penalty for repeated tokens (1 is none).
            do_sample: sample; greedy decoding when false.
            seed: seeds torch's generator before generating, for repeatable samples.
        """
        if self._model is None:
            raise RuntimeError(f"TransformersLLM model {self.model!r} is not loaded: call load() first.")
        prompts = [render_chat(self._tokenizer, chat, self.chat_template) for chat in inputs]
        settings: Dict[str, Any] = {
            "max_new_tokens": max_new_tokens,
            "do_sample": do_sample,
            "repetition_penalty": repetition_penalty,
            **({"temperature": temperature, "top_p": top_p, "top_k": top_k} if do_sample else {}),
        }
        prompt_lengths, samples = self._sample(prompts, num_generations, seed, settings)
        errors: List[Optional[str]] = [None] * len(prompts)
        if self._checker is not None:

            def resample(rows: List[int], attempt: int) -> List[Sample]:
                again = None if seed is None else seed + attempt
                return [row[0] for row in self._sample([prompts[i] for i in rows], 1, again, settings)[1]]

            samples, errors = retry_until_valid(  # type: ignore[assignment]
                f"TransformersLLM(model={self.model!r})",
                self._checker,
                samples,
                resample,
                self.structured_output.get("max_retries", DEFAULT_MAX_RETRIES),
            )
        outputs: List[GenerateOutput] = []
        for prompt_length, row, error in zip(prompt_lengths, samples, errors):
            output: GenerateOutput = {
                "generations": [sample[0] if sample else None for sample in row],
                "statistics": {
                    "input_tokens": [prompt_length] * num_generations,
                    "output_tokens": [sample[1] if sample else None for sample in row],
                },
            }
            if error:
                output["error"] = error
            outputs.append(output)
        return outputs

    def _sample(
        self, prompts: List[str], per_prompt: int, seed: Optional[int], settings: Dict[str, Any]
    ) -> tuple[List[int], List[List[Sample]]]:
        """One ``model.generate`` call: each prompt's length in tokens and its ``per_prompt`` samples."""
        import torch

        tokenizer = self._tokenizer
        encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self._model.device)
        if seed is not None:
            torch.manual_seed(seed)
        with torch.inference_mode():
            sequences = self._model.generate(
                **encoded, num_return_sequences=per_prompt, pad_token_id=tokenizer.pad_token_id, **settings
            )
        new_tokens = sequences[:, encoded["input_ids"].shape[1]:].tolist()
        samples = []
        for index in range(len(prompts)):
            mine = new_tokens[index * per_prompt:(index + 1) * per_prompt]
            own = [_until_eos(tokens, tokenizer.eos_token_id) for tokens in mine]
            texts = tokenizer.batch_decode(own, skip_special_tokens=True)
            samples.append([(text, len(tokens)) for text, tokens in zip(texts, own)])
        return encoded["attention_mask"].sum(dim=1).tolist(), samples


def _until_eos(tokens: list[int], eos_token_id: int | None) -> list[int]:
    """The generated tokens up to and including the first end-of-sequence token."""
    if eos_token_id is not None and eos_token_id in tokens:
        return tokens[: tokens.index(eos_token_id) + 1]
    return tokens
