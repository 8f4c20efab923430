"""``vLLM``: an in-process ``vllm.LLM`` engine; the prompts of several input batches meet in one
``generate`` call (``prompts_per_call``, see :mod:`airflow_dististage.llms.merged_calls`).

With ``structured_output`` vLLM's guided decoding constrains every generation: the JSON schema (or
regex) goes into ``SamplingParams`` as ``structured_outputs=StructuredOutputsParams(...)`` on vLLM
versions that have it, else as ``guided_decoding=GuidedDecodingParams(...)`` (vLLM >= 0.8 before the
rename); which one is decided when the engine loads.
"""

from __future__ import annotations

import contextlib
from typing import Any, Dict, List, Optional

from airflow_dististage.llms.base import LLM, ChatType, GenerateOutput, release_gpu_memory
from airflow_dististage.llms.chat import render_chat
from airflow_dististage.llms.merged_calls import MergedCallsMixin
from airflow_dististage.llms.structured_output import StructuredOutputMixin
from airflow_dististage.llms.vllm_cpu import cpu_engine_environment, cpu_engine_kwargs, on_cpu_platform
from airflow_dististage.mixins.runtime_parameters import Field, RuntimeParameter

_TENSOR_PARALLEL = "tensor_parallel_size"
_PIPELINE_PARALLEL = "pipeline_parallel_size"
_GUIDED_DECODING_APIS = (("StructuredOutputsParams", "structured_outputs"), ("GuidedDecodingParams", "guided_decoding"))


class vLLM(MergedCallsMixin, StructuredOutputMixin, LLM):  # noqa: N801 - distilabel's name
    """A model served by vLLM inside the step's process.

    Args:
        model: Hugging Face repo id or local folder of the model.
        dtype: weights' data type (``"auto"`` follows the model config).
        trust_remote_code: allow the model's own code from the Hub.
        quantization: vLLM quantization method, if any.
        revision: model revision.
        tokenizer: tokenizer repo id or folder (the model's by default).
        chat_template: Jinja chat template; the tokenizer's when not given (ChatML if it has none).
        seed: the engine's random seed.
        extra_kwargs: more keyword arguments for ``vllm.LLM`` (``max_model_len``,
            ``gpu_memory_utilization``, ``tensor_parallel_size``...). ``tensor_parallel_size`` x
            ``pipeline_parallel_size`` must equal the step's ``resources.gpus``; give one, the other follows.
            A runtime parameter of ``pipeline.run(parameters=...)`` only, never of a run's conf: engine
            options load code and files (``worker_cls``, ``hf_overrides``, ``download_dir``...).
        structured_output: ``{"format": "json" | "regex", "schema": ..., "whitespace_pattern": ...}``,
            enforced by guided decoding (see the module docstring).
        prompts_per_call: prompts of several input batches merged into one ``generate`` call (256;
            None: one call per batch), see :mod:`~airflow_dististage.llms.merged_calls`.
    """

    _structured_output_formats = ("json", "regex")
    _structured_output_options = ("whitespace_pattern",)

    model: str
    dtype: str = "auto"
    trust_remote_code: bool = False
    quantization: Optional[str] = None
    revision: Optional[str] = None
    tokenizer: Optional[str] = None
    chat_template: Optional[str] = None
    seed: int = 0
    extra_kwargs: RuntimeParameter[Dict[str, Any]] = Field(
        default_factory=dict,
        run_conf=False,
        description="Additional keyword arguments for `vllm.LLM` (e.g. max_model_len).",
    )

    def _post_init(self) -> None:
        self._engine: Any = None
        self._tokenizer: Any = None
        super()._post_init()

    def _validate_attributes(self) -> None:
        super()._validate_attributes()
        if not isinstance(self.extra_kwargs, dict):
            raise TypeError(f"vLLM.extra_kwargs must be a dict, got {self.extra_kwargs!r}.")

    @property
    def model_name(self) -> str:
        return self.model

    # -- resources -----------------------------------------------------------------------
    def agree_gpus(self, step_name: str, gpus: int | None) -> int:
        tensor = self.extra_kwargs.get(_TENSOR_PARALLEL)
        pipeline = self.extra_kwargs.get(_PIPELINE_PARALLEL, 1)
        for name, value in ((_TENSOR_PARALLEL, tensor), (_PIPELINE_PARALLEL, pipeline)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(
                    f"Step {step_name!r}: vLLM extra_kwargs[{name!r}] must be an integer >= 1, got {value!r}."
                )
        if gpus == 0:
            raise ValueError(f"Step {step_name!r} uses vLLM, which needs a GPU, but declares resources.gpus=0.")
        if tensor is None:
            gpus = gpus or pipeline
            if gpus % pipeline:
                raise ValueError(
                    f"Step {step_name!r}: resources.gpus={gpus} is not a multiple of vLLM"
                    f" pipeline_parallel_size={pipeline}."
                )
            tensor = gpus // pipeline
            self.extra_kwargs = {**self.extra_kwargs, _TENSOR_PARALLEL: tensor}
        if gpus is None:
            return tensor * pipeline
        if tensor * pipeline != gpus:
            raise ValueError(
                f"Step {step_name!r}: vLLM tensor_parallel_size={tensor} x pipeline_parallel_size={pipeline}"
                f" needs {tensor * pipeline} GPU(s), but the step declares resources.gpus={gpus}. Make them"
                " agree, or give only one of them and the other follows."
            )
        return gpus

    def runs_on_cpu(self) -> bool:
        """Whether the installed vLLM is its CPU build: the step's GPUs are then not claimed."""
        return on_cpu_platform()

    # -- life cycle ----------------------------------------------------------------------
    def load(self) -> None:
        """Starts the vLLM engine on the GPUs this process may see, or in this process on vLLM's CPU
        platform (see :mod:`airflow_dististage.llms.vllm_cpu` for the defaults it takes there)."""
        try:
            from vllm import LLM as VllmEngine
        except ImportError as error:
            raise ImportError(
                f"vLLM model {self.model!r} needs the vllm package: pip install 'airflow-dististage[vllm]'."
            ) from error
        if self.structured_output is not None:
            from vllm import sampling_params

            guided_decoding_kwargs(self.structured_output, sampling_params)  # fails before the GPU is taken
        engine_kwargs = dict(self.extra_kwargs)
        environment: Any = contextlib.nullcontext()
        if on_cpu_platform():
            engine_kwargs = cpu_engine_kwargs(engine_kwargs)
            workers = engine_kwargs.get(_TENSOR_PARALLEL, 1) * engine_kwargs.get(_PIPELINE_PARALLEL, 1)
            environment = cpu_engine_environment(workers)
        with environment:
            self._engine = VllmEngine(
                model=self.model,
                dtype=self.dtype,
                trust_remote_code=self.trust_remote_code,
                quantization=self.quantization,
                revision=self.revision,
                tokenizer=self.tokenizer,
                seed=self.seed,
                **engine_kwargs,
            )
        self._tokenizer = self._engine.get_tokenizer()

    def unload(self) -> None:
        """Stops the engine and frees its GPU memory so another model can load."""
        engine, self._engine, self._tokenizer = self._engine, None, None
        if engine is None:
            return
        llm_engine = getattr(engine, "llm_engine", None)
        shutdown = getattr(llm_engine, "shutdown", None) or getattr(
            getattr(llm_engine, "engine_core", None), "shutdown", None
        )
        if shutdown is not None:
            shutdown()  # stops the engine-core process (vLLM V1), which holds the GPU memory
        del engine, llm_engine, shutdown
        _destroy_vllm_distributed_state()
        release_gpu_memory()

    # -- generation ----------------------------------------------------------------------
    def generate(  # type: ignore[override]
        self,
        inputs: List[ChatType],
        num_generations: int = 1,
        max_new_tokens: int = 128,
        temperature: float = 1.0,
        top_p: float = 1.0,
        top_k: int = -1,
        min_p: float = 0.0,
        presence_penalty: float = 0.0,
        frequency_penalty: float = 0.0,
        repetition_penalty: float = 1.0,
        stop: Optional[List[str]] = None,
        stop_token_ids: Optional[List[int]] = None,
        include_stop_str_in_output: bool = False,
        seed: Optional[int] = None,
        extra_sampling_params: Optional[Dict[str, Any]] = None,
    ) -> List[GenerateOutput]:
        """Generates for the whole batch in one ``vllm.LLM.generate`` call.

        Args:
            inputs: chats to answer.
            num_generations: generations per chat.
            max_new_tokens: most tokens generated per generation.
            temperature: sampling temperature (0 is greedy).
            top_p: nucleus sampling probability mass.
            top_k: sample among the k likeliest tokens (-1 or 0: all).
            min_p: smallest probability, relative to the likeliest token, a token needs.
            presence_penalty: penalty for tokens already generated.
            frequency_penalty: penalty growing with how often a token was generated.
            repetition_penalty: multiplicative penalty for repeated tokens (1 is none).
            stop: strings that end a generation.
            stop_token_ids: token ids that end a generation.
            include_stop_str_in_output: keep the stop string in the text.
            seed: per-request sampling seed (the engine's seed when not given).
            extra_sampling_params: more keyword arguments for ``vllm.SamplingParams``.
        """
        from vllm import SamplingParams, sampling_params

        if self._engine is None:
            raise RuntimeError(f"vLLM model {self.model!r} is not loaded: call load() first.")
        tokenizer = self._tokenizer
        texts = [render_chat(tokenizer, chat, self.chat_template) for chat in inputs]
        prompts = [{"prompt_token_ids": tokenizer.encode(text, add_special_tokens=False)} for text in texts]
        structured = self.structured_output
        guided = guided_decoding_kwargs(structured, sampling_params) if structured is not None else {}
        sampling = SamplingParams(
            n=num_generations,
            max_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            min_p=min_p,
            presence_penalty=presence_penalty,
            frequency_penalty=frequency_penalty,
            repetition_penalty=repetition_penalty,
            stop=stop,
            stop_token_ids=stop_token_ids,
            include_stop_str_in_output=include_stop_str_in_output,
            seed=seed,
            **({"top_k": top_k} if top_k > 0 else {}),
            **guided,
            **(extra_sampling_params or {}),
        )
        results = self._engine.generate(prompts, sampling, use_tqdm=False)
        return [
            {
                "generations": [completion.text for completion in result.outputs],
                "statistics": {
                    "input_tokens": [len(result.prompt_token_ids)] * len(result.outputs),
                    "output_tokens": [len(completion.token_ids) for completion in result.outputs],
                },
            }
            for result in results
        ]


def guided_decoding_kwargs(structured_output: Dict[str, Any], sampling_params: Any) -> Dict[str, Any]:
    """The ``SamplingParams`` keyword enforcing a normalised ``structured_output``.

    ``sampling_params`` is the ``vllm.sampling_params`` module: newer vLLM has
    ``StructuredOutputsParams`` (keyword ``structured_outputs``), older ``GuidedDecodingParams``
    (keyword ``guided_decoding``); both take ``json=``/``regex=`` and ``whitespace_pattern=``. Each
    call makes a new params object (vLLM records its backend choice on it).
    """
    options = {structured_output["format"]: structured_output["schema"]}
    if "whitespace_pattern" in structured_output:
        options["whitespace_pattern"] = structured_output["whitespace_pattern"]
    for class_name, keyword in _GUIDED_DECODING_APIS:
        params_class = getattr(sampling_params, class_name, None)
        if params_class is not None:
            return {keyword: params_class(**options)}
    raise ImportError(
        "vLLM's sampling_params has neither StructuredOutputsParams nor GuidedDecodingParams:"
        " structured_output needs vllm >= 0.8."
    )


def _destroy_vllm_distributed_state() -> None:
    """Tears down vLLM's process groups (the function's name moved across vLLM versions)."""
    from vllm.distributed import parallel_state

    cleanup = getattr(parallel_state, "cleanup_dist_env_and_memory", None)
    if cleanup is not None:
        cleanup()
        return
    parallel_state.destroy_model_parallel()
    parallel_state.destroy_distributed_environment()
