"""Evaluating aligned policies over preferences: mean rewards, the front's indicators, a plot.

A sweep gives, for each preference w_i, the mean rewards R_i (K,) of the policy trained (or
conditioned) for w_i on held-out prompts. The indicators of :mod:`moo_lenient.metrics` work on
losses, so they are taken on f = -R with the reference point f_ref = -R_ref, R_ref a fixed
"worst acceptable" reward per objective (the lower ends of the rewards' ranges):

- hypervolume of {f_i} w.r.t. f_ref (larger is better);
- maximum spread (PLC paper eq. 32) of the rewards;
- preference compliance (eq. 33): the mean cosine between w_i and y_i = R_i - R_ref.

The trend check is what "the preference steers the rewards" means: for each objective k, the
Spearman rank correlation across the sweep between w_ik and R_ik (+1: more weight always gave
more reward).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from moo_lenient.llm.policy import sample_group
from moo_lenient.llm.rewards import reward_matrix
from moo_lenient.metrics import hypervolume, maximum_spread, preference_compliance

__all__ = ["evaluate_rewards", "front_metrics", "plot_front", "preference_trend"]


@torch.no_grad()
def evaluate_rewards(
    model: Any,
    tokenizer: Any,
    reward_funcs: Sequence[Callable[..., list[float | None]]],
    prompts: Sequence[str],
    *,
    group_size: int = 4,
    max_new_tokens: int = 16,
    temperature: float = 1.0,
    prefix: str = "",
    seed: int = 0,
    batch_prompts: int = 16,
) -> np.ndarray:
    """(K,) mean rewards of ``group_size`` sampled completions per held-out prompt."""
    sums, counts = None, None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for start in range(0, len(prompts), batch_prompts):
            chunk = [prefix + p for p in prompts[start : start + batch_prompts]]
            rollout = sample_group(model, tokenizer, chunk, group_size, max_new_tokens, temperature)
            r = reward_matrix(reward_funcs, rollout.prompts, rollout.completions)
            valid = ~torch.isnan(r)
            s = torch.where(valid, r, 0.0).sum(0).double()
            c = valid.sum(0).double()
            sums = s if sums is None else sums + s
            counts = c if counts is None else counts + c
    return (sums / counts.clamp_min(1)).numpy()


def preference_trend(preferences: np.ndarray, rewards: np.ndarray) -> np.ndarray:
    """(K,) Spearman rank correlation, per objective, between w_k and the achieved R_k."""
    w, r = np.asarray(preferences, float), np.asarray(rewards, float)
    if w.shape != r.shape or w.ndim != 2 or len(w) < 2:
        raise ValueError("preferences and rewards must be (P, K) arrays with P >= 2")
    from scipy.stats import spearmanr

    out = np.empty(w.shape[1])
    for k in range(w.shape[1]):
        if np.ptp(w[:, k]) == 0 or np.ptp(r[:, k]) == 0:
            out[k] = 0.0
        else:
            out[k] = float(spearmanr(w[:, k], r[:, k]).statistic)
    return out


def front_metrics(
    preferences: np.ndarray, rewards: np.ndarray, reward_reference: np.ndarray
) -> dict[str, Any]:
    """Hypervolume, maximum spread, preference compliance and the per-objective trend."""
    w = np.asarray(preferences, float)
    r = np.asarray(rewards, float)
    ref = np.asarray(reward_reference, float)
    return {
        "hypervolume": hypervolume(-r, -ref),
        "maximum_spread": maximum_spread(r),
        "preference_compliance": preference_compliance(w, -r, reference=-ref),
        "trend": preference_trend(w, r),
    }


def plot_front(
    results: dict[str, tuple[np.ndarray, np.ndarray]],
    names: Sequence[str],
    path: str,
    title: str = "",
) -> None:
    """Mean rewards per preference (first two objectives), one panel per method.

    ``results`` maps a method to (preferences (P, K), rewards (P, K)).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(results), figsize=(3.2 * len(results), 3.2), squeeze=False, sharex=True, sharey=True
    )
    for ax, (method, (w, r)) in zip(axes[0], results.items(), strict=True):
        sc = ax.scatter(r[:, 0], r[:, 1], c=w[:, 0], cmap="viridis", vmin=0, vmax=1, s=40)
        ax.plot(r[:, 0], r[:, 1], color="0.7", lw=0.8, zorder=0)
        for wi, ri in zip(w, r, strict=True):
            ax.annotate(
                f"{wi[0]:.1f}", ri[:2], fontsize=7, xytext=(3, 3), textcoords="offset points"
            )
        ax.set_title(method)
        ax.set_xlabel(f"mean reward: {names[0]}")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"mean reward: {names[1]}")
    fig.colorbar(sc, ax=axes[0].tolist(), label=f"preference on {names[0]}")
    if title:
        fig.suptitle(title, y=1.04)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
