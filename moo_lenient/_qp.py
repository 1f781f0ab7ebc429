"""Small dense quadratic programs on K x K matrices, solved exactly in float64.

Every Gramian-based method in this package reduces to one problem,

    minimize_x  ½ xᵀ Q x - cᵀ x   subject to  x ≥ 0,                     (NNQP)

with Q symmetric positive semi-definite. This module solves it with an active-set method
(Lawson & Hanson's NNLS algorithm, written on the normal equations so that only Q and c are
needed). The problems here are tiny (K ≤ a few dozen), so exactness and robustness matter more
than speed: every inner solve is a least-squares solve (``numpy.linalg.lstsq``), which also
handles singular (rank-deficient) sub-blocks of Q by taking the minimum-norm solution.

Callers normalize Q (and c accordingly) to unit scale before calling, so the absolute
tolerances used here are meaningful.
"""

from __future__ import annotations

import numpy as np

__all__ = ["min_norm_simplex", "nnqp", "unit_scale"]


def unit_scale(gramian: np.ndarray) -> tuple[np.ndarray, float]:
    """Divide a Gramian by its largest diagonal entry; returns the matrix and that scale.

    Solvers work on unit-scale matrices so that their tolerances mean the same for gradients
    of any magnitude; a zero Gramian is returned unchanged with scale 0.
    """
    top = float(np.max(np.diag(gramian), initial=0.0))
    if not top > 0.0:
        return gramian, 0.0
    return gramian / top, top


def nnqp(q: np.ndarray, c: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    """Solve ``min ½ xᵀ Q x - cᵀ x  s.t. x ≥ 0`` for a PSD matrix ``Q`` (float64).

    Active-set method (Lawson-Hanson NNLS on the normal equations). Terminates in a finite
    number of steps in exact arithmetic; an iteration cap guards against cycling from rounding.

    Args:
        q: (n, n) symmetric positive semi-definite matrix, normalized to unit scale.
        c: (n,) linear term. The problem must be bounded below (c in the range of Q, or the
            constrained directions of non-negative curvature pointing away), which holds for
            every caller in this package.
        tol: dual-feasibility tolerance for adding a variable to the passive set.

    Returns:
        The minimizer x ≥ 0 of shape (n,).
    """
    q = np.asarray(q, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    n = c.shape[0]
    x = np.zeros(n)
    passive = np.zeros(n, dtype=bool)
    scale = max(1.0, float(np.max(np.abs(c), initial=0.0)))
    max_outer = 3 * n + 20
    for _ in range(max_outer):
        grad = c - q @ x  # negative gradient of the objective
        candidates = (~passive) & (grad > tol * scale)
        if not candidates.any():
            break
        j = int(np.argmax(np.where(candidates, grad, -np.inf)))
        passive[j] = True
        for _inner in range(3 * n + 20):
            idx = np.flatnonzero(passive)
            s = np.zeros(n)
            s[idx] = np.linalg.lstsq(q[np.ix_(idx, idx)], c[idx], rcond=None)[0]
            if np.all(s[idx] > 0.0):
                x = s
                break
            # Step from x towards s until the first passive variable hits zero.
            blocking = idx[s[idx] <= 0.0]
            denom = x[blocking] - s[blocking]
            with np.errstate(divide="ignore", invalid="ignore"):
                ratios = np.where(denom > 0, x[blocking] / denom, np.inf)
            step = float(np.min(ratios)) if ratios.size else 0.0
            step = min(max(step, 0.0), 1.0)
            x = x + step * (s - x)
            drop = passive & (x <= tol)
            x[drop] = 0.0
            passive &= ~drop
            if not passive.any():
                break
    return np.maximum(x, 0.0)


def min_norm_simplex(gramian: np.ndarray) -> np.ndarray:
    """Weights α on the simplex minimizing ``αᵀ G α``: the min-norm point of the convex hull.

    Reduction to a non-negative problem: for β ≥ 0 write β = s·α with α on the simplex; then
    ``βᵀ G β + (1 - Σβ)² = s² αᵀGα + (1 - s)²`` is minimized over s at value
    ``αᵀGα / (1 + αᵀGα)``, increasing in αᵀGα. So the minimizer β* of the NNQP with
    ``Q = G + 11ᵀ`` and ``c = 1`` gives the exact min-norm weights ``α = β* / Σβ*``
    (Σβ* > 0 because the gradient at β = 0 is -1).

    Args:
        gramian: (K, K) PSD matrix in float64. It is normalized by its largest diagonal entry
            here (the weights are invariant to a common scale); an all-zero Gramian returns
            the uniform weights, all of which are optimal.

    Returns:
        (K,) weights, non-negative and summing to 1.
    """
    g, top = unit_scale(np.asarray(gramian, dtype=np.float64))
    k = g.shape[0]
    if not top > 0.0:
        return np.full(k, 1.0 / k)
    q = g + np.ones((k, k))
    beta = nnqp(q, np.ones(k))
    total = float(beta.sum())
    if not total > 0.0:  # cannot happen in exact arithmetic; keep the output sane regardless
        return np.full(k, 1.0 / k)
    return beta / total
