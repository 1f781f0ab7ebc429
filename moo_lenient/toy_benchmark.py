"""Run the CAGrad / Nash-MTL toy through the public optimizer and tabulate the results.

Every run is ``MultiObjectiveOptimizer(torch.optim.Adam([x], lr=1e-3), method, preference)``
on a float64 parameter x, stepping on the toy's two losses (through
:meth:`CAGradToy.with_analytic_jacobian`, the same values and gradients as autograd through
the formula, much cheaper). A run "reaches the front" when its final loss vector lies within
0.05 (Euclidean, raw loss units) of the front sampled at 4,001 points.
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np
import torch

from moo_lenient.bench.suites import lower_bounds
from moo_lenient.methods import (
    MGDA,
    PLC,
    LinearScalarization,
    Method,
    PCGrad,
    PreferenceIgnoredWarning,
    get,
)
from moo_lenient.optimizer import MultiObjectiveOptimizer
from moo_lenient.problems.toy import PROTOCOLS, CAGradToy

REACH_TOL = 0.05
FRONT_POINTS = 4001

#: Method variants of the toy table: name -> (description, factory(toy, steps)).
VARIANTS: dict[str, tuple[str, Callable[[CAGradToy, int], Method]]] = {
    "ls": ("LS (uniform weights)", lambda toy, steps: LinearScalarization()),
    "mgda": ("MGDA", lambda toy, steps: MGDA()),
    "pcgrad": ("PCGrad (seed 0)", lambda toy, steps: PCGrad(seed=0)),
    "plc": (
        "PLC, no reference (defaults: v4 rules, free descent coefficient 2)",
        lambda toy, steps: PLC(horizon=steps),
    ),
    "plc-mu-const": (
        "PLC, no reference, constant μ = 0.02, v3 rules (the spec's pre-annealing default)",
        lambda toy, steps: PLC(
            horizon=steps, mu_start=None, temperature="absolute", free_descent=None
        ),
    ),
    "plc-ref": (
        "PLC, toy ideal and nadir given (spec v4: relative temperature, free descent)",
        lambda toy, steps: PLC(horizon=steps, ideal=toy.ideal(), nadir=toy.nadir()),
    ),
    # The candidate default with a reference from the suite's ablation (docs/benchmarks.md).
    "plc-ref-l2": (
        "PLC, toy ideal and nadir given, l2 voices (candidate)",
        lambda toy, steps: PLC(horizon=steps, ideal=toy.ideal(), nadir=toy.nadir(), voices="l2"),
    ),
    # The comparison methods, papers' defaults (FAMO and EPO given the losses' lower bounds).
    "cagrad": ("CAGrad (c = 0.4)", lambda toy, steps: get("cagrad")),
    "nashmtl": ("Nash-MTL", lambda toy, steps: get("nashmtl")),
    "imtlg": ("IMTL-G", lambda toy, steps: get("imtlg")),
    "alignedmtl": ("Aligned-MTL", lambda toy, steps: get("alignedmtl")),
    "upgrad": ("UPGrad", lambda toy, steps: get("upgrad")),
    "dualproj": ("DualProj", lambda toy, steps: get("dualproj")),
    "famo": ("FAMO", lambda toy, steps: get("famo", min_losses=lower_bounds(toy))),
    "epo": ("EPO", lambda toy, steps: get("epo", min_losses=lower_bounds(toy))),
}


@dataclass(frozen=True)
class ToyRun:
    """One run of one method from one start."""

    method: str
    protocol: str
    start: tuple[float, float]
    preference: tuple[float, float]
    steps: int
    final_x: tuple[float, float]
    final_losses: tuple[float, float]
    distance: float
    nearest_x1: float
    first_hit: int | None  # first step whose losses lie within REACH_TOL of the front
    target_x1: float  # normalized Tchebycheff point of the front for the preference
    trajectory: list[tuple[float, float]]  # x every `record_every` steps (for plots)

    @property
    def reached(self) -> bool:
        return self.distance <= REACH_TOL


def run_toy(
    method: str,
    protocol: str,
    start: Sequence[float],
    preference: Sequence[float] = (0.5, 0.5),
    steps: int | None = None,
    record_every: int = 100,
) -> ToyRun:
    """Run one method variant (a key of :data:`VARIANTS`) from one start.

    Args:
        method: variant name.
        protocol: "cagrad" (s = 1, 100k steps) or "nash" (s = 0.1, 35k steps).
        start: initial x.
        preference: preference vector handed to the optimizer.
        steps: number of steps (default: the protocol's); PLC's horizon equals it.
        record_every: trajectory subsampling for plots.
    """
    torch.set_num_threads(1)
    proto = PROTOCOLS[protocol]
    steps = proto.steps if steps is None else int(steps)
    toy = CAGradToy(proto.scale)
    x = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
    with warnings.catch_warnings():  # every variant gets the preference, by design
        warnings.simplefilter("ignore", PreferenceIgnoredWarning)
        opt = MultiObjectiveOptimizer(
            torch.optim.Adam([x], lr=1e-3),
            method=VARIANTS[method][1](toy, steps),
            preference=list(preference),
        )
    losses = np.empty((steps + 1, 2))
    trajectory = []
    for t in range(steps):
        if t % record_every == 0:
            trajectory.append(tuple(x.detach().tolist()))
        values = toy.with_analytic_jacobian(x)
        losses[t] = values.detach().numpy()
        opt.step(values)
    with torch.no_grad():
        losses[steps] = toy(x).numpy()
    final_x = tuple(x.detach().tolist())
    trajectory.append(final_x)
    return _scored_run(toy, method, protocol, start, preference, losses, final_x, trajectory)


def _scored_run(
    toy: CAGradToy,
    method: str,
    protocol: str,
    start: Sequence[float],
    preference: Sequence[float],
    losses: np.ndarray,
    final_x: Sequence[float],
    trajectory: list[tuple[float, ...]],
) -> ToyRun:
    """A :class:`ToyRun` from one run's losses before every step and after the last
    ((steps + 1, 2)): the distance to the front, first hit and Tchebycheff target."""
    final = losses[-1]
    distance, nearest_x1 = toy.nearest_on_front(final, FRONT_POINTS)
    return ToyRun(
        method=method,
        protocol=protocol,
        start=(float(start[0]), float(start[1])),
        preference=(float(preference[0]), float(preference[1])),
        steps=len(losses) - 1,
        final_x=(float(final_x[0]), float(final_x[1])),
        final_losses=(float(final[0]), float(final[1])),
        distance=distance,
        nearest_x1=nearest_x1,
        first_hit=first_hit_step(toy, losses),
        target_x1=toy.tchebycheff_target_x1(np.asarray(preference)),
        trajectory=trajectory,
    )


def first_hit_step(toy: CAGradToy, losses: np.ndarray, chunk: int = 2048) -> int | None:
    """First index t with losses[t] within REACH_TOL of the front (None if never)."""
    front = toy.pareto_front(FRONT_POINTS)
    lo, hi = front.min(axis=0) - REACH_TOL, front.max(axis=0) + REACH_TOL
    for begin in range(0, len(losses), chunk):
        block = losses[begin : begin + chunk]
        near_box = np.all((block >= lo) & (block <= hi), axis=1)
        for i in np.flatnonzero(near_box):
            if np.min(np.linalg.norm(front - block[i], axis=1)) <= REACH_TOL:
                return begin + int(i)
    return None


def run_toy_batched(
    methods: str | Sequence[str],
    protocol: str,
    steps: int | None = None,
    record_every: int = 100,
) -> list[ToyRun]:
    """:func:`run_toy` of every method from every start of the protocol at once, through the
    batched benchmark engine (:func:`moo_lenient.bench.engine.run_batch`: independent runs in
    one torch computation, each with its own method instance, the update of
    :class:`~moo_lenient.MultiObjectiveOptimizer`, tested equal to it in
    ``tests/bench/test_engine.py``; the toy is unbounded, so no projection). Uniform
    preference, Adam lr 1e-3, float64. Runs come back method by method, starts in order."""
    from moo_lenient.bench.engine import run_batch

    torch.set_num_threads(1)
    names = [methods] if isinstance(methods, str) else list(methods)
    proto = PROTOCOLS[protocol]
    steps = proto.steps if steps is None else int(steps)
    toy = CAGradToy(proto.scale)
    starts = torch.tensor(proto.starts, dtype=torch.float64).repeat(len(names), 1)
    preference = (0.5, 0.5)
    prefs = np.tile(np.asarray(preference), (len(starts), 1))
    factories = [
        functools.partial(VARIANTS[name][1], toy, steps) for name in names for _ in proto.starts
    ]
    result = run_batch(toy, factories, prefs, starts, steps, 1e-3, record_every=1)
    path = result.trajectory  # (steps + 1, B, 2): x before every step, then the final x
    with torch.no_grad():
        losses = toy(torch.from_numpy(path)).numpy()
    runs = []
    for b in range(len(starts)):
        name, start = names[b // len(proto.starts)], proto.starts[b % len(proto.starts)]
        trajectory = [tuple(map(float, p)) for p in path[::record_every, b]]
        trajectory.append(tuple(map(float, path[-1, b])))
        runs.append(
            _scored_run(
                toy, name, protocol, start, preference, losses[:, b], path[-1, b], trajectory
            )
        )
    return runs


def _run_kwargs(kwargs: dict) -> ToyRun | list[ToyRun]:
    if kwargs.get("batched"):
        return run_toy_batched(kwargs["methods"], kwargs["protocol"], kwargs.get("steps"))
    return run_toy(**kwargs)


def run_many(configs: Sequence[dict], jobs: int = 1, progress: bool = True) -> list[ToyRun]:
    """Run many configurations (dicts of :func:`run_toy` arguments, or ``{"batched": True,
    "methods": [...], "protocol": ..., "steps": ...}`` for :func:`run_toy_batched`, which gives
    one run per method and start), in worker processes if ``jobs > 1``; results come back in
    the order of ``configs`` and do not depend on ``jobs``."""
    bar = _progress_bar(len(configs)) if progress else None
    results: list[ToyRun] = []
    if jobs <= 1:
        for cfg in configs:
            out = _run_kwargs(cfg)
            results.extend(out if isinstance(out, list) else [out])
            if bar:
                bar.update(1)
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for out in pool.map(_run_kwargs, configs):
                results.extend(out if isinstance(out, list) else [out])
                if bar:
                    bar.update(1)
    if bar:
        bar.close()
    return results


def _progress_bar(total: int):  # tqdm is an optional (bench) extra
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="toy runs", unit="run")


# Tables -------------------------------------------------------------------------------------
def _cell(run: ToyRun) -> str:
    mark = "✓" if run.reached else "✗"
    hit = f" @{run.first_hit / 1000:.1f}k" if run.first_hit is not None and run.reached else ""
    return (
        f"{mark} x=({run.final_x[0]:.2f}, {run.final_x[1]:.2f}) "
        f"L=({run.final_losses[0]:.2f}, {run.final_losses[1]:.2f}) "
        f"d={_fmt_dist(run.distance)} x1*={run.nearest_x1:.2f}{hit}"
    )


def _fmt_dist(d: float) -> str:
    return f"{d:.3f}" if d < 10 else f"{d:.1f}"


def escape_table(runs: Sequence[ToyRun], protocol: str) -> str:
    """Markdown table: one row per method, one column per start, and the count reached."""
    proto = PROTOCOLS[protocol]
    lines = [
        f"**{protocol} protocol** (s = {proto.scale:g}, {proto.steps // 1000}k Adam steps, "
        "uniform preference). Cell: ✓/✗ (reached or not), final point x and losses L, "
        "distance d to the front, x1* of the nearest front point, first step within 0.05.",
        "",
        "| method | " + " | ".join(f"start {s}" for s in proto.starts) + " | reached |",
        "|---" * (len(proto.starts) + 2) + "|",
    ]
    for name in VARIANTS:
        row = {r.start: r for r in runs if r.method == name and r.protocol == protocol}
        if not row:
            continue
        cells = [_cell(row[s]) if s in row else "-" for s in proto.starts]
        reached = sum(r.reached for r in row.values())
        lines.append(f"| {VARIANTS[name][0]} | " + " | ".join(cells) + f" | {reached}/{len(row)} |")
    return "\n".join(lines)


def sweep_table(runs: Sequence[ToyRun]) -> str:
    """Markdown table of preference sweeps: end x1 per preference, target and monotonicity."""
    by_method: dict[str, list[ToyRun]] = {}
    for r in runs:
        by_method.setdefault(r.method, []).append(r)
    if not by_method:
        return ""
    prefs = sorted({r.preference[0] for r in runs})
    lines = [
        "| method | " + " | ".join(f"w1 = {w:g}" for w in prefs) + " | reached | monotone |",
        "|---" * (len(prefs) + 3) + "|",
    ]
    for name, rs in by_method.items():
        rs = sorted(rs, key=lambda r: r.preference[0])
        xs = [r.nearest_x1 for r in rs]
        monotone = all(b > a for a, b in itertools.pairwise(xs))
        cells = [f"{r.nearest_x1:.2f} (d={_fmt_dist(r.distance)})" for r in rs]
        lines.append(
            f"| {VARIANTS[name][0]} | "
            + " | ".join(cells)
            + f" | {sum(r.reached for r in rs)}/{len(rs)} | {'yes' if monotone else 'no'} |"
        )
    targets = [
        f"{r.target_x1:.2f}"
        for r in sorted(next(iter(by_method.values())), key=lambda r: r.preference[0])
    ]
    lines.append("| normalized Tchebycheff target x1 | " + " | ".join(targets) + " | | |")
    return "\n".join(lines)


def to_records(runs: Sequence[ToyRun]) -> list[dict]:
    """JSON-ready dicts (trajectories dropped)."""
    out = []
    for r in runs:
        d = asdict(r)
        d.pop("trajectory")
        d["reached"] = r.reached
        d["distance"] = d["distance"] if math.isfinite(d["distance"]) else None
        out.append(d)
    return out
