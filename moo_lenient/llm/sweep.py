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
import warnings
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
from moo_lenient.methods import PreferenceIgnoredWarning

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


def default_config(model_path: str | None = None) -> AlignConfig:
    """LoRA for a pretrained model; full fine-tuning for the tiny preset, whose random weights
    give LoRA adapters little leverage over the output distribution (measured with LS, 80
    steps, w = (0.9, 0.1) against (0.1, 0.9): held-out mean rewards differ by at most 0.015
    with LoRA and by up to 0.80 with full fine-tuning; docs/llm.md)."""
    return AlignConfig(learning_rate=1e-2, lora=model_path is not None)


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
    base = config or default_config(model_path)
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
    seeds: int = 3,
    seed: int = 0,
    out: str | Path = "align-results",
    tabular_steps: int = 300,
    eval_prompts: int = 32,
    config: AlignConfig | None = None,
    model_path: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Every method x preference x seed on the preset (a fresh model each), then the same
    sweep on the tabular softmax policy; writes ``sweep.json``, ``table.md`` and the plots.

    Seeds ``seed .. seed + seeds - 1`` set the model's initialization, the prompt order and the
    sampling; every method sees the same ones.
    """
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    prefs = preference_grid(num_preferences, len(rewards))
    seed_list = [seed + j for j in range(seeds)]
    runs = [(m, s, i) for m in methods for s in seed_list for i in range(len(prefs))]
    iterator: Any = runs
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(runs, desc="align-sweep", unit="run")
    lm = {m: np.zeros((seeds, len(prefs), len(rewards))) for m in methods}
    seconds: dict[str, float] = dict.fromkeys(methods, 0.0)
    # Every method gets every preference by design, the preference-free baselines (MGDA)
    # included: their PreferenceIgnoredWarning says nothing the sweep does not know.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreferenceIgnoredWarning)
        for method, s, i in iterator:
            began = time.perf_counter()
            _, scores = align_run(
                method,
                prefs[i],
                rewards=rewards,
                steps=steps,
                seed=s,
                eval_prompts=eval_prompts,
                config=config,
                model_path=model_path,
            )
            seconds[method] += time.perf_counter() - began
            lm[method][s - seed, i] = scores
        tab = {}
        if len(rewards) in (2, 3):
            tab = {
                m: np.array(
                    [
                        [
                            train_tabular(
                                m, w, num_objectives=len(rewards), steps=tabular_steps, seed=s
                            ).expected_rewards
                            for w in prefs
                        ]
                        for s in seed_list
                    ]
                )
                for m in methods
            }
    result = {
        "methods": list(methods),
        "rewards": list(rewards),
        "preferences": prefs.tolist(),
        "steps": steps,
        "seeds": seed_list,
        "lm": {m: v.tolist() for m, v in lm.items()},  # (seeds, preferences, K)
        "lm_seconds": seconds,
        "tabular": {m: v.tolist() for m, v in tab.items()},
        "tabular_steps": tabular_steps,
        "eval_prompts": eval_prompts,
    }
    (out / "sweep.json").write_text(json.dumps(result, indent=1))
    result["table"] = render(out)
    return result


def render(out: str | Path) -> str:
    """Write ``table.md`` and the plots from ``out/sweep.json``; return the table."""
    out = Path(out)
    path = out / "sweep.json"
    if not path.is_file():
        raise FileNotFoundError(f"no sweep results at {path}")
    result = json.loads(path.read_text())
    prefs = np.asarray(result["preferences"])
    rewards, steps, seeds = result["rewards"], result["steps"], len(result["seeds"])
    table = sweep_table(result)
    (out / "table.md").write_text(table + "\n")
    plot_front(
        {m: (prefs, np.asarray(v).mean(0)) for m, v in result["lm"].items()},
        list(rewards),
        str(out / "front.png"),
        title=f"tiny preset, {steps} steps, mean of {seeds} seed(s) (held-out prompts)",
    )
    if result.get("tabular"):
        plot_front(
            {m: (prefs, np.asarray(v).mean(0)) for m, v in result["tabular"].items()},
            [f"r{i + 1}" for i in range(len(rewards))],
            str(out / "front_tabular.png"),
            title=(
                f"tabular softmax policy, {result['tabular_steps']} steps, mean of {seeds} seed(s)"
            ),
        )
    return table


def _mean_std(values: Sequence[float], digits: int = 3) -> str:
    arr = np.asarray(values, float)
    if arr.size == 1:
        return f"{arr[0]:.{digits}f}"
    return f"{arr.mean():.{digits}f} ± {arr.std(ddof=1):.{digits}f}"


def sweep_table(result: dict[str, Any]) -> str:
    """Markdown tables per policy: the indicators per method (mean ± std over seeds, each
    seed's front scored on its own), the trend (Spearman correlation of w_k with the
    seed-mean reward k), then the seed-mean rewards per preference."""
    prefs = np.asarray(result["preferences"])
    names = result["rewards"]
    k = len(names)
    n_seeds = len(result["seeds"])
    sections = [("language model", result["lm"], True, names, -np.ones(k))]
    if result.get("tabular"):
        tab_names = [f"r{i + 1}" for i in range(k)]
        sections.append(
            ("tabular softmax policy", result["tabular"], False, tab_names, np.zeros(k))
        )
    lines: list[str] = []
    for title, data, timed, cols, reference in sections:
        lines += [
            f"**{title}** (reward reference point {reference.tolist()}; {n_seeds} seed(s), "
            "mean ± std)",
            "",
            "| method | hypervolume | maximum spread | preference compliance | "
            + " | ".join(f"trend {n}" for n in cols)
            + (" | seconds |" if timed else " |"),
            "|---|---|---|---|" + "---|" * k + ("---|" if timed else ""),
        ]
        for method, runs in data.items():
            per_seed = [front_metrics(prefs, np.asarray(r), reference) for r in runs]
            mean_rewards = np.asarray(runs).mean(0)
            trend = front_metrics(prefs, mean_rewards, reference)["trend"]
            cells = [
                _mean_std([m["hypervolume"] for m in per_seed]),
                _mean_std([m["maximum_spread"] for m in per_seed]),
                _mean_std([m["preference_compliance"] for m in per_seed]),
                *[f"{t:+.2f}" for t in trend],
            ]
            if timed:
                cells.append(f"{result['lm_seconds'][method]:.0f}")
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines += ["", f"Mean rewards ({', '.join(cols)}) per preference, mean over seeds:", ""]
        lines += ["| preference | " + " | ".join(data) + " |", "|---|" + "---|" * len(data)]
        means = {m: np.asarray(r).mean(0) for m, r in data.items()}
        for i, w in enumerate(prefs):
            cells = ["(" + ", ".join(f"{x:.3f}" for x in means[m][i]) + ")" for m in data]
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
