"""EPO: Exact Pareto Optimal search, a linear program on the Gramian (balance or descent)."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from moo_lenient._qp import min_norm_simplex, unit_scale
from moo_lenient._validation import check_finite_vector, check_positive, require_values
from moo_lenient.methods.base import Method

#: Floor of the normalized values l̂_j inside the logarithm of the adjustments, so that an
#: objective at value 0 gets a large finite adjustment (log(m·eps) ≈ -36) instead of -inf.
LOG_FLOOR = float(np.finfo(np.float64).eps)
#: HiGHS primal and dual feasibility tolerances, on the unit-scale Gramian (default 1e-7).
LP_TOL = 1e-10


class EPO(Method):
    r"""Exact Pareto Optimal search: reach the point of the front where :math:`r \odot f` is flat.

    With the preference :math:`r` (normalized to sum 1), the values :math:`f \ge 0` and the
    Gramian :math:`C = J J^\top` (divided by its largest diagonal entry), EPO looks for the
    Pareto-optimal point on the preference ray :math:`r_1 f_1 = \dots = r_K f_K` (a larger
    :math:`r_k` asks for a smaller :math:`f_k`). Its distance from the ray is the
    *non-uniformity*, the Kullback-Leibler divergence of the normalized
    :math:`\hat l = r \odot f / \sum_j r_j f_j` from the uniform distribution,

    .. math::

        \mu = \sum_j \hat l_j \log(m \hat l_j) \;(\ge 0,\ 0 \log 0 = 0), \qquad
        a_j = r_j \bigl(\log(m \hat l_j) - \mu\bigr),

    with :math:`m` the number of objectives. :math:`a` is the gradient of μ with respect to f
    up to the positive factor :math:`\sum_j r_j f_j`: a step :math:`\theta \leftarrow \theta
    - \eta d` with :math:`d = \sum_j \beta_j g_j` changes :math:`f_j` by
    :math:`-\eta (C\beta)_j` and μ by :math:`-\eta\, \beta^\top C a / \sum_j r_j f_j` to first
    order. The weights β are the solution of one of two linear programs over the simplex
    :math:`\Delta = \{\beta \ge 0, \sum_j \beta_j = 1\}`:

    *Balance mode* (:math:`\mu > \varepsilon`): decrease the non-uniformity as fast as
    possible, with controlled ascent,

    .. math::

        \max_{\beta \in \Delta} \; \beta^\top C a \quad \text{s.t.} \quad
        (C\beta)_j \ge 0 \;\; (j \in J^\ast), \qquad
        (C\beta)_j \ge (Ca)_j \;\; (j \notin J \cup J^\ast) \ \text{if } J \ne \emptyset,
        \qquad (C\beta)_j \ge 0 \;\; (\text{all } j) \ \text{if } J = \emptyset,

    where :math:`J = \{j : (Ca)_j > 0\}` are the objectives that the pure balancing direction
    :math:`d_{bal} = \sum_j a_j g_j` decreases (no constraint on them) and
    :math:`J^\ast = \arg\max_j r_j f_j` the objectives furthest behind (they must not
    increase). The others may increase, but by no more than :math:`d_{bal}` itself would
    increase them (the paper's "controlled ascent").

    *Descent mode* (:math:`\mu \le \varepsilon`, on the ray): decrease every objective, as much
    as possible in total, without leaving the ray to first order,

    .. math::

        \max_{\beta \in \Delta} \; \mathbf 1^\top C \beta \quad \text{s.t.} \quad
        C\beta \ge 0, \qquad \beta^\top C a \ge \min\bigl(\max_j (Ca)_j, 0\bigr),

    and, if this restricted program is infeasible (or with ``relax=True``), the relaxed one
    without the last constraint.

    Both programs are always feasible in exact arithmetic: the MGDA (min-norm) weights satisfy
    :math:`C\beta \ge \beta^\top C \beta \ge 0`, and so every constraint of the balance
    program and of the relaxed descent program. They are solved in float64 on the unit-scale
    Gramian with feasibility tolerance 1e-10: for at most ``VERTEX_MAX`` = 5 objectives by
    enumerating the vertices of the feasible polytope (:func:`vertex_lp`, exact and about 10x
    cheaper than a solver call at this size), above that with SciPy's HiGHS
    (``scipy.optimize.linprog``); should both fail, the MGDA weights are returned
    (diagnostic ``solver="mgda-fallback"``). The returned weights are clipped at 0 and
    renormalized to sum 1.

    Reference: D. Mahapatra, V. Rajan, "Multi-Task Learning with User Preferences: Gradient
    Descent with Controlled Ascent in Pareto Optimization", ICML 2020. The programs above are
    the paper's LP as the authors' public implementation states it (its default "restricted"
    descent program, and the "relaxed" one as option and fallback); the LP itself is written
    here from that description.

    **Preference.** The preference r defines the ray, so the method is preference-aware;
    being normalized to sum 1, it also sets the scale of a, hence of the ascent bounds
    :math:`(Ca)_j`. Objectives with a zero preference do not take part: EPO is solved on the
    others (m = their number) and they get weight 0, as the limit of a vanishing preference
    (a target :math:`f_j \to \infty`) suggests. With one objective left, or a zero Gramian
    among them, the LP is skipped: the weight 1, or the uniform weights (direction 0).

    **Values.** Required on every call (``losses``), at least ``min_losses`` (default 0): the
    ray and the non-uniformity are defined for non-negative losses, so EPO works with
    :math:`f - f^{\min}` (give a known lower bound of each loss where it is not 0, e.g. losses
    that can be negative; the ray is then :math:`r \odot (f - f^{\min})`). An objective at its
    lower bound has
    :math:`\hat l_j = 0`; its logarithm is floored at machine epsilon (``LOG_FLOOR``) in a.
    If every preferred objective is at 0, μ = 0 and a = 0 (descent mode).

    **Limitations.** The direction lies in the cone of the gradients (β ≥ 0): an objective
    can be made to ascend only where another gradient conflicts with it. Where all gradients
    are positively correlated the balance program can only pick the descent that increases μ
    least, and from a start whose gradients stay aligned up to one end of the front EPO may end
    there instead of on the ray (see ``docs/methods/epo.md``). Where the LP's optimum is not
    unique (identical gradients, say), the vertex enumeration returns the centroid of the
    optimal vertices (independent of the order of the objectives); HiGHS (more than 5
    objectives) returns one optimal vertex, so the weights may then depend on the order.

    Args:
        eps: the non-uniformity threshold ε > 0 between the modes (the authors' 1e-4).
        relax: use the relaxed descent program (without the balance restriction) always.
        min_losses: K lower bounds of the values (default 0); EPO uses ``f - min_losses``.

    Diagnostics: ``mode`` ("balance" or "descent"), ``non_uniformity`` μ (float),
    ``adjustments`` a ((K,) float64 tensor, 0 for objectives with zero preference),
    ``relaxed`` (whether the relaxed descent program gave the weights), ``solver``
    ("vertices", "highs", "mgda-fallback" or "none" where the LP was skipped) and
    ``lp_objective`` (the optimal value of the program in gradient units², i.e. on the
    unscaled Gramian).
    """

    name: ClassVar[str] = "epo"
    properties: ClassVar[frozenset[str]] = frozenset(
        {"preference_aware", "permutation_equivariant"}
    )

    def __init__(
        self, eps: float = 1e-4, relax: bool = False, min_losses: Sequence[float] | None = None
    ) -> None:
        self.eps = check_positive(eps, "eps")
        if not isinstance(relax, bool | np.bool_):
            raise ValueError(f"relax must be a bool, got {relax!r}")
        self.relax = bool(relax)
        self.min_losses = (
            None if min_losses is None else check_finite_vector(min_losses, "min_losses")
        )

    def _solve(
        self, gramian: np.ndarray, preference: np.ndarray, losses: np.ndarray | None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        k = gramian.shape[0]
        losses = require_values(
            losses, "EPO measures the non-uniformity of r * f with the objective values"
        )
        if self.min_losses is not None:
            if self.min_losses.size != k:
                raise ValueError(
                    f"EPO min_losses has {self.min_losses.size} entries but there are {k} "
                    "objectives"
                )
            losses = losses - self.min_losses
        if np.any(losses < 0):
            bad = [int(i) for i in np.flatnonzero(losses < 0)]
            floor = "min_losses" if self.min_losses is not None else "0"
            raise ValueError(
                f"EPO needs objective values of at least {floor} (the preference ray "
                f"r * (f - min_losses)), but objective(s) {bad} are below it: {losses.tolist()}"
            )
        support = np.flatnonzero(preference > 0)
        r, f = preference[support], losses[support]
        mu, a_s = non_uniformity(r, f)
        adjustments = np.zeros(k)
        adjustments[support] = a_s
        mode = "balance" if mu > self.eps else "descent"
        weights = np.zeros(k)
        diagnostics: dict[str, Any] = {
            "mode": mode,
            "non_uniformity": mu,
            "adjustments": torch.from_numpy(adjustments),
            "relaxed": False,
            "solver": "none",
            "lp_objective": 0.0,
        }
        c_s, scale = unit_scale(np.ascontiguousarray(gramian[np.ix_(support, support)]))
        if support.size == 1 or not scale > 0.0:
            weights[support] = 1.0 / support.size
            return weights, diagnostics
        beta, value, solver, relaxed = solve_epo_lp(c_s, a_s, r * f, mode, self.relax)
        weights[support] = beta
        diagnostics.update(solver=solver, relaxed=relaxed, lp_objective=value * scale)
        return weights, diagnostics

    def __repr__(self) -> str:
        args = [] if self.eps == 1e-4 else [f"eps={self.eps!r}"]
        if self.relax:
            args.append("relax=True")
        if self.min_losses is not None:
            args.append(f"min_losses={self.min_losses.tolist()!r}")
        return f"EPO({', '.join(args)})"


def non_uniformity(r: np.ndarray, f: np.ndarray) -> tuple[float, np.ndarray]:
    """μ = KL(l̂ ‖ uniform) of ``l̂ = r f / Σ r f`` and the adjustments ``a = r (log(m l̂) - μ)``.

    Args:
        r: (m,) positive preference entries; f: (m,) non-negative values.

    Returns:
        (μ ≥ 0, a); (0, zeros) where every ``r_j f_j`` is 0.
    """
    m = r.size
    rl = r * f
    total = float(rl.sum())
    if not total > 0.0:
        return 0.0, np.zeros(m)
    l_hat = rl / total
    positive = l_hat > 0.0
    mu = max(float(np.sum(l_hat[positive] * np.log(m * l_hat[positive]))), 0.0)
    adjustments = r * (np.log(m * np.maximum(l_hat, LOG_FLOOR)) - mu)
    return mu, adjustments


def epo_constraints(
    c: np.ndarray, a: np.ndarray, rl: np.ndarray, mode: str, relax: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float | None]:
    """The program of one EPO step on a unit-scale Gramian ``c``.

    Returns ``(objective, rows, rhs, restriction)``: maximize ``objective @ β`` over the
    simplex subject to ``(c @ β)[rows] >= rhs`` (and, for the restricted descent program,
    ``β @ (c @ a) >= restriction``; None otherwise).
    """
    ca = c @ a
    m = c.shape[0]
    if mode == "balance":
        # Membership of J is decided above the rounding noise of c @ a (|c_ij| <= 1).
        in_j = ca > 1e-12 * float(np.abs(a).sum())
        worst = rl >= float(rl.max()) * (1.0 - 1e-12)
        if in_j.any():
            rows = np.flatnonzero(worst | ~in_j)
            rhs = np.where(worst[rows], 0.0, ca[rows])
        else:
            rows, rhs = np.arange(m), np.zeros(m)
        return ca, rows, rhs, None
    restriction = None if relax else min(float(ca.max()), 0.0)
    return c.sum(axis=1), np.arange(m), np.zeros(m), restriction


#: Programs with at most this many objectives are solved by enumerating their vertices.
VERTEX_MAX = 5


@functools.cache
def _combinations(n: int, r: int) -> np.ndarray:
    return np.array(list(itertools.combinations(range(n), r)), dtype=np.intp).reshape(-1, r)


def vertex_lp(objective: np.ndarray, rows: np.ndarray, rhs: np.ndarray) -> np.ndarray | None:
    """max ``objective @ β`` over {β ≥ 0, Σ β = 1, rows @ β ≥ rhs} by enumerating the vertices
    (m - 1 active inequalities and the equality, all solved at once), or None if infeasible.

    Exact up to the feasibility tolerance ``LP_TOL`` and cheap for small m (at most
    C(2m + 1, m - 1) = 330 vertices of 5 x 5 systems for m = 5). Where the optimum is not
    unique the centroid of the optimal vertices is returned: optimal too (the optimal face is
    convex), and it does not depend on the order of the objectives.
    """
    m = objective.size
    ineq = np.vstack([np.eye(m), rows])
    lo = np.concatenate([np.zeros(m), rhs])
    combos = _combinations(ineq.shape[0], m - 1)
    systems = np.empty((len(combos), m, m))
    systems[:, : m - 1] = ineq[combos]
    systems[:, m - 1] = 1.0
    targets = np.empty((len(combos), m))
    targets[:, : m - 1] = lo[combos]
    targets[:, m - 1] = 1.0
    regular = np.abs(np.linalg.det(systems)) > 1e-12
    if not regular.any():
        return None
    beta = np.linalg.solve(systems[regular], targets[regular][..., None])[..., 0]
    feasible = np.all(beta @ ineq.T >= lo - LP_TOL, axis=1)
    if not feasible.any():
        return None
    beta = beta[feasible]
    values = beta @ objective
    best = float(values.max())
    optimal = beta[values >= best - 1e-12 * max(1.0, abs(best))]
    vertices = optimal if len(optimal) == 1 else np.unique(np.round(optimal, 12), axis=0)
    centroid = np.maximum(vertices.mean(axis=0), 0.0)
    return centroid / float(centroid.sum())


def solve_epo_lp(
    c: np.ndarray, a: np.ndarray, rl: np.ndarray, mode: str, relax: bool
) -> tuple[np.ndarray, float, str, bool]:
    """Solve the balance or descent program (see :class:`EPO`): vertex enumeration for at
    most ``VERTEX_MAX`` objectives, HiGHS above.

    Returns ``(β, optimal value on c, solver, relaxed)``.
    """
    objective, rows, rhs, restriction = epo_constraints(c, a, rl, mode, relax)
    m = c.shape[0]
    ca = c @ a
    solver = "vertices" if m <= VERTEX_MAX else "highs"

    def run(with_restriction: bool) -> np.ndarray | None:
        a_ub, b_ub = -c[rows], -rhs
        if with_restriction:
            a_ub = np.vstack([a_ub, -ca[None, :]])
            b_ub = np.append(b_ub, -restriction)
        if solver == "vertices":
            return vertex_lp(objective, -a_ub.reshape(-1, m), -b_ub.reshape(-1))
        result = _linprog()(
            -objective,
            A_ub=a_ub if a_ub.size else None,
            b_ub=b_ub if a_ub.size else None,
            A_eq=np.ones((1, m)),
            b_eq=np.ones(1),
            bounds=[(0.0, None)] * m,
            method="highs",
            options={"primal_feasibility_tolerance": LP_TOL, "dual_feasibility_tolerance": LP_TOL},
        )
        if result.status != 0 or result.x is None:
            return None
        beta = np.maximum(np.asarray(result.x, dtype=np.float64), 0.0)
        total = float(beta.sum())
        return beta / total if total > 0.0 else None

    relaxed = restriction is None and mode == "descent"
    beta = run(restriction is not None)
    if beta is None and restriction is not None:
        relaxed = True
        beta = run(False)
    if beta is None:  # cannot happen in exact arithmetic: the MGDA weights are feasible
        beta, solver = min_norm_simplex(c), "mgda-fallback"
    return beta, float(objective @ beta), solver, relaxed


def _linprog():
    """SciPy's ``linprog`` (HiGHS), needed above ``VERTEX_MAX`` objectives only."""
    try:
        from scipy.optimize import linprog
    except ImportError as exc:
        raise ImportError(
            f"EPO with more than {VERTEX_MAX} objectives solves its linear program with SciPy's "
            'HiGHS: pip install scipy (or pip install "moo_lenient[bench]")'
        ) from exc
    return linprog
