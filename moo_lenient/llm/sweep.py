"""``align`` and ``align-sweep``: train over preferences, evaluate, tabulate and plot.

The tiny preset's default rewards are a pair a randomly initialized tiny model can move and
that conflict (measured gradient cosine about -0.5): ``words``, a length target of 12 words
(:class:`~moo_lenient.llm.rewards.LengthReward`), and ``brevity``, minus the completion's
character count / 100, capped at 1 (:class:`~moo_lenient.llm.rewards.CostAsReward`). More
words need more spaces and characters, so the two pull apart. Both lie in [-1, 0], so the
reward reference point of the indicators is (-1, ..., -1).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from moo_lenient.llm.evaluation import evaluate_rewards, front_metrics, plot_front
from moo_lenient.llm.presets import load_preset
from moo_lenient.llm.rewards import (
    CheerfulnessReward,
    CostAsReward,
    HarmlessnessReward,
    LengthReward,
)
from moo_lenient.llm.tabular import train_tabular
from moo_lenient.llm.trainer import AlignConfig, MultiObjectiveAligner, preference_prefix

__all__ = [
    "REWARDS",
    "align_cli_run",
    "align_run",
    "align_sweep",
    "make_rewards",
    "preference_grid",
]


def _character_cost(prompts: Sequence[str], completions: Sequence[str], **_: Any) -> list[float]:
    return [min(1.0, len(c) / 100.0) for c in completions]


_character_cost.__name__ = "characters"

#: Reward names the CLI accepts; every one lies in [-1, 0] or [0, 1).
REWARDS: dict[str, Callable[[], Callable[..., list[float | None]]]] = {
    "words": lambda: LengthReward(target_words=12, name="words"),
    "brevity": lambda: CostAsReward(_character_cost, name="brevity"),
    "harmless": lambda: HarmlessnessReward(),
    "cheerful": lambda: CheerfulnessReward(),
}
DEFAULT_REWARDS = ("words", "brevity")


def make_rewards(names: Sequence[str]) -> list[Callable[..., list[float | None]]]:
    unknown = [n for n in names if n not in REWARDS]
    if unknown:
        raise ValueError(f"unknown reward(s) {unknown}; available: {sorted(REWARDS)}")
    if len(set(names)) != len(names) or len(names) < 2:
        raise ValueError(f"give at least two distinct rewards, got {list(names)}")
    return [REWARDS[n]() for n in names]


def preference_grid(count: int, k: int) -> np.ndarray:
    """``count`` preferences: for K = 2 the weights on the first reward are evenly spaced in
    [0.1, 0.9]; for K > 2 a Dirichlet(1) sample with a fixed seed."""
    if count < 2:
        raise ValueError("a sweep needs at least two preferences")
    if k == 2:
        w1 = np.linspace(0.9, 0.1, count)
        return np.stack([w1, 1.0 - w1], axis=1)
    return np.random.default_rng(0).dirichlet(np.ones(k), size=count)


def align_run(
    method: str,
    preference: Sequence[float],
    *,
    rewards: Sequence[str] = DEFAULT_REWARDS,
    steps: int = 80,
    preset: str = "tiny",
    model_path: str | None = None,
    config: AlignConfig | None = None,
    seed: int = 0,
    eval_prompts: int = 32,
    log_path: str | Path | None = None,
) -> tuple[MultiObjectiveAligner, np.ndarray]:
    """Train one policy for ``preference`` and return it with its held-out mean rewards."""
    funcs = make_rewards(rewards)
    base = config or AlignConfig(learning_rate=5e-2)
    cfg = replace(base, method=method, preference=list(preference), steps=steps, seed=seed)
    p = load_preset(preset, model_path=model_path, seed=seed)
    aligner = MultiObjectiveAligner(
        p.model, p.tokenizer, funcs, p.train_prompts, cfg, log_path=log_path
    )
    aligner.train()
    prefix = preference_prefix(cfg.preference) if cfg.condition_on_preference else ""
    scores = evaluate_rewards(
        aligner.model,
        p.tokenizer,
        funcs,
        p.eval_prompts[:eval_prompts],
        max_new_tokens=cfg.max_new_tokens,
        prefix=prefix,
        seed=seed + 1,
    )
    return aligner, scores


def align_sweep(
    methods: Sequence[str] = ("plc", "ls", "mgda", "pcgrad"),
    num_preferences: int = 5,
    *,
    rewards: Sequence[str] = DEFAULT_REWARDS,
    steps: int = 80,
    seed: int = 0,
    out: str | Path = "align-results",
    tabular_steps: int = 300,
    eval_prompts: int = 32,
    progress: bool = True,
) -> dict[str, Any]:
    """Every method x preference on the tiny preset (fresh model each), then the same sweep on
    the tabular softmax policy; writes ``sweep.json``, ``table.md`` and ``front.png``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    prefs = preference_grid(num_preferences, len(rewards))
    runs = [(m, i) for m in methods for i in range(len(prefs))]
    iterator: Any = runs
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(runs, desc="align-sweep", unit="run")
    lm: dict[str, list[list[float]]] = {m: [] for m in methods}
    seconds: dict[str, float] = dict.fromkeys(methods, 0.0)
    for method, i in iterator:
        began = time.perf_counter()
        _, scores = align_run(
            method, prefs[i], rewards=rewards, steps=steps, seed=seed, eval_prompts=eval_prompts
        )
        seconds[method] += time.perf_counter() - began
        lm[method].append(scores.tolist())
    tab: dict[str, list[list[float]]] = {}
    if len(rewards) in (2, 3):
        for method in methods:
            tab[method] = [
                train_tabular(
                    method, w, num_objectives=len(rewards), steps=tabular_steps, seed=seed
                ).expected_rewards.tolist()
                for w in prefs
            ]
    result = {
        "methods": list(methods),
        "rewards": list(rewards),
        "preferences": prefs.tolist(),
        "steps": steps,
        "seed": seed,
        "lm": lm,
        "lm_seconds": seconds,
        "tabular": tab,
        "tabular_steps": tabular_steps,
        "eval_prompts": eval_prompts,
    }
    (out / "sweep.json").write_text(json.dumps(result, indent=1))
    table = sweep_table(result)
    (out / "table.md").write_text(table + "\n")
    plot_front(
        {m: (prefs, np.asarray(lm[m])) for m in methods},
        list(rewards),
        str(out / "front.png"),
        title=f"tiny preset, {steps} steps per preference (held-out prompts)",
    )
    if tab:
        plot_front(
            {m: (prefs, np.asarray(tab[m])) for m in methods},
            list(rewards),
            str(out / "front_tabular.png"),
            title=f"tabular softmax policy, {tabular_steps} steps per preference",
        )
    result["table"] = table
    return result


def sweep_table(result: dict[str, Any]) -> str:
    """Markdown tables: indicators per method, then mean rewards per preference."""
    prefs = np.asarray(result["preferences"])
    names = result["rewards"]
    lines = []
    sections = [("tiny language model", result["lm"], True)]
    if result.get("tabular"):
        sections.append(("tabular softmax policy", result["tabular"], False))
    for title, data, timed in sections:
        lines += [
            f"**{title}** (reward reference point {[-1.0] * len(names)})",
            "",
            "| method | hypervolume | maximum spread | preference compliance | "
            + " | ".join(f"trend {n}" for n in names)
            + (" | seconds |" if timed else " |"),
            "|---|---|---|---|" + "---|" * len(names) + ("---|" if timed else ""),
        ]
        for method, rows in data.items():
            r = np.asarray(rows)
            m = front_metrics(prefs, r, -np.ones(len(names)))
            cells = [
                f"{m['hypervolume']:.4f}",
                f"{m['maximum_spread']:.4f}",
                f"{m['preference_compliance']:.4f}",
                *[f"{t:+.2f}" for t in m["trend"]],
            ]
            if timed:
                cells.append(f"{result['lm_seconds'][method]:.0f}")
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines += ["", "Mean rewards per preference:", ""]
        header = "| preference | " + " | ".join(data) + " |"
        lines += [header, "|---|" + "---|" * len(data)]
        for i, w in enumerate(prefs):
            cells = ["(" + ", ".join(f"{x:.3f}" for x in data[mth][i]) + ")" for mth in data]
            lines.append(f"| ({', '.join(f'{x:.2f}' for x in w)}) | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def align_cli_run(args: Any, rewards: Sequence[str], config: AlignConfig) -> dict[str, Any]:
    """``moo-lenient align``: one run, with log.csv, checkpoint.pt and result.json."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    k = len(rewards)
    pref = config.preference if config.preference is not None else [1.0 / k] * k
    if len(pref) != k:
        raise ValueError(f"--preference has {len(pref)} entries but there are {k} rewards")
    log = out / "log.csv"
    if log.exists():
        log.unlink()
    cfg = replace(config, preference=list(pref))
    aligner, scores = align_run(
        cfg.method,
        pref,
        rewards=rewards,
        steps=args.steps,
        model_path=args.model_path,
        preset=args.preset,
        config=cfg,
        seed=args.seed,
        eval_prompts=args.eval_prompts,
        log_path=log,
    )
    aligner.save(out / "checkpoint.pt")
    first, last = aligner.history[0], aligner.history[-1]
    result = {
        "method": cfg.method,
        "preference": list(map(float, aligner.config.preference)),
        "rewards": list(rewards),
        "steps": args.steps,
        "eval_mean_rewards": scores.tolist(),
        "train_first_step": {n: first[f"reward/{n}"] for n in aligner.names},
        "train_last_step": {n: last[f"reward/{n}"] for n in aligner.names},
    }
    (out / "result.json").write_text(json.dumps(result, indent=1))
    lines = [
        "| reward | first step (train) | last step (train) | held-out mean |",
        "|---|---|---|---|",
    ]
    for i, n in enumerate(aligner.names):
        lines.append(
            f"| {n} | {first[f'reward/{n}']:.4f} | {last[f'reward/{n}']:.4f} | {scores[i]:.4f} |"
        )
    result["summary"] = "\n".join(lines)
    return result
