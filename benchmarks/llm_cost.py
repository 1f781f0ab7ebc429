"""The step cost of multi-objective LLM training, against one weighted-sum step.

One fixed batch of rollouts (P prompts x G completions of T new tokens, sampled once with
the tiny model and reused everywhere) and fixed random per-objective advantages A (N, K)
(their values do not change the cost) are pushed through one optimizer step in each of these
variants, for K = 2 and K = 3 rewards, LoRA adapters or full fine-tuning, on randomly
initialized GPT-2 models built offline:

- ``single``: one loss L(Σ_k w_k A_k), i.e. the policy-gradient loss of the weighted-sum
  advantage, one ``backward()``, then AdamW: what a single-objective trainer with summed
  rewards (TRL's ``reward_weights``) pays per step;
- ``moo-<method>``: ``MultiObjectiveOptimizer.step`` with the K per-objective losses (K
  sequential ``autograd.grad`` calls through one graph into a K x d Jacobian, the method's
  weights, ``.grad`` written, AdamW);
- ``K backward floor``: the same K ``autograd.grad`` calls (``retain_graph``), their gradients
  summed in place into ``.grad`` (no K x d buffer, no method), then AdamW: the least that
  exact per-objective gradients cost.

Every variant starts with the forward pass (``completion_logprobs``). Two times are kept per
step, from the same run: the full step, and the part after the forward (the losses, the
backward work, the aggregation and the optimizer step), which isolates the overhead of K
backward passes and of aggregation. Each is the median over ``--repeats`` steps after
``--warmup`` warm-up steps; the variants are interleaved within each repeat so that load from
other processes falls on all of them alike. torch runs on ``--threads`` threads (default 1:
on a machine shared with other jobs, more threads than free cores make timings scatter).

Reading the ratios: ``step x`` is a variant's full step time over the ``single`` step time of
the same model, mode and K; ``after fwd x`` is the same ratio for the part after the forward.
For K exact gradients the after-forward ratio is expected near K (K backward passes instead of
one); the full-step ratio is lower because the forward is paid once. The gap between a
``moo-<method>`` row and the ``K backward floor`` row is the cost of the K x d Jacobian buffer
and the method itself. Absolute times depend on the machine (and on other jobs running on it);
compare ratios.

    python benchmarks/llm_cost.py                                  # tiny + medium, ~2-4 min
    python benchmarks/llm_cost.py --out docs/data/llm/cost.md   # the table in docs/llm.md
    python benchmarks/llm_cost.py --large --repeats 3   # + GPT-2-small's shape: slow on CPU

``--large`` adds hidden 768 / 12 layers (86M parameters; the K = 3 full fine-tuning buffer is
about 1 GB): one repeat round of its variants takes several minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from moo_lenient.llm.losses import policy_gradient_losses
from moo_lenient.llm.policy import Rollout, completion_logprobs, sample_group, trainable_parameters
from moo_lenient.llm.presets import build_tiny_model, build_tokenizer, load_prompts
from moo_lenient.optimizer import MultiObjectiveOptimizer

#: name -> (hidden, layers, heads) of a GPT-2 config with random weights.
MODELS: dict[str, tuple[int, int, int]] = {
    "tiny": (64, 2, 4),
    "medium": (256, 4, 4),
    "large": (768, 12, 12),
}
DEFAULT_MODELS = ("tiny", "medium")
MODES = ("lora", "full")
KS = (2, 3)
METHODS = ("plc", "mgda", "pcgrad", "ls")
SINGLE, FLOOR = "single", "K backward floor"
VARIANTS = (SINGLE, *(f"moo-{m}" for m in METHODS), FLOOR)
LEARNING_RATE = 1e-6  # tiny steps: the weights barely move between timed steps


@dataclass(frozen=True)
class Row:
    """The timings of one variant for one model, mode and K (seconds, medians)."""

    model: str
    mode: str
    params: int
    k: int
    buffer_mb: float
    variant: str
    step: float
    after_forward: float
    step_ratio: float = float("nan")
    after_forward_ratio: float = float("nan")


def _lora(model: Any) -> Any:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=8,
        lora_alpha=16,
        lora_dropout=0.0,
        fan_in_fan_out=True,  # GPT-2's Conv1D layers
        task_type="CAUSAL_LM",
    )
    with warnings.catch_warnings():
        # transformers 5 deprecates `is_gradient_checkpointing`, which peft still reads.
        warnings.filterwarnings(
            "ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning
        )
        return get_peft_model(model, config)


def _build(tokenizer: Any, name: str, mode: str) -> Any:
    hidden, layers, heads = MODELS[name]
    model = build_tiny_model(tokenizer, "gpt2", hidden=hidden, layers=layers, heads=heads, seed=0)
    if mode == "lora":
        model = _lora(model)
    elif mode != "full":
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return model.train()


def _step_fns(
    model: Any, rollout: Rollout, advantages: Tensor
) -> dict[str, Callable[[], tuple[float, float]]]:
    """One callable per variant: it runs one step and returns (full, after-forward) seconds."""
    k = advantages.shape[1]
    params = [p for _, p in trainable_parameters(model)]
    weights = torch.full((k,), 1.0 / k)
    mixed = advantages @ weights.unsqueeze(1)  # (N, 1): the weighted-sum advantage
    values = torch.linspace(-1.0, 0.0, k, dtype=torch.float64).numpy()  # for PLC's prices
    mask = rollout.completion_mask

    def adamw() -> torch.optim.AdamW:
        return torch.optim.AdamW(params, lr=LEARNING_RATE)

    def single() -> tuple[float, float]:
        start = time.perf_counter()
        logprobs = completion_logprobs(model, rollout)
        mid = time.perf_counter()
        inner.zero_grad(set_to_none=True)
        policy_gradient_losses(logprobs, mask, mixed)[0].backward()
        inner.step()
        end = time.perf_counter()
        return end - start, end - mid

    def floor() -> tuple[float, float]:
        start = time.perf_counter()
        logprobs = completion_logprobs(model, rollout)
        mid = time.perf_counter()
        losses = policy_gradient_losses(logprobs, mask, advantages)
        for i in range(k):
            grads = torch.autograd.grad(losses[i], params, retain_graph=i < k - 1)
            for p, g in zip(params, grads, strict=True):
                if i == 0:
                    p.grad = g
                else:
                    p.grad.add_(g)
        floor_opt.step()
        end = time.perf_counter()
        return end - start, end - mid

    def moo(opt: MultiObjectiveOptimizer) -> Callable[[], tuple[float, float]]:
        def run() -> tuple[float, float]:
            start = time.perf_counter()
            logprobs = completion_logprobs(model, rollout)
            mid = time.perf_counter()
            losses = policy_gradient_losses(logprobs, mask, advantages)
            opt.step(losses, values=values)
            end = time.perf_counter()
            return end - start, end - mid

        return run

    inner, floor_opt = adamw(), adamw()
    fns: dict[str, Callable[[], tuple[float, float]]] = {SINGLE: single}
    for method in METHODS:
        opt = MultiObjectiveOptimizer(
            adamw(), method=method, preference=weights.tolist(), total_steps=10_000
        )
        fns[f"moo-{method}"] = moo(opt)
    fns[FLOOR] = floor
    return fns


def _time_interleaved(
    fns: dict[str, Callable[[], tuple[float, float]]], warmup: int, repeats: int
) -> dict[str, tuple[float, float]]:
    """Medians of (full, after-forward) seconds, the variants interleaved within each round."""
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in fns}
    gc.collect()
    gc.freeze()  # the long-lived objects (modules, model) are not rescanned by gc.collect below
    try:
        for round_ in range(warmup + repeats):
            for name, fn in fns.items():
                gc.collect()
                gc.disable()  # no collector pauses inside a timed step
                try:
                    times = fn()
                finally:
                    gc.enable()
                if round_ >= warmup:
                    samples[name].append(times)
    finally:
        gc.unfreeze()
    return {
        name: (statistics.median(t[0] for t in s), statistics.median(t[1] for t in s))
        for name, s in samples.items()
    }


def run_benchmark(
    models: Sequence[str] = DEFAULT_MODELS,
    *,
    repeats: int = 7,
    warmup: int = 2,
    prompts: int = 4,
    group_size: int = 4,
    new_tokens: int = 32,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> tuple[list[Row], dict[str, Any]]:
    """Time every variant; returns the rows (ratios filled in) and a description of the batch."""
    if repeats < 1 or warmup < 0:
        raise ValueError("repeats must be >= 1 and warmup >= 0")
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; available: {list(MODELS)}")
    tokenizer = build_tokenizer()
    sampler = build_tiny_model(tokenizer, "gpt2", *MODELS["tiny"], seed=seed)
    with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG alone
        torch.manual_seed(seed)
        rollout = sample_group(
            sampler, tokenizer, load_prompts("train")[:prompts], group_size, new_tokens
        )
    n = len(rollout)
    gen = torch.Generator().manual_seed(seed)
    advantages = {k: torch.randn(n, k, generator=gen) for k in KS}
    batch = {
        "prompts": prompts,
        "group_size": group_size,
        "sequences": n,
        "prompt_tokens": rollout.prompt_length,
        "new_tokens": rollout.completion_mask.shape[1],
        "completion_tokens": int(rollout.completion_mask.sum()),
    }
    rows: list[Row] = []
    for name in models:
        for mode in MODES:
            model = _build(tokenizer, name, mode)
            d = sum(p.numel() for _, p in trainable_parameters(model))
            for k in KS:
                if log is not None:
                    log(f"timing {name} / {mode} / K={k} ...")
                medians = _time_interleaved(
                    _step_fns(model, rollout, advantages[k]), warmup, repeats
                )
                base_step, base_after = medians[SINGLE]
                for variant, (step, after) in medians.items():
                    rows.append(
                        Row(
                            model=name,
                            mode=mode,
                            params=d,
                            k=k,
                            buffer_mb=k * d * 4 / 1e6,
                            variant=variant,
                            step=step,
                            after_forward=after,
                            step_ratio=step / base_step,
                            after_forward_ratio=after / base_after,
                        )
                    )
            del model
    return rows, batch


def render(rows: Sequence[Row], batch: dict[str, Any], repeats: int, warmup: int) -> str:
    """The markdown report: header lines, then one table row per variant."""
    import peft
    import transformers

    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    shapes = ", ".join(
        f"{name} = GPT-2 hidden {MODELS[name][0]} / {MODELS[name][1]} layers / "
        f"{MODELS[name][2]} heads"
        for name in dict.fromkeys(r.model for r in rows)
    )
    lines = [
        "# Step cost of multi-objective LLM training (benchmarks/llm_cost.py)",
        "",
        f"- torch {torch.__version__}, transformers {transformers.__version__}, "
        f"peft {peft.__version__}, Python {platform.python_version()}",
        f"- threads: {torch.get_num_threads()} (torch.set_num_threads); "
        f"CPUs: {os.cpu_count()}; {platform.machine()}; {now}",
        "- the machine may have been shared with other jobs: absolute times can be inflated; "
        "the ratios compare variants interleaved in the same run",
        f"- models (random init, vocab 512): {shapes}; LoRA r=8 on GPT-2's default modules",
        f"- batch: {batch['prompts']} prompts x {batch['group_size']} completions = "
        f"{batch['sequences']} sequences of {batch['prompt_tokens']} prompt + "
        f"{batch['new_tokens']} new tokens ({batch['completion_tokens']} completion tokens "
        "unmasked); random advantages; AdamW",
        f"- median of {repeats} steps after {warmup} warm-ups; `step` = forward + backward "
        "work + optimizer step, `after fwd` = the step without the forward; `x` = ratio to "
        "`single` of the same model, mode and K",
        "- `K x d MB`: the float32 K x d per-objective gradient buffer over the trainable "
        "parameters (MB = 10^6 bytes)",
        "",
        "| model | mode | trainable params | K | K x d MB | variant | step ms | after fwd ms "
        "| step x | after fwd x |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    lines.extend(
        f"| {r.model} | {r.mode} | {r.params:,} | {r.k} | {r.buffer_mb:.2f} | {r.variant} "
        f"| {1e3 * r.step:.1f} | {1e3 * r.after_forward:.1f} | {r.step_ratio:.2f} "
        f"| {r.after_forward_ratio:.2f} |"
        for r in rows
    )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per variant first")
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    parser.add_argument(
        "--large",
        action="store_true",
        help="add GPT-2-small's shape (hidden 768, 12 layers; slow on CPU)",
    )
    parser.add_argument(
        "--models",
        default=",".join(DEFAULT_MODELS),
        help=f"comma-separated subset of {list(MODELS)} (default: %(default)s)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch.set_num_threads (default 1: on a busy machine extra threads wait on each "
        "other and the timings scatter)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if args.large and "large" not in models:
        models.append("large")
    start = time.perf_counter()

    def log(msg: str) -> None:
        if not args.quiet:
            print(f"[{time.perf_counter() - start:6.1f} s] {msg}", file=sys.stderr, flush=True)

    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        rows, batch = run_benchmark(models, repeats=args.repeats, warmup=args.warmup, log=log)
        table = render(rows, batch, args.repeats, args.warmup)
    finally:
        torch.set_num_threads(threads)  # main() may be called from a test session
    print(table, end="")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table, encoding="utf-8")
    log(f"done in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
