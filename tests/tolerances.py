"""Tolerances for tests that compare two computations equal in exact arithmetic.

Two floating-point computations of one quantity that order their operations differently (a
batched and an unbatched product, another library's solver, another BLAS kernel, another thread
count or CPU) agree only up to rounding. These helpers turn the standard model of rounding,
fl(a op b) = (a op b)(1 + δ) with |δ| ≤ u (Higham, *Accuracy and Stability of Numerical
Algorithms*, 2nd ed., §2.2 and §3.1), into tolerances, so that every such test says why its
tolerance has the size it has:

- a sum or dot product of n terms is within γ_n = n u / (1 - n u) of the exact value, relative to
  the sum of the terms' magnitudes, so two orderings of it are within 2 γ_n of each other
  (:func:`rtol` with ``steps=1``);
- a computation of ``steps`` dependent stages (optimizer steps, solver iterations), each with
  such accumulations, adds at most one such error per stage where the stages do not amplify
  errors: 2 · steps · γ_n;
- ``cond`` multiplies that where the quantity compared is ill-conditioned (cancellation, a
  linear solve, an optimum of a QP): the call site says what the factor is and why.

Bit-identity (``rtol=0, atol=0``) is claimed only where the very same operations run twice
(determinism, resume from a checkpoint, a copy).

Long trajectories are the exception to a fixed formula: the dynamics can amplify rounding by
orders of magnitude (near a Pareto-stationary point MGDA's direction is a difference of nearly
cancelling terms, and Adam then normalizes it: a relative error of 1e-14 per step became 1e-7 in
x after 150 steps). :func:`trajectory_atol` therefore measures that amplification on the
reference run itself, by rerunning it with rounding-sized perturbations, instead of guessing it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ["gamma", "perturb_losses", "rtol", "trajectory_atol", "unit_roundoff"]


def unit_roundoff(dtype: torch.dtype = torch.float64) -> float:
    """u = eps / 2: the largest relative error of one rounding (1.1e-16 for float64)."""
    return torch.finfo(dtype).eps / 2


def gamma(n: int, dtype: torch.dtype = torch.float64) -> float:
    """γ_n = n u / (1 - n u): the relative error bound of a sum or dot product of n terms."""
    nu = max(int(n), 1) * unit_roundoff(dtype)
    if nu >= 1:
        raise ValueError(f"n = {n} terms exceed what {dtype} can bound (n u >= 1)")
    return nu / (1 - nu)


def rtol(
    n_terms: int, *, steps: int = 1, cond: float = 1.0, dtype: torch.dtype = torch.float64
) -> float:
    """Relative tolerance between two orderings of ``steps`` dependent stages whose longest
    accumulation has ``n_terms`` terms, amplified by at most ``cond``: 2 · steps · cond · γ_n."""
    return 2.0 * max(int(steps), 1) * float(cond) * gamma(n_terms, dtype)


def perturb_losses(
    losses: Sequence[Tensor],
    rng: np.random.Generator,
    n_terms: int,
    dtype: torch.dtype = torch.float64,
) -> list[Tensor]:
    """Each loss times (1 + γ_n r), r ~ U(-1, 1) drawn anew: a rounding-sized relative error in
    every gradient row (and value), the error one step of another ordering may make."""
    g = gamma(n_terms, dtype)
    return [loss * (1.0 + g * float(rng.uniform(-1.0, 1.0))) for loss in losses]


def trajectory_atol(
    run: Callable[[Callable[[Sequence[Tensor]], list[Tensor]] | None], np.ndarray],
    reference: np.ndarray,
    *,
    n_terms: int,
    steps: int,
    probes: int = 3,
    safety: float = 10.0,
    dtype: torch.dtype = torch.float64,
) -> float:
    """Absolute tolerance for the end point of a ``steps``-step trajectory computed two ways.

    ``run(perturb)`` reruns the reference computation, passing every step's losses through
    ``perturb`` (None: unperturbed); ``reference`` is its unperturbed result. The tolerance is
    ``safety`` times the larger of

    - the linear accumulation bound, :func:`rtol` (n_terms, steps) times max |reference|, and
    - the largest deviation from ``reference`` over ``probes`` reruns whose losses carry
      rounding-sized relative errors (:func:`perturb_losses`) at every step: the trajectory's
      own amplification of rounding, measured rather than assumed.

    ``safety`` covers that a few random probes estimate, not bound, the amplification.
    ``dtype`` is the precision the trajectory is computed in (its unit roundoff sizes both).
    """
    scale = max(1.0, float(np.abs(reference).max()))
    spread = 0.0
    for seed in range(probes):
        rng = np.random.default_rng(seed)
        out = run(lambda losses, rng=rng: perturb_losses(losses, rng, n_terms, dtype))
        spread = max(spread, float(np.abs(np.asarray(out) - reference).max()))
    return safety * max(rtol(n_terms, steps=steps, dtype=dtype) * scale, spread)
