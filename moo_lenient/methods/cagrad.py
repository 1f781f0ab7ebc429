"""CAGrad: the update in a ball around the average gradient that best serves the worst objective."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from moo_lenient._qp import min_norm_simplex, nnqp, unit_scale
from moo_lenient.methods.base import Method

#: Squared norm (unit scale) of the min-norm point of the hull below which 0 counts as in the
#: hull (the gradients are Pareto-stationary): ||m|| <= 1e-7 of the largest gradient, above the
#: round-off of a float64 Gramian (~1e-8 in norm) and far below any meaningful descent.
_HULL_TOL = 1e-14
#: Tolerance (normalized units, where ||g_i|| <= 1 and ||g0|| = 1) for accepting the exact
#: solution on a support: KKT residuals (and negative weights, relative) below it are round-off.
_KKT_TOL = 1e-10
#: Cap on the root finder's min-norm solves; bisection alone reaches machine precision on the
#: bracket in about 60, the exact step on the support usually ends it after 1 or 2.
_MAX_ITER = 200


class CAGrad(Method):
    r"""Conflict-averse gradient descent (Liu, Liu, Jin, Stone & Liu, "Conflict-Averse Gradient
    Descent for Multi-task Learning", NeurIPS 2021).

    The update maximizes the worst first-order decrease over a ball around the average gradient
    :math:`g_0 = \sum_k p_k g_k` (p the preference; uniform p gives the paper's mean):

    .. math::  d^\star = \arg\max_{d} \min_k \langle g_k, d\rangle
               \quad\text{s.t.}\quad \|d - g_0\| \le \sqrt{\phi}, \qquad \phi = c^2 \|g_0\|^2 .

    Its dual is :math:`\min_{w \in \Delta_K} F(w) = g_w^\top g_0 + \sqrt{\phi}\,\|g_w\|` with
    :math:`g_w = \sum_k w_k g_k`, and the paper's update (Algorithm 1) is
    :math:`d = g_0 + \frac{\sqrt{\phi}}{\|g_w\|} g_w` at the dual minimizer, i.e. the weights are
    :math:`p + t\,w` with :math:`t = \sqrt{\phi}/\|g_w\|`, as in TorchJD. No rescaling: the
    authors' code can divide the update by :math:`1 + c^2` (its ``rescale`` option), a constant
    learning-rate factor.

    **Solver (exact, float64, Gramian only).** Normalize: :math:`G / \max_k G_{kk}` and
    :math:`\hat g_0 = g_0/\|g_0\|` (:math:`b = J\hat g_0 = Gp/\|g_0\|`), so the weights do not
    depend on the gradients' scale and the radius is c. For fixed :math:`t > 0` the dual's
    stationarity conditions are those of :math:`\min_{w\in\Delta} \|\hat g_0 + t g_w\|^2`, the
    min-norm point of the hull of the shifted gradients :math:`g_k + \tau \hat g_0`,
    :math:`\tau = 1/t` (Gramian :math:`G + \tau(b\mathbf 1^\top + \mathbf 1 b^\top) + \tau^2
    \mathbf 1\mathbf 1^\top`, solved exactly by ``moo_lenient._qp.min_norm_simplex``); the dual
    optimum is where :math:`s(\tau) = \|g_{w(\tau)}\|` equals :math:`c\tau`, and
    :math:`s(\tau)/\tau` (the deviation :math:`\|d - \hat g_0\|`) decreases in τ, so the root is
    unique and bracketed by :math:`\|m\|/c \le \tau^\star \le \max_k\|g_k\|/c` (m the min-norm
    point of the hull). On a fixed support w is affine in τ (a bordered least-squares system,
    consistent for every τ), so :math:`s(\tau)^2 = c^2\tau^2` is a quadratic: each iterate's
    support gives a candidate root, accepted only if the KKT conditions hold to 1e-10 in the
    units of the answer (:math:`y = w/\tau \ge 0`, :math:`\langle g_k, d\rangle = \nu` on the
    support and :math:`\ge \nu` off it, :math:`\|J^\top y\| = c`); otherwise the bracket is
    bisected (one or two min-norm solves are typical). The result is :math:`d = g_0 + J^\top y`
    with :math:`y = t w \ge 0`, i.e. weights :math:`p + y`. Certificate (tested): d is in the
    ball and :math:`\min_k \langle g_k, d\rangle = F(w)`, a zero duality gap. Near
    Pareto-stationarity (:math:`\|g_w\| \to 0`, :math:`t \to \infty`) the Gramian carries
    :math:`g_w` only to ~1e-8 of the gradients' norm, so there y is accurate only to that
    relative level; if the bisection ends there, y is pulled back into the ball (never
    infeasible).

    **Pareto-stationary gradients.** If 0 is in the convex hull of the gradients (a zero gradient,
    exactly opposite gradients, ...), then :math:`\nu^\star \le 0`. When the ball reaches the
    cone :math:`C = \{d : Jd \ge 0\}` the primal optimum is not unique (the dual optimum has
    :math:`g_w = 0` and the paper's formula divides by zero); we return the optimum closest to
    :math:`g_0`, its projection onto C (:math:`\nu^\star = 0`). TorchJD instead returns a zero
    update when :math:`\|g_w\| <` ``norm_eps`` (and when :math:`\mathrm{tr}\,G <` ``norm_eps``,
    an absolute threshold: gradients with squared norms summing below 1e-4 get a zero update).
    c = 0 gives :math:`d = g_0`, and :math:`g_0 = 0` gives :math:`d = 0` (the ball is a point).

    **Preference.** :math:`g_0` is the preference-weighted mean gradient, so the ball is centred
    on the linear scalarization's direction with weights p; the conflict-averse part still
    protects every objective equally (:math:`\min_k`), including those with :math:`p_k = 0`.
    Uniform p gives exactly the published method.

    Diagnostics (gradient units, from the unnormalized Gramian): ``radius``
    (:math:`\sqrt\phi = c\|g_0\|`), ``deviation`` (:math:`\|d - g_0\|`, equal to the radius
    unless the gradients are Pareto-stationary), ``min_inner_product``
    (:math:`\min_k \langle g_k, d\rangle`, the optimal value), ``conflict_weight``
    (:math:`t = \sqrt\phi / \|g_w\| = \sum_k y_k`) and ``pareto_stationary`` (0 in the hull).

    Args:
        c: radius of the ball relative to :math:`\|g_0\|`, in [0, 1) (the paper's convergence
            guarantee needs c < 1; c = 0 is linear scalarization with weights p). Default 0.4,
            the value of the paper's multi-task experiments (TorchJD has no default).
    """

    name: ClassVar[str] = "cagrad"
    properties: ClassVar[frozenset[str]] = frozenset(
        {"permutation_equivariant", "preference_aware"}
    )

    def __init__(self, c: float = 0.4) -> None:
        c = float(c)
        if not (math.isfinite(c) and 0.0 <= c < 1.0):
            raise ValueError(f"c must be a number in [0, 1), got {c}")
        self.c = c

    def _solve(
        self, gramian: np.ndarray, preference: np.ndarray, losses: np.ndarray | None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        g, top = unit_scale(gramian)
        p = np.asarray(preference, dtype=np.float64)
        gp = g @ p
        g0_sq = float(p @ gp)
        if not (top > 0.0 and g0_sq > 0.0):
            # g0 = 0 (it is in the hull): the ball is the point 0 and d = g0 = 0.
            y, stationary = np.zeros_like(p), True
        elif self.c == 0.0:  # the ball is the point g0
            alpha = min_norm_simplex(g)
            y, stationary = np.zeros_like(p), not float(alpha @ g @ alpha) > _HULL_TOL
        else:
            r0 = math.sqrt(g0_sq)
            y_hat, stationary = _solve_normalized(g, gp / r0, self.c)
            y = r0 * y_hat
        weights = p + y
        diagnostics = {
            "radius": self.c * math.sqrt(max(g0_sq, 0.0) * top),
            "deviation": math.sqrt(max(float(y @ g @ y), 0.0) * top),
            "min_inner_product": float(np.min(g @ weights)) * top,
            "conflict_weight": float(y.sum()),
            "pareto_stationary": stationary,
        }
        return weights, diagnostics

    def __repr__(self) -> str:
        return "CAGrad()" if self.c == 0.4 else f"CAGrad(c={self.c!r})"


def _solve_normalized(g: np.ndarray, b: np.ndarray, c: float) -> tuple[np.ndarray, bool]:
    """CAGrad for a unit-scale Gramian ``g``, ``b_k = <g_k, ĝ0>`` with ``|ĝ0| = 1``, radius c > 0.

    Returns ``(y, pareto_stationary)``; the direction is ``ĝ0 + Jᵀy`` (y >= 0).
    """
    alpha = min_norm_simplex(g)
    m_sq = float(alpha @ g @ alpha)
    stationary = not m_sq > _HULL_TOL
    if stationary:
        # 0 is in the hull, so min_k <g_k, d> <= 0 for every d. If the ball reaches the cone
        # {Jd >= 0}, every point of the intersection is optimal: take the one closest to ĝ0,
        # the projection y0 = argmin_{y >= 0} ½ yᵀGy + bᵀy (b is in the range of G).
        y0 = nnqp(g, -b)
        if float(y0 @ g @ y0) <= c * c:
            return y0, True
        lo = 0.0
    else:
        lo = math.sqrt(m_sq) / c  # s(τ) >= |m| = c lo
    hi = math.sqrt(float(np.max(np.diag(g)))) / c  # s(τ) <= max_k |g_k| = c hi
    if not hi > lo:  # |m| = max_k |g_k|: all gradients equal (or K = 1), τ* = hi
        return min_norm_simplex(_shifted(g, b, hi)) / hi, stationary
    tau, w_hi = (math.sqrt(lo * hi) if lo > 0.0 else 0.5 * hi), None
    for _ in range(_MAX_ITER):
        w = min_norm_simplex(_shifted(g, b, tau))
        if math.sqrt(max(float(w @ g @ w), 0.0)) <= c * tau:
            hi, w_hi = tau, w
        else:
            lo = tau
        exact = _root_on_support(g, b, c, np.flatnonzero(w > 0.0))
        if exact is not None:
            return exact, stationary
        if not hi - lo > 4.0 * np.finfo(np.float64).eps * hi:
            break
        tau = math.sqrt(lo * hi) if lo > 0.0 and hi > 4.0 * lo else 0.5 * (lo + hi)
    if w_hi is None:
        w_hi = min_norm_simplex(_shifted(g, b, hi))
    # The feasible side, |Jᵀy| = s(hi) / hi <= c; where round-off made s(τ) unreliable (τ* ~ 0,
    # gradients within ~1e-7 of Pareto-stationary) pull y back into the ball.
    y = w_hi / hi
    dev = math.sqrt(max(float(y @ g @ y), 0.0))
    return (y * (c / dev) if dev > c else y), stationary


def _shifted(g: np.ndarray, b: np.ndarray, tau: float) -> np.ndarray:
    """The Gramian of the shifted gradients ``g_k + τ ĝ0`` (``|ĝ0| = 1``, ``b = Jĝ0``)."""
    return g + tau * (b[:, None] + b[None, :]) + tau * tau


def _root_on_support(g: np.ndarray, b: np.ndarray, c: float, idx: np.ndarray) -> np.ndarray | None:
    """The exact solution ``y = w(τ*) / τ*`` if ``idx`` is the support of ``w(τ*)``, else None.

    On a fixed support S the minimizer of ``|g_w + τ ĝ0|²`` over ``Σ_S w = 1`` solves the
    bordered system ``[[G_SS, 1], [1ᵀ, 0]] [w; -μ] = [-τ b_S; 1]``, which is consistent for
    every τ (the minimum exists), so its least-squares solution is affine in τ:
    ``w = w0 + τ w1``. Then ``s(τ)² = wᵀ G_SS w`` is a quadratic and ``s(τ) = c τ`` has at most
    two positive roots; a root is accepted only if, with ``y = w / τ`` and ``ν = μ / τ``, it
    satisfies every optimality condition to ``_KKT_TOL``: ``y >= 0``, ``<g_k, d> = (Gy + b)_k``
    equal to ν on S and ``>= ν`` off S, and ``|Jᵀy|² = c²``.
    """
    n = idx.size
    if n == 0:
        return None
    bordered = np.zeros((n + 1, n + 1))
    bordered[:n, :n] = g[np.ix_(idx, idx)]
    bordered[:n, n] = bordered[n, :n] = 1.0
    rhs0, rhs1 = np.zeros(n + 1), np.zeros(n + 1)
    rhs0[n], rhs1[:n] = 1.0, -b[idx]
    z0 = np.linalg.lstsq(bordered, rhs0, rcond=None)[0]
    z1 = np.linalg.lstsq(bordered, rhs1, rcond=None)[0]
    sub = bordered[:n, :n]
    qa = float(z1[:n] @ sub @ z1[:n]) - c * c  # qa τ² + 2 qb τ + qc = s(τ)² - c² τ²
    qb, qc = float(z0[:n] @ sub @ z1[:n]), float(z0[:n] @ sub @ z0[:n])
    disc = qb * qb - qa * qc
    if disc < 0.0:
        return None
    q = -(qb + math.copysign(math.sqrt(disc), qb))  # roots q / qa and qc / q, no cancellation
    roots = (q / qa if qa != 0.0 else math.nan, qc / q if q != 0.0 else math.nan)
    for tau in sorted(r for r in roots if r > 0.0):
        # Check in the units of the answer, y = w / τ and ν = μ / τ (normalized: |b_k| <= 1,
        # |Jᵀy| = c < 1), where round-off is amplified by 1/τ.
        y = np.zeros_like(b)
        y[idx] = (z0[:n] + tau * z1[:n]) / tau
        nu = -(z0[n] + tau * z1[n]) / tau
        residual = g @ y + b - nu
        if (
            np.min(y[idx]) >= -_KKT_TOL * float(np.max(np.abs(y)))
            and np.max(np.abs(residual[idx])) <= _KKT_TOL
            and np.min(residual) >= -_KKT_TOL
            and abs(float(y @ g @ y) - c * c) <= _KKT_TOL
        ):
            return np.maximum(y, 0.0)
    return None
