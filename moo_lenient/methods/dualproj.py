"""DualProj: project the preference-weighted mean gradient onto the dual cone (GEM's step)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from moo_lenient._qp import unit_scale
from moo_lenient.methods.base import Method
from moo_lenient.methods.upgrad import dual_cone_lift


class DualProj(Method):
    r"""Projection of the weighted mean gradient onto the dual cone of the gradients: the
    projection step of Gradient Episodic Memory (Lopez-Paz & Ranzato, "Gradient Episodic
    Memory for Continual Learning", NeurIPS 2017, Section 3: the projection and its dual QP),
    as TorchJD's ``DualProj`` (which cites it as the solution of the paper's Eq. 11).

    .. math::  d = \arg\min_{x \in C} \Big\|x - \sum_k w_k g_k\Big\|^2, \qquad
               C = \{x : \langle g_i, x\rangle \ge 0 \ \forall i\}.

    GEM solves the dual of this problem, a K x K QP on the Gramian :math:`G = J J^\top`:
    :math:`d = J^\top v^\star` with :math:`v^\star = \arg\min_{v \ge w} v^\top G v`. Writing
    :math:`v = w + \lambda`, :math:`\lambda \ge 0` solves the non-negative QP
    :math:`\min_{\lambda \ge 0} \tfrac12 \lambda^\top G \lambda + (G w)^\top \lambda`, solved
    exactly in float64 by an active-set method on :math:`G` divided by its largest diagonal
    entry (``moo_lenient.methods.upgrad.dual_cone_lift``). KKT: :math:`G v^\star \ge 0`,
    i.e. :math:`\langle g_i, d\rangle \ge 0` for every objective (up to :math:`10^{-12}` of the
    largest squared gradient norm), and :math:`\lambda_i \langle g_i, d\rangle = 0`: only
    the objectives the mean conflicts with are lifted, each exactly onto the boundary. When
    the mean conflicts with no objective, :math:`d` is the mean itself.

    For K = 2 at most one constraint can be violated (both would give
    :math:`\|\sum_k w_k g_k\|^2 < 0`) and the projection onto that half-space already
    satisfies the other, so with :math:`m = w_1 g_1 + w_2 g_2`:
    :math:`\lambda_i = \max(0, -\langle g_i, m\rangle) / \|g_i\|^2`.

    **Preference.** :math:`w` is the preference normalized to sum 1; it weights the mean
    before the projection, as TorchJD's ``DualProj(pref_vector=w)`` (its default, the mean
    weighting :math:`1/K`, is our uniform preference). The projection is not linear in the
    rows, so the class does not claim ``linear_under_scaling``.

    **Differences from TorchJD 0.18** (``QuadprogProjector(norm_eps=1e-4, reg_eps=1e-4)``):
    TorchJD divides :math:`G` by its trace, replaces it by 0 when the trace is below
    ``norm_eps`` (an absolute threshold: for gradients with :math:`\sum_k\|g_k\|^2 < 10^{-4}`
    it returns the weighted mean, unprojected), and adds ``reg_eps`` times the identity before
    calling quadprog, which moves the solution off the exact projection: it can leave the cone
    (by up to ``reg_eps`` :math:`v_i` in :math:`\langle g_i, d\rangle / \operatorname{tr} G`),
    its weights differ from the exact ones by up to :math:`\sim 10^{-3}` (relative, full-rank
    J) and its direction by up to :math:`0.29 \max_k\|g_k\|` on rank-deficient J (measured).
    This class computes the exact projection at every scale. With ``norm_eps=0, reg_eps=0``
    (full-rank J only) TorchJD agrees to :math:`5 \cdot 10^{-16}` of the largest weight; on
    rank-deficient J its :math:`\text{reg\_eps} \to 0` limit agrees to
    :math:`3 \cdot 10^{-11} \max_k\|g_k\|` (see ``tests/methods/test_dualproj.py``).

    Where :math:`G` is singular the weights need not be unique; the direction is. A zero
    Gramian gives the weights :math:`w` and a zero direction.

    Diagnostics: ``num_active`` (how many objectives the mean conflicted with, i.e. how many
    :math:`\lambda_i > 0`), ``min_inner_product`` (:math:`\min_i \langle g_i, d\rangle`,
    gradient units², :math:`\ge 0` up to rounding) and ``direction_sq_norm``
    (:math:`\|d\|^2`).
    """

    name: ClassVar[str] = "dualproj"
    properties: ClassVar[frozenset[str]] = frozenset(
        {"non_conflicting", "permutation_equivariant", "preference_aware"}
    )

    def _solve(
        self, gramian: np.ndarray, preference: np.ndarray, losses: np.ndarray | None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        g, top = unit_scale(gramian)
        weights = np.array(preference, dtype=np.float64)
        num_active = 0
        if top > 0.0:
            lift = dual_cone_lift(g, weights)
            num_active = int(np.count_nonzero(lift > 0.0))
            weights += lift
        inner = gramian @ weights
        return weights, {
            "num_active": num_active,
            "min_inner_product": float(inner.min()),
            "direction_sq_norm": float(weights @ inner),
        }
