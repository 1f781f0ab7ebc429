"""UPGrad: project each gradient onto the dual cone of all the gradients, then average."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from moo_lenient._qp import nnqp, unit_scale
from moo_lenient.methods.base import Method

#: A refinement pass runs while some (G v)_i < -_CONE_TOL on the unit-scale Gramian, with the
#: solver's dual tolerance lowered to _CONE_TOL; at most _REFINEMENT_PASSES passes, and a pass
#: is kept only if it reduces the largest violation (so refinement never makes things worse).
_CONE_TOL = 1e-13
_REFINEMENT_PASSES = 3


def dual_cone_lift(unit_gramian: np.ndarray, u: np.ndarray) -> np.ndarray:
    r"""The lift :math:`\lambda \ge 0` such that :math:`J^\top (u + \lambda)` is the projection
    of :math:`J^\top u` onto the dual cone :math:`\{x : J x \ge 0\}`.

    By Lagrangian duality (Quinton & Rey 2024, Proposition 1) the projection is
    :math:`J^\top v^\star` with :math:`v^\star = \arg\min_{v \ge u} v^\top G v`. Writing
    :math:`v = u + \lambda` gives the non-negative QP
    :math:`\min_{\lambda \ge 0} \tfrac12 \lambda^\top G \lambda + (G u)^\top \lambda`, bounded
    below because :math:`G u` lies in the range of :math:`G`. Its KKT conditions are
    :math:`G v^\star \ge 0` (every :math:`\langle g_i, J^\top v^\star\rangle \ge 0`: the
    projection is in the cone) and :math:`\lambda_i (G v^\star)_i = 0`.

    Refinement: on rank-deficient Gramians the exact projection can need large weights
    (:math:`\|v\| \sim 10^3` when the gradients barely positively span a subspace), and the
    active-set solver can then stop with constraints violated at the round-off level of
    :math:`\|v\|` (seen: :math:`(Gv)_i \approx -10^{-9}`): a singular passive block
    makes it re-add and drop the same variable until its iteration cap. Up to three further
    passes project the current point again,
    :math:`v \leftarrow v + \arg\min_{\mu \ge 0} \tfrac12 \mu^\top G \mu + (G v)^\top \mu`
    (a tiny problem started afresh, with the dual tolerance :math:`10^{-13}`), each kept only if
    it reduces :math:`\max_i (-(Gv)_i)`. Projecting a point within :math:`\epsilon` of the
    projection moves it by at most :math:`\epsilon` (the projection is 1-Lipschitz), so the
    passes only remove the violation. Measured worst :math:`-\langle g_i, d\rangle /
    \max_k \|g_k\|^2` over ~3000 random rank-deficient projections at scales
    :math:`10^{-10} \dots 10^{10}`: :math:`2.5 \cdot 10^{-13}` (:math:`10^{-9}`
    without refinement).

    Args:
        unit_gramian: (K, K) PSD Gramian already divided by its largest diagonal entry
            (``moo_lenient._qp.unit_scale``), so the solver's tolerances are relative.
        u: (K,) weights of the vector to project.

    Returns:
        (K,) non-negative lift :math:`\lambda`; the projection's weights are ``u + λ``. Where
        :math:`G` is singular, :math:`v^\star` (hence :math:`\lambda`) need not be unique, but
        the projected vector :math:`J^\top v^\star` is.
    """
    lift = nnqp(unit_gramian, -(unit_gramian @ u))
    inner = unit_gramian @ (u + lift)
    violation = -float(inner.min(initial=0.0))
    for _ in range(_REFINEMENT_PASSES):
        if violation <= _CONE_TOL:
            break
        candidate = lift + nnqp(unit_gramian, -inner, tol=_CONE_TOL)
        candidate_inner = unit_gramian @ (u + candidate)
        candidate_violation = -float(candidate_inner.min(initial=0.0))
        if candidate_violation >= violation:
            break
        lift, inner, violation = candidate, candidate_inner, candidate_violation
    return lift


class UPGrad(Method):
    r"""Unconflicting projection of gradients (Quinton & Rey, "Jacobian Descent for
    Multi-Objective Optimization", arXiv:2406.16232, 2024).

    Each gradient is projected onto the dual cone of the rows of J,
    :math:`C = \{x : \langle g_i, x\rangle \ge 0 \ \forall i\}`, and the projections are
    combined with the preference:

    .. math::  \pi_J(g_k) = \arg\min_{x \in C} \|x - g_k\|^2, \qquad
               d = \sum_k w_k\, \pi_J(g_k).

    Each projection is solved in weight space on the Gramian :math:`G = J J^\top`:
    :math:`\pi_J(g_k) = J^\top v^{(k)}` with :math:`v^{(k)} = \arg\min_{v \ge e_k} v^\top G v`
    (Proposition 1 of the paper), a K x K non-negative QP solved exactly in float64 by an
    active-set method on :math:`G` divided by its largest diagonal entry (see
    :func:`dual_cone_lift`). The weights are :math:`\sum_k w_k v^{(k)}`.

    Every projection lies in the convex cone :math:`C`, so :math:`d` does too:
    :math:`\langle g_i, d\rangle = (G\,\text{weights})_i \ge 0` for every objective (up to
    :math:`10^{-12}` of the largest squared gradient norm, the solver's tolerance). Because
    :math:`C` does not change when a row is multiplied by :math:`c_i > 0`,
    :math:`\pi_{\operatorname{diag}(c) J}(c_k g_k) = c_k \pi_J(g_k)`, so
    :math:`d(\operatorname{diag}(c) J) = \sum_k w_k c_k \pi_J(g_k)` is linear in :math:`c > 0`:
    the paper's "linear under scaling" property, which this class claims (the weights
    themselves do depend on the gradients).

    **Preference.** :math:`w` is the preference normalized to sum 1 and weights the projected
    gradients, as TorchJD's ``UPGrad(pref_vector=w)`` (whose default, the mean weighting
    :math:`1/K`, is our uniform preference; TorchJD does not normalize ``pref_vector``, ours is
    normalized, so our :math:`w` equals TorchJD's ``pref_vector`` when that sums to 1). An
    objective with :math:`w_k = 0` contributes no projection of its own but still constrains
    the others' (its gradient stays in the definition of :math:`C`).

    **Differences from TorchJD 0.18** (``QuadprogProjector(norm_eps=1e-4, reg_eps=1e-4)``):
    TorchJD divides :math:`G` by its trace, replaces it by 0 when the trace is below
    ``norm_eps`` (an absolute threshold: for gradients with :math:`\sum_k\|g_k\|^2 < 10^{-4}`
    it returns the preference-weighted mean, unprojected), and adds ``reg_eps`` times the
    identity before calling quadprog. The regularization trades :math:`\|v\|^2` against the
    objective, so its projections can leave the cone (by up to ``reg_eps`` :math:`v_i` in
    :math:`\langle g_i, d\rangle / \operatorname{tr} G`), its weights differ from the exact
    ones by up to :math:`\sim 10^{-3}` (relative, full-rank J), and on rank-deficient J, where
    the exact projection can need large weights, its direction differs by up to
    :math:`0.66 \max_k\|g_k\|` (measured). This class computes the exact projection at every
    scale (no threshold, no regularization). With ``norm_eps=0, reg_eps=0`` (possible for
    full-rank J only) TorchJD agrees to :math:`6 \cdot 10^{-16}` of the largest weight; on
    rank-deficient J its :math:`\text{reg\_eps} \to 0` limit agrees to
    :math:`5 \cdot 10^{-11} \max_k\|g_k\|` (see ``tests/methods/test_upgrad.py``).

    Where :math:`G` is singular the weights need not be unique (directions in the null space of
    :math:`G` do not change :math:`d`); the direction is. A zero Gramian gives the weights
    :math:`w` and a zero direction.

    Diagnostics: ``num_projected`` (how many gradients with :math:`w_k > 0` were outside the
    cone, i.e. were changed by their projection), ``min_inner_product``
    (:math:`\min_i \langle g_i, d\rangle`, gradient units², :math:`\ge 0` up to rounding) and
    ``direction_sq_norm`` (:math:`\|d\|^2`).
    """

    name: ClassVar[str] = "upgrad"
    properties: ClassVar[frozenset[str]] = frozenset(
        {
            "non_conflicting",
            "permutation_equivariant",
            "linear_under_scaling",
            "preference_aware",
        }
    )

    def _solve(
        self, gramian: np.ndarray, preference: np.ndarray, losses: np.ndarray | None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        g, top = unit_scale(gramian)
        weights = np.array(preference, dtype=np.float64)
        num_projected = 0
        if top > 0.0:
            for k in np.flatnonzero(preference > 0.0):
                lift = dual_cone_lift(g, np.eye(g.shape[0])[k])
                if np.any(lift > 0.0):
                    num_projected += 1
                    weights += preference[k] * lift
        inner = gramian @ weights
        return weights, {
            "num_projected": num_projected,
            "min_inner_product": float(inner.min()),
            "direction_sq_norm": float(weights @ inner),
        }
