"""Many independent runs of one method on one problem, batched.

B runs (one per preference and start) share one torch computation: the variables are a (B, n)
tensor, objective values (B, K), and the per-objective gradients come from K backward passes
of ``f[:, k].sum()`` (run b's gradient depends on x[b] only). Each run has its own method
instance (methods such as PLC carry state), which turns its K x K Gramian into weights exactly as
:class:`~moo_lenient.MultiObjectiveOptimizer` does; one ``torch.optim.Adam`` over the (B, n)
tensor is B independent Adam optimizers, since Adam acts coordinate-wise.

**Bounds** (the same for every method): after each step x is projected onto the box (clamped).
Before the method sees the Jacobian, a coordinate that sits at a bound and that *every* objective
pushes outward (at the lower bound: every g_k,i > 0, so -g_k,i points out; at the upper bound:
every g_k,i < 0) is zeroed in every row (the box-aware Jacobian). Without it a method that
normalizes gradients sees components the projection will cancel, and its step shrinks.

**Stochastic form**: problems with data (:meth:`Problem.sample_values`) give every run its own
minibatch; the others add N(0, noise²) to every entry of the Jacobian (``Problem.noise``), while
the values handed to the method stay exact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from moo_lenient.jacobian import gramian
from moo_lenient.methods.base import Method
from moo_lenient.problems.base import Problem


@dataclass
class BatchResult:
    """Final values (B, K), final variables (B, n), trajectories (T, B, n) if recorded, and the
    share of steps each run spent in each PLC state (lenient, rectified, stall escape)."""

    final_values: np.ndarray
    final_x: np.ndarray
    trajectory: np.ndarray | None = None
    step_shares: dict[str, np.ndarray] = field(default_factory=dict)


def box_aware(jacobian: Tensor, x: Tensor, lower: Tensor | None, upper: Tensor | None) -> Tensor:
    """Zero the columns of (B, K, n) ``jacobian`` blocked by a bound for every objective."""
    if lower is None or upper is None:
        return jacobian
    at_low = (x <= lower) & (jacobian > 0).all(dim=1)
    at_high = (x >= upper) & (jacobian < 0).all(dim=1)
    blocked = (at_low | at_high).unsqueeze(1)
    return jacobian.masked_fill(blocked, 0.0)


def batch_jacobian(values: Tensor, x: Tensor) -> Tensor:
    """(B, K, n) per-run Jacobians of (B, K) ``values`` with respect to (B, n) ``x``."""
    k = values.shape[1]
    rows = [torch.autograd.grad(values[:, i].sum(), x, retain_graph=i < k - 1)[0] for i in range(k)]
    return torch.stack(rows, dim=1)


def run_batch(
    problem: Problem,
    make_method: Callable[[], Method] | Sequence[Callable[[], Method]],
    preferences: np.ndarray,
    starts: Tensor,
    steps: int,
    lr: float,
    stochastic: bool = False,
    generator: torch.Generator | None = None,
    record_every: int = 0,
) -> BatchResult:
    """Run B = len(preferences) independent optimizations for ``steps`` Adam steps.

    Args:
        problem: the problem (its bounds, noise and sampling are used as documented above).
        make_method: builds one fresh method instance per run (or a sequence of B factories,
            one per run, to batch runs of different methods).
        preferences: (B, K) rows on the simplex.
        starts: (B, n) initial variables.
        steps, lr: Adam steps and learning rate.
        stochastic: use the problem's stochastic form (needs ``generator``).
        record_every: store x every this many steps (0: no trajectory).
    """
    prefs = np.asarray(preferences, dtype=np.float64)
    b, k = prefs.shape
    if starts.shape != (b, problem.num_variables):
        raise ValueError(
            f"starts must be ({b}, {problem.num_variables}), got {tuple(starts.shape)}"
        )
    if stochastic and generator is None:
        raise ValueError("the stochastic form needs a torch.Generator")
    if isinstance(make_method, Sequence):  # one factory per run (runs of different methods)
        if len(make_method) != b:
            raise ValueError(f"{len(make_method)} method factories for {b} runs")
        methods = [make() for make in make_method]
    else:
        methods = [make_method() for _ in range(b)]
    x = starts.detach().clone().to(torch.float64).requires_grad_(True)
    lower, upper = problem.lower, problem.upper
    optimizer = torch.optim.Adam([x], lr=lr)
    trajectory = []
    counts = {"lenient": np.zeros(b), "rectified": np.zeros(b), "escaped": np.zeros(b)}
    for t in range(steps):
        if record_every and t % record_every == 0:
            trajectory.append(x.detach().numpy().copy())
        values = problem.sample_values(x, generator) if stochastic else None
        add_noise = stochastic and values is None
        if values is None:
            values = problem(x)
        jac = batch_jacobian(values, x)
        if add_noise:
            jac = jac + problem.noise * torch.randn(jac.shape, generator=generator, dtype=jac.dtype)
        jac = box_aware(jac, x.detach(), lower, upper)
        grams = gramian(jac).numpy()
        grams = 0.5 * (grams + grams.transpose(0, 2, 1))
        f_np = values.detach().numpy()
        weights = np.empty((b, k))
        for i, method in enumerate(methods):
            weights[i], diag = method.solve(grams[i], prefs[i], f_np[i])
            if diag.get("rectified"):
                counts["rectified"][i] += 1
            counts["lenient"][i] += bool(diag.get("lenient", False))
            counts["escaped"][i] += bool(diag.get("escaped", False))
        x.grad = torch.einsum("bk,bkn->bn", torch.from_numpy(weights), jac)
        optimizer.step()
        if lower is not None and upper is not None:
            with torch.no_grad():
                x.copy_(torch.clamp(x, lower, upper))
    with torch.no_grad():
        final = problem(x).numpy()
    final_x = x.detach().numpy().copy()
    if record_every:
        trajectory.append(final_x)
    shares = {name: c / max(steps, 1) for name, c in counts.items()} if steps else {}
    return BatchResult(
        final_values=final,
        final_x=final_x,
        trajectory=np.stack(trajectory) if record_every else None,
        step_shares=shares,
    )
