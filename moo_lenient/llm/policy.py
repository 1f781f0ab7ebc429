"""Sampling groups of completions and their token log-probabilities (transformers models).

Works with any causal LM of ``transformers`` (and PEFT-wrapped ones): the tiny preset, or a
pretrained model loaded from a local path.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

__all__ = [
    "Rollout",
    "completion_logprobs",
    "lora_parameters",
    "sample_group",
    "trainable_parameters",
]


@dataclass
class Rollout:
    """N = P·G completions, G per prompt, laid out group after group.

    Attributes:
        prompts: N prompt strings (each of the P prompts repeated G times).
        completions: N decoded completions (special tokens removed).
        completion_ids: N lists of completion token ids (up to and including the first EOS).
        input_ids: (N, L + T) prompt (left-padded to L) then completion tokens.
        attention_mask: (N, L + T).
        completion_mask: (N, T): 1 on completion tokens up to and including the first EOS.
        group_size: G.
    """

    prompts: list[str]
    completions: list[str]
    completion_ids: list[list[int]]
    input_ids: Tensor
    attention_mask: Tensor
    completion_mask: Tensor
    group_size: int

    @property
    def prompt_length(self) -> int:
        return self.input_ids.shape[1] - self.completion_mask.shape[1]

    def __len__(self) -> int:
        return len(self.completions)


@torch.no_grad()
def sample_group(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    group_size: int,
    max_new_tokens: int = 16,
    temperature: float = 1.0,
    max_prompt_length: int = 64,
) -> Rollout:
    """Sample ``group_size`` completions for each prompt (uses torch's global RNG: seed it).

    The model is put in eval mode for sampling and its previous mode restored.
    """
    if group_size < 1 or max_new_tokens < 1:
        raise ValueError("group_size and max_new_tokens must be positive")
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if tokenizer.pad_token_id is None or tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer needs a pad and an EOS token")
    repeated = [p for p in prompts for _ in range(group_size)]
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        enc = tokenizer(
            repeated,
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=max_prompt_length,
        )
    finally:
        tokenizer.padding_side = side
    device = next(model.parameters()).device
    enc = {k: v.to(device) for k, v in enc.items()}
    was_training = model.training
    model.eval()
    try:
        out = model.generate(
            **enc,
            do_sample=True,
            temperature=temperature,
            top_k=0,
            top_p=1.0,
            max_new_tokens=max_new_tokens,
            min_new_tokens=1,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    finally:
        model.train(was_training)
    prompt_len = enc["input_ids"].shape[1]
    completion = out[:, prompt_len:]
    is_eos = completion == tokenizer.eos_token_id
    # 1 up to and including the first EOS.
    after_eos = (is_eos.cumsum(1) - is_eos.long()) > 0
    completion_mask = (~after_eos).long()
    ids = [row[m.bool()].tolist() for row, m in zip(completion, completion_mask, strict=True)]
    texts = tokenizer.batch_decode(
        [[t for t in row if t != tokenizer.eos_token_id] for row in ids], skip_special_tokens=True
    )
    attention = torch.cat([enc["attention_mask"], completion_mask], dim=1)
    return Rollout(
        prompts=repeated,
        completions=texts,
        completion_ids=ids,
        input_ids=out,
        attention_mask=attention,
        completion_mask=completion_mask,
        group_size=group_size,
    )


def completion_logprobs(
    model: Any, rollout: Rollout, temperature: float = 1.0, disable_adapter: bool = False
) -> Tensor:
    """(N, T) log-probabilities of the completion tokens under ``model`` (one forward pass).

    ``disable_adapter=True`` evaluates a PEFT model with its adapters off, i.e. the frozen base
    model, which is the KL reference for LoRA training (no second copy of the weights).
    """
    ids, attention = rollout.input_ids, rollout.attention_mask
    positions = (attention.cumsum(1) - 1).clamp_min(0)
    if disable_adapter:
        with model.disable_adapter():
            logits = model(input_ids=ids, attention_mask=attention, position_ids=positions).logits
    else:
        logits = model(input_ids=ids, attention_mask=attention, position_ids=positions).logits
    p = rollout.prompt_length
    logits = logits[:, p - 1 : -1].float() / temperature
    targets = ids[:, p:]
    return torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def trainable_parameters(
    model: Any, scope: Literal["trainable", "lora"] = "trainable"
) -> list[tuple[str, Tensor]]:
    """Named parameters whose per-objective gradients are taken.

    ``"trainable"``: every parameter with ``requires_grad`` (LoRA adapters on a PEFT model,
    everything for full fine-tuning); ``"lora"``: only those whose name contains ``lora_``.
    """
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if scope == "lora":
        named = [(n, p) for n, p in named if "lora_" in n]
    elif scope != "trainable":
        raise ValueError(f"scope must be 'trainable' or 'lora', got {scope!r}")
    if not named:
        raise ValueError(f"the model has no parameters in scope {scope!r}")
    return named


def lora_parameters(model: Any) -> Iterable[Tensor]:
    return [p for _, p in trainable_parameters(model, "lora")]
