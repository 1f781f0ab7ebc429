"""Model presets: a tiny causal LM built offline from a config, or a local pretrained model.

``load_preset("tiny")`` needs no download: a byte-level BPE tokenizer is trained with
``tokenizers`` on text the package ships (``llm/data/corpus.txt`` and the prompts), and a
GPT-2 or Llama model is built from a small config with random weights (dropout off, so
repeated forward passes give identical log-probabilities). The prompts are 320 instructions we
wrote (``llm/data/prompts.txt``); the last 64 are held out for evaluation.

``load_preset(model_path="/path/to/model")`` loads a pretrained model and its tokenizer from a
local directory (``from_pretrained`` with ``local_files_only=True``) through the same code path;
everything downstream (generation, rewards, trainers) is identical.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import torch

__all__ = [
    "PRESETS",
    "Preset",
    "build_tiny_model",
    "build_tokenizer",
    "load_preset",
    "load_prompts",
]

PRESETS = ("tiny",)
FAMILIES = ("gpt2", "llama")
EOS, PAD = "<|endoftext|>", "<pad>"
_EVAL_PROMPTS = 64


def require_transformers() -> Any:
    """Import transformers, with an install hint if the ``llm`` extra is missing."""
    try:
        import transformers
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "moo_lenient.llm needs transformers, peft and tokenizers: "
            'pip install "moo_lenient[llm]"'
        ) from exc
    return transformers


def _data_text(name: str) -> str:
    return (
        resources.files("moo_lenient.llm")
        .joinpath("data")
        .joinpath(name)
        .read_text(encoding="utf-8")
    )


def load_prompts(split: Literal["train", "eval", "all"] = "train") -> list[str]:
    """The shipped prompts: 256 for training, 64 held out for evaluation."""
    lines = [
        line.strip()
        for line in _data_text("prompts.txt").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    if split == "train":
        return lines[:-_EVAL_PROMPTS]
    if split == "eval":
        return lines[-_EVAL_PROMPTS:]
    if split == "all":
        return lines
    raise ValueError(f"split must be 'train', 'eval' or 'all', got {split!r}")


@functools.lru_cache(maxsize=4)
def _trained_tokenizer_json(vocab_size: int) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte: nothing is unknown
        show_progress=False,
    )
    text = _data_text("corpus.txt").splitlines() + load_prompts("all")
    tok.train_from_iterator(text, trainer=trainer)
    return tok.to_str()


def build_tokenizer(vocab_size: int = 512) -> Any:
    """A byte-level BPE tokenizer trained on the shipped text (deterministic, ~0.02 s).

    ``<|endoftext|>`` is BOS/EOS, ``<pad>`` pads, padding is on the left (for generation).
    """
    transformers = require_transformers()
    from tokenizers import Tokenizer

    tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_trained_tokenizer_json(int(vocab_size))),
        bos_token=EOS,
        eos_token=EOS,
        pad_token=PAD,
        padding_side="left",
    )
    return tok


def build_tiny_model(
    tokenizer: Any,
    family: Literal["gpt2", "llama"] = "gpt2",
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    seed: int = 0,
) -> Any:
    """A small causal LM with random weights from a config (no download), dropout off."""
    transformers = require_transformers()
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    common = {
        "vocab_size": len(tokenizer),
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    if family == "gpt2":
        config = transformers.GPT2Config(
            n_embd=hidden,
            n_layer=layers,
            n_head=heads,
            n_positions=256,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            **common,
        )
        cls = transformers.GPT2LMHeadModel
    else:
        config = transformers.LlamaConfig(
            hidden_size=hidden,
            intermediate_size=2 * hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=max(1, heads // 2),
            max_position_embeddings=256,
            **common,
        )
        cls = transformers.LlamaForCausalLM
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = cls(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.eval()


@dataclass
class Preset:
    """A policy model, its tokenizer and the prompts to train and evaluate on."""

    model: Any
    tokenizer: Any
    train_prompts: list[str] = field(repr=False)
    eval_prompts: list[str] = field(repr=False)
    name: str = "tiny"


def load_preset(
    name: str | None = "tiny",
    *,
    model_path: str | Path | None = None,
    family: Literal["gpt2", "llama"] = "gpt2",
    seed: int = 0,
) -> Preset:
    """The ``tiny`` preset, or a pretrained model from a local directory (``model_path``).

    The prompts are the shipped ones in both cases.
    """
    if model_path is not None:
        transformers = require_transformers()
        path = Path(model_path)
        if not path.is_dir():
            raise FileNotFoundError(f"model_path {str(path)!r} is not a directory")
        tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model = transformers.AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        return Preset(
            model.eval(), tokenizer, load_prompts("train"), load_prompts("eval"), str(path)
        )
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; available: {list(PRESETS)}")
    tokenizer = build_tokenizer()
    model = build_tiny_model(tokenizer, family=family, seed=seed)
    return Preset(model, tokenizer, load_prompts("train"), load_prompts("eval"), name)
