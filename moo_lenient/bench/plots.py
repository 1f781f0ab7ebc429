"""PNG plots of benchmark results (matplotlib, an optional ``bench`` dependency).

Per problem and form:
- ``<problem>-<form>-front.png``: the final points of the lowest seed of every method in
  objective space over the true (or estimated) front; 2 objectives as a scatter, 3 as a 3-D
  scatter, more as parallel coordinates of the normalized losses;
- ``<problem>-<form>-trajectories.png`` for problems with 2 variables (the toy, VLMOP2, the
  2-objective barrier): the paths of the lowest seed in variable space over the contours of the
  sum of normalized losses, one panel per method.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from moo_lenient.bench.scoring import dense_front
from moo_lenient.bench.suites import METHODS, PROBLEMS


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError('plots need matplotlib: pip install "moo_lenient[bench]"') from exc
    return plt


def write_plots(records: Sequence[dict], out: Path) -> list[Path]:
    """Write every plot for ``records`` into ``out/plots`` (each group's lowest seed); returns the
    files written."""
    plt = _pyplot()
    folder = Path(out) / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    # One run per problem, form and method: the lowest seed of the group (seed 0 in the suites
    # that start there; 10 in the v4 suite).
    groups: dict[tuple[str, str], dict[str, dict]] = defaultdict(dict)
    for rec in sorted(records, key=lambda r: -r["seed"]):
        groups[(rec["problem"], rec["form"])][rec["method"]] = rec
    written = []
    for (problem_key, form), by_method in groups.items():
        problem = PROBLEMS[problem_key].build()
        methods = [m for m in METHODS if m in by_method] + sorted(
            m for m in by_method if m not in METHODS
        )
        path = folder / f"{problem_key}-{form}-front.png"
        fig = front_figure(plt, problem, problem_key, form, [by_method[m] for m in methods])
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(path)
        if all(by_method[m].get("trajectory") for m in methods):
            path = folder / f"{problem_key}-{form}-trajectories.png"
            runs = [by_method[m] for m in methods]
            fig = trajectory_figure(plt, problem, problem_key, form, runs)
            fig.savefig(path, dpi=110, bbox_inches="tight")
            plt.close(fig)
            written.append(path)
    return written


def _grid(plt, n: int, projection: str | None = None, size: float = 3.2):
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig = plt.figure(figsize=(size * cols, size * rows))
    axes = [fig.add_subplot(rows, cols, i + 1, projection=projection) for i in range(n)]
    return fig, axes


def _label(rec: dict) -> str:
    return METHODS[rec["method"]].label if rec["method"] in METHODS else rec["method"]


def front_figure(plt, problem, key: str, form: str, records: Sequence[dict]):
    front = dense_front(problem)
    k = problem.num_objectives
    projection = "3d" if k == 3 else None
    fig, axes = _grid(plt, len(records), projection)
    ideal, nadir = problem.ideal(), problem.nadir()
    # one box for every panel: the front's, widened to show final points up to 4 ranges away
    span = nadir - ideal
    every = np.concatenate([np.asarray(r["final_values"], dtype=np.float64) for r in records])
    every = np.clip(every[np.all(np.isfinite(every), axis=1)], ideal - span, nadir + 4 * span)
    low = np.minimum(ideal, every.min(axis=0, initial=np.inf)) - 0.1 * span
    high = np.maximum(nadir, every.max(axis=0, initial=-np.inf)) + 0.1 * span
    for ax, rec in zip(axes, records, strict=True):
        f = np.asarray(rec["final_values"], dtype=np.float64)
        w = np.asarray(rec["preference_vectors"], dtype=np.float64)
        color = w[:, 0]  # the weight on the first objective
        if k == 2:
            order = np.argsort(front[:, 0])
            size = 4 if problem.front_is_estimated else 1  # an estimate has few points
            ax.plot(front[order, 0], front[order, 1], ".", ms=size, color="0.6", label="front")
            ax.scatter(f[:, 0], f[:, 1], c=color, cmap="viridis", s=18, vmin=0, vmax=1, zorder=3)
            ax.set_xlabel("f1")
            ax.set_ylabel("f2")
            ax.set_xlim(low[0], high[0])
            ax.set_ylim(low[1], high[1])
        elif k == 3:
            sub = front[:: max(1, len(front) // 1500)]
            ax.scatter(sub[:, 0], sub[:, 1], sub[:, 2], s=1, color="0.7", alpha=0.4)
            ax.scatter(f[:, 0], f[:, 1], f[:, 2], c=color, cmap="viridis", s=16, vmin=0, vmax=1)
            ax.set_xlabel("f1")
            ax.set_ylabel("f2")
            ax.set_zlabel("f3")
            ax.view_init(elev=25, azim=45)
        else:  # parallel coordinates of normalized losses
            scale = nadir - ideal
            sub = (front[:: max(1, len(front) // 200)] - ideal) / scale
            axis = np.arange(k)
            for row in sub:
                ax.plot(axis, row, color="0.8", lw=0.5)
            cmap = plt.get_cmap("viridis")
            for row, c in zip((f - ideal) / scale, color, strict=True):
                ax.plot(axis, row, color=cmap(c), lw=1.2)
            ax.set_xticks(axis, [f"f̃{i + 1}" for i in axis])
            ax.set_ylim(-0.05, 1.6)
        ax.set_title(_label(rec), fontsize=9)
    seed = min(r["seed"] for r in records)
    fig.suptitle(f"{key} ({form}): final points of seed {seed}, colour = weight on f1", fontsize=10)
    fig.tight_layout()
    return fig


def trajectory_figure(plt, problem, key: str, form: str, records: Sequence[dict]):
    paths = [np.asarray(r["trajectory"], dtype=np.float64) for r in records]
    allx = np.concatenate([p.reshape(-1, 2) for p in paths])
    lo, hi = allx.min(axis=0), allx.max(axis=0)
    pad = 0.1 * np.maximum(hi - lo, 1e-9)
    lo, hi = lo - pad, hi + pad
    if problem.lower is not None:
        lo = np.maximum(lo, problem.lower.numpy())
        hi = np.minimum(hi, problem.upper.numpy())
    g1, g2 = np.meshgrid(np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200))
    grid = torch.from_numpy(np.stack([g1.ravel(), g2.ravel()], axis=1))
    with torch.no_grad():
        values = problem(grid).numpy()
    ideal, nadir = problem.ideal(), problem.nadir()
    total = ((values - ideal) / (nadir - ideal)).sum(axis=1).reshape(g1.shape)
    fig, axes = _grid(plt, len(records))
    for ax, rec, path in zip(axes, records, paths, strict=True):
        ax.contourf(g1, g2, np.log1p(total - total.min()), levels=30, cmap="Greys")
        w = np.asarray(rec["preference_vectors"], dtype=np.float64)[:, 0]
        cmap = plt.get_cmap("viridis")
        for run in range(path.shape[1]):
            ax.plot(path[:, run, 0], path[:, run, 1], color=cmap(w[run]), lw=1.0)
            ax.plot(*path[0, run], "o", color="tab:red", ms=3)
            ax.plot(*path[-1, run], "*", color=cmap(w[run]), ms=7, mec="k", mew=0.3)
        ax.set_title(_label(rec), fontsize=9)
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
    fig.suptitle(
        f"{key} ({form}): paths of seed {min(r['seed'] for r in records)} over log(1 + Σ f̃) "
        "contours; "
        "red dot = start, star = end, colour = weight on f1",
        fontsize=10,
    )
    fig.tight_layout()
    return fig
