"""A tiny causal LM built offline for tests: a BPE tokenizer trained here, random Llama weights.

``build_tiny_model(folder)`` saves a model that ``transformers`` and vLLM load like any Hub model
(config, safetensors weights, ``tokenizer.json`` with a chat template). Other test folders may
reuse it: ``from tests.llms.tiny_model import build_tiny_model``. ``build_answering_model`` turns it
into a model that answers with one of a few given texts (for structured-output tests).
"""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}<eos>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
SPECIAL_TOKENS = ["<pad>", "<bos>", "<eos>", "<unk>", "<|system|>", "<|user|>", "<|assistant|>"]
_CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "write a short poem about the sea and the sky",
    "what is the capital of france? paris is the capital of france",
    "summarise this document in one sentence please",
    "large language models generate synthetic data for training",
    "airflow schedules pipelines of tasks on workers with pools",
    "one two three four five six seven eight nine ten",
]


def build_tiny_model(folder: str | Path, seed: int = 0) -> Path:
    """Builds the tiny model into ``folder`` (created if needed) and returns it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    backend.train_from_iterator(_CORPUS * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        additional_special_tokens=SPECIAL_TOKENS[4:],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=64,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def build_answering_model(tiny_model: str | Path, folder: str | Path, answers: list[str], seed: int = 0) -> Path:
    """A tiny model whose every reply is one of ``answers``, each as likely, then the end of sequence.

    It is ``tiny_model`` (a folder ``build_tiny_model`` wrote) with each answer added to the
    vocabulary as one token, and weights that make it a bigram model: the attention and MLP outputs
    are zero, so the next-token logits depend on the current token only; after ``<|assistant|>``
    every answer gets the same high logit, and after an answer ``<eos>`` does. Sampling it picks
    among the answers, which is what tests of validate-and-retry structured output need from a real
    ``transformers`` model.
    """
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    tokenizer.add_tokens(answers)
    model = LlamaForCausalLM.from_pretrained(tiny_model)
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    torch.manual_seed(seed)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        embeddings = model.model.embed_tokens.weight
        embeddings.copy_(torch.nn.functional.normalize(torch.randn_like(embeddings), dim=1))
        head = torch.zeros_like(model.lm_head.weight)
        assistant = tokenizer.convert_tokens_to_ids("<|assistant|>")
        for token in tokenizer.convert_tokens_to_ids(answers):
            head[token] = 4.0 * embeddings[assistant]
            head[tokenizer.eos_token_id] += 4.0 * embeddings[token]
        model.lm_head.weight.copy_(head)
    folder = Path(folder)
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder)
    return folder
