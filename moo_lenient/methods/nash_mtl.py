"""Nash-MTL: the (weighted) Nash bargaining solution between the objectives' gradients."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from moo_lenient._qp import nnqp
from moo_lenient.methods.base import Method, as_index_tuple

_EPS = float(np.finfo(np.float64).eps)
# Newton stops once every share residual |w_k - x_k (C x)_k| is below this fraction of w_k
# (or below the rounding level of the products, whichever is larger).
_SHARE_RTOL = 1e-13


class NashMTL(Method):
    r"""Nash-MTL: multi-task learning as a bargaining game (Navon et al., ICML 2022).

    Each objective is a player whose utility for a step d is :math:`u_k(d) = \langle g_k, d
    \rangle`, with the disagreement point d = 0. The (weighted) Nash bargaining solution
    maximizes :math:`\sum_k w_k \log u_k(d)` over a ball :math:`\|d\| \le \epsilon`; its KKT
    conditions give :math:`d = \sum_k \alpha_k g_k` with :math:`\alpha > 0` solving

    .. math::  G \alpha = w / \alpha \quad\text{(elementwise)}, \qquad
               \text{equivalently}\quad \alpha_k \langle g_k, d \rangle = w_k \ \ \forall k,

    where :math:`G = J J^\top` and the ball's radius is absorbed in the scale of α (as in the
    paper). With the uniform preference, :math:`w = \mathbf 1` and this is the paper's
    :math:`G\alpha = 1/\alpha`. The equation is the stationarity condition of the potential
    :math:`\phi(\alpha) = \tfrac12 \alpha^\top G \alpha - \sum_k w_k \log \alpha_k` on
    :math:`\alpha > 0` (strictly convex for every PSD G, as the log-barrier is), minimized here
    by a damped Newton method (backtracking line search that keeps α > 0) in float64, instead
    of the paper's sequence of convex approximations solved with cvxpy. At the solution
    :math:`\|d\|^2 = \alpha^\top G \alpha = \sum_k w_k` and
    :math:`\langle g_k, d\rangle = w_k / \alpha_k > 0`: every objective decreases to first order
    (non-conflicting).

    **Scale.** The problem is solved on the correlation matrix
    :math:`C = D^{-1/2} G D^{-1/2}`, :math:`D = \operatorname{diag}(G)`: if
    :math:`C\beta = w/\beta` then :math:`\alpha = D^{-1/2}\beta` solves :math:`G\alpha =
    w/\alpha`. Hence :math:`\alpha_k \propto 1/\|g_k\|` and d does not change when any
    gradient is multiplied by a positive number (the paper's scale invariance);
    :math:`\|d\| = \sqrt{\sum_k w_k}` (:math:`\sqrt K` when no gradient is zero) whatever the
    gradients' magnitudes. Nash-MTL is therefore not linear under scaling, and the learning rate
    alone sets the step length.

    **When the equation has no solution.** The potential is bounded below (and the equation
    solvable) exactly when some direction strictly decreases every objective, i.e. when no
    convex combination of the (normalized) gradients is zero (Gordan's alternative): along a
    direction :math:`v \ge 0` with :math:`J^\top v = 0` the quadratic term is constant while
    :math:`-\sum \log \alpha_k \to -\infty`. A singular G alone is not a problem (identical
    gradients, or :math:`g_3 = g_1 + g_2`, have exact solutions, found here); only
    Pareto-stationarity is. The method therefore first computes the squared distance
    :math:`m^2` from the origin to the convex hull of the normalized gradients (an exact NNQP,
    the MGDA problem on C). If :math:`m^2 \le` ``stationary_tol``, the agreement set
    :math:`\{d : u_k(d) > 0\ \forall k\}` is empty, the bargaining solution is the disagreement
    point, and all weights are 0 (d = 0, as MGDA at a Pareto-stationary point). Near such
    points α grows like :math:`1/m` while :math:`\|d\|` stays :math:`\sqrt K`: the direction is
    discontinuous at the Pareto set, as in the paper (the learning rate must shrink for
    convergence). Rounding in :math:`C\beta` (terms of size :math:`\beta \sim 1/m` cancelling
    to :math:`1/\beta \sim m`) limits the relative accuracy of α and d to about
    :math:`\epsilon_{64}/m^2`; the default tolerance :math:`10^{-8}` (a best common descent
    rate below :math:`10^{-4}` of each gradient's norm counts as stationary) keeps that below
    ~1e-7 and is far above the rounding level of C (~1e-16).

    **Zero gradients.** An objective with :math:`g_k = 0` (diagonal entry :math:`G_{kk} = 0`)
    can never gain (:math:`u_k \equiv 0`), so it cannot satisfy the equation: it is dropped and
    gets weight 0; the others bargain among themselves. If every gradient is zero, d = 0.

    **Preference.** Weighted (asymmetric) Nash bargaining: :math:`w_k = K p_k` for the
    normalized preference p, so the uniform preference gives the paper's method exactly and
    :math:`w_k` is objective k's share :math:`\alpha_k\langle g_k, d\rangle` of
    :math:`\|d\|^2`. An objective with :math:`p_k = 0` is no longer a player but keeps the
    individual-rationality constraint of the bargaining problem, :math:`u_k(d) \ge 0`: it
    enters with a multiplier :math:`\alpha_k \ge 0`, :math:`\alpha_k \langle g_k, d\rangle = 0`
    (the potential is then minimized over :math:`\alpha_k \ge 0` without a barrier; the inner
    minimization over these α_k is an exact NNQP). So d never conflicts with any objective,
    whatever the preference. Solvability then requires that no
    :math:`v \ge 0` with some positive entry on a player satisfies :math:`J^\top v = 0`;
    :math:`m^2` is computed accordingly (simplex over the players, cone over the rest).

    **Versus TorchJD 0.18** (``torchjd.aggregation.NashMTL``, adapted from the authors' code):
    that aggregator is stateful (it warm-starts from the previous α, starting from α = 1, and
    can reuse weights for ``update_weights_every`` steps), runs at most ``optim_niter`` = 20
    cvxpy iterations, and rescales d to norm ``max_norm`` = 1 by default, i.e. by
    :math:`1/\sqrt K` at a converged solution. This class is stateless, solves the equation to
    ~1e-13 at any gradient scale and does not rescale (scale the learning rate instead). Where
    TorchJD's solver converges (gradients of unit scale) the weights agree to ~1e-7.

    Reference: A. Navon, A. Shamsian, I. Achituve, H. Maron, K. Kawaguchi, G. Chechik,
    E. Fetaya, "Multi-Task Learning as a Bargaining Game", ICML 2022.

    Args:
        stationary_tol: threshold on :math:`m^2` (squared distance from 0 to the convex hull of
            the unit-normalized gradients, in (0, 1)) below which the gradients count as
            Pareto-stationary and d = 0. Default 1e-8.
        max_iter: cap on Newton iterations (default 100; typically 3-10 are used, up to ~20
            close to stationarity).

    Diagnostics: ``stationary`` (bool: no agreement, zero weights), ``min_norm_sq`` (:math:`m^2`,
    or 0 when no objective is a player), ``iterations`` (Newton iterations), ``converged``
    (bool), ``residual`` (:math:`\max_k |\alpha_k (G\alpha)_k - w_k| / w_k` over the players,
    0 if none), ``zero_gradient`` (indices of the dropped objectives), ``direction_sq_norm``
    (:math:`\alpha^\top G \alpha = \|d\|^2` in gradient units², :math:`\sum w_k` at a solution).
    """

    name: ClassVar[str] = "nashmtl"
    properties: ClassVar[frozenset[str]] = frozenset(
        {"non_conflicting", "permutation_equivariant", "preference_aware"}
    )

    def __init__(self, stationary_tol: float = 1e-8, max_iter: int = 100) -> None:
        tol = float(stationary_tol)
        if not (math.isfinite(tol) and 0.0 < tol < 1.0):
            raise ValueError(f"stationary_tol must be in (0, 1), got {stationary_tol!r}")
        if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
            raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
        self.stationary_tol = tol
        self.max_iter = max_iter

    def _solve(
        self, gramian: np.ndarray, preference: np.ndarray, losses: np.ndarray | None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        k = gramian.shape[0]
        diag = np.diag(gramian).copy()
        nonzero = diag > 0.0
        weights = np.zeros(k)
        diagnostics: dict[str, Any] = {
            "stationary": False,
            "min_norm_sq": 0.0,
            "iterations": 0,
            "converged": True,
            "residual": 0.0,
            "zero_gradient": as_index_tuple(~nonzero),
            "direction_sq_norm": 0.0,
        }
        idx = np.flatnonzero(nonzero)
        w = k * preference[idx]
        players = w > 0.0
        if not players.any():  # every objective that could gain has a zero gradient
            return weights, diagnostics
        scale = np.sqrt(diag[idx])
        corr = gramian[np.ix_(idx, idx)] / np.outer(scale, scale)
        corr = np.clip(0.5 * (corr + corr.T), -1.0, 1.0)
        np.fill_diagonal(corr, 1.0)

        m2 = _min_norm_sq(corr, players)
        diagnostics["min_norm_sq"] = m2
        if m2 <= self.stationary_tol:
            diagnostics["stationary"] = True
            return weights, diagnostics

        x, iterations, converged = _bargain(corr, w, players, self.max_iter)
        cx = corr @ x
        share = x[players] * cx[players]
        weights[idx] = x / scale
        diagnostics.update(
            iterations=iterations,
            converged=converged,
            residual=float(np.max(np.abs(share - w[players]) / w[players])),
            direction_sq_norm=float(weights @ gramian @ weights),
        )
        return weights, diagnostics

    def __repr__(self) -> str:
        args = [] if self.stationary_tol == 1e-8 else [f"stationary_tol={self.stationary_tol!r}"]
        if self.max_iter != 100:
            args.append(f"max_iter={self.max_iter!r}")
        return f"NashMTL({', '.join(args)})"


def _min_norm_sq(corr: np.ndarray, players: np.ndarray) -> float:
    r"""min ‖Σ_k v_k ĝ_k‖² over v ≥ 0 with Σ_{players} v_k = 1 (the hull's distance to 0, squared).

    With Q = C + e_P e_Pᵀ and c = e_P, the NNQP objective is ½(‖Jᵀy‖² + (1 - s)²) - ½ with
    s = Σ_P y_k; writing y = s v (v feasible above) and minimizing over s (as in
    ``moo_lenient._qp.min_norm_simplex``) shows that y*/s* is the minimizer and the value is
    m² = y*ᵀ C y* / s*². s* > 0 since the objective's gradient at 0 is -e_P.
    """
    e = players.astype(np.float64)
    y = nnqp(corr + np.outer(e, e), e)
    s = float(y @ e)
    if not s > 0.0:  # cannot happen in exact arithmetic; treat as stationary
        return 0.0
    return max(float(y @ corr @ y) / (s * s), 0.0)


def _bargain(
    corr: np.ndarray, w: np.ndarray, players: np.ndarray, max_iter: int
) -> tuple[np.ndarray, int, bool]:
    r"""Minimize φ(x) = ½ xᵀ C x - Σ_P w_k log x_k over x_P > 0, x_Z ≥ 0 (Z: zero weight).

    Newton's method on the reduced function ψ(x_P) = min_{x_Z ≥ 0} φ(x_P, x_Z), whose inner
    minimum is an exact NNQP (none when Z is empty, the usual case). ψ is strictly convex with
    gradient (C x)_P - w_P / x_P (Danskin) and generalized Hessian S + diag(w_P / x_P²), S the
    Schur complement of the free zero-weight block F = {x_Z > 0} in C. Steps are taken in
    log-like coordinates, x_P ← x_P ∘ (1 + t u), where (X S X + W) u = w - x_P ∘ (C x)_P
    (X = diag(x_P)); t is halved until x_P stays positive and ψ decreases (Armijo).

    Returns x (all objectives of ``corr``), the iteration count and whether it converged.
    """
    n = corr.shape[0]
    p_idx = np.flatnonzero(players)
    z_idx = np.flatnonzero(~players)
    wp = w[p_idx]
    c_pp = corr[np.ix_(p_idx, p_idx)]
    c_zz = corr[np.ix_(z_idx, z_idx)]
    c_zp = corr[np.ix_(z_idx, p_idx)]

    def inner(xp: np.ndarray) -> np.ndarray:
        if z_idx.size == 0:
            return np.zeros(0)
        return nnqp(c_zz, -(c_zp @ xp))

    def assemble(xp: np.ndarray, xz: np.ndarray) -> np.ndarray:
        x = np.zeros(n)
        x[p_idx] = xp
        x[z_idx] = xz
        return x

    def potential(x: np.ndarray, xp: np.ndarray) -> tuple[float, float]:
        """ψ and a bound on its rounding error."""
        quad = float(x @ corr @ x)
        logs = wp * np.log(xp)
        slack = 8.0 * n * _EPS * (float(np.abs(x) @ np.abs(corr) @ np.abs(x)) + np.abs(logs).sum())
        return 0.5 * quad - float(logs.sum()), slack

    # Start on the ray x_P = t 1 at its best t: ψ(t 1) = ½ t² q - log t Σw (the inner minimizer
    # scales with t), minimized at t² = Σw / q; q ≥ |P|² m² > 0 when the problem is solvable.
    ones = np.ones(p_idx.size)
    x1 = assemble(ones, inner(ones))
    q = float(x1 @ corr @ x1)
    xp = ones * math.sqrt(float(wp.sum()) / q) if q > 0.0 else ones
    xz = inner(xp)
    x = assemble(xp, xz)
    value, _ = potential(x, xp)

    for iteration in range(1, max_iter + 1):
        cx = corr @ x
        r = wp - xp * cx[p_idx]
        noise = 8.0 * n * _EPS * xp * (np.abs(corr[p_idx]) @ np.abs(x))
        if np.all(np.abs(r) <= _SHARE_RTOL * wp + noise):
            return x, iteration - 1, True
        s = c_pp
        free = z_idx[xz > 0.0]
        if free.size:
            c_pf = corr[np.ix_(p_idx, free)]
            s = c_pp - c_pf @ np.linalg.lstsq(corr[np.ix_(free, free)], c_pf.T, rcond=None)[0]
        hess = xp[:, None] * s * xp[None, :] + np.diag(wp)
        hess = 0.5 * (hess + hess.T)
        try:
            u = np.linalg.solve(hess, r)
        except np.linalg.LinAlgError:
            u = np.linalg.lstsq(hess, r, rcond=None)[0]
        decrement = float(u @ r)  # -(directional derivative of ψ along x_P ∘ u)
        if not decrement > 0.0:
            return x, iteration, False
        t = 1.0
        while np.min(1.0 + t * u) <= 0.0:
            t *= 0.5
        for _ in range(60):
            xp_new = xp * (1.0 + t * u)
            xz_new = inner(xp_new)
            x_new = assemble(xp_new, xz_new)
            value_new, slack = potential(x_new, xp_new)
            if value_new <= value - 0.25 * t * decrement + slack:
                break
            t *= 0.5
        else:  # no decrease beyond rounding: the iterate is as good as float64 allows
            return x, iteration, False
        xp, xz, x, value = xp_new, xz_new, x_new, value_new
    cx = corr @ x
    noise = 8.0 * n * _EPS * xp * (np.abs(corr[p_idx]) @ np.abs(x))
    done = bool(np.all(np.abs(wp - xp * cx[p_idx]) <= _SHARE_RTOL * wp + noise))
    return x, max_iter, done
