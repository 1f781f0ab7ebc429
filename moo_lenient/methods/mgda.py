"""MGDA: the min-norm point of the convex hull of the gradients."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from moo_lenient._qp import min_norm_simplex
from moo_lenient.methods.base import Method


class MGDA(Method):
    r"""Multiple-gradient descent (Désidéri 2012; Sener & Koltun 2018).

    The direction is the minimum-norm element of the convex hull of the gradients,

    .. math::  \alpha^\star = \arg\min_{\alpha \in \Delta_K} \alpha^\top G \alpha, \qquad
               d = \sum_k \alpha^\star_k g_k ,

    solved exactly on the Gramian :math:`G = J J^\top` (float64, normalized by its largest
    diagonal entry) by reduction to a non-negative least-squares problem with
    :math:`Q = G + \mathbf{1}\mathbf{1}^\top` and an active-set solver (see
    ``moo_lenient._qp.min_norm_simplex``). Optimality (KKT) conditions:
    :math:`(G\alpha^\star)_k \ge \alpha^{\star\top} G \alpha^\star` for every k, with equality
    where :math:`\alpha^\star_k > 0`; hence :math:`\langle g_k, d\rangle \ge \|d\|^2 \ge 0`:
    the step never increases any objective to first order. ``d = 0`` exactly at
    Pareto-stationary points, where MGDA stops.

    **Preference.** Not used: MGDA's direction is determined by the gradients alone (the
    published algorithm has no preference). A preference passed to it is validated and
    ignored, so MGDA can run in preference sweeps as a preference-free baseline; given a
    non-uniform one, :class:`~moo_lenient.MultiObjectiveOptimizer` warns once
    (:class:`~moo_lenient.PreferenceIgnoredWarning`), which sweeps silence.

    Diagnostics: ``direction_sq_norm`` (:math:`\alpha^\top G \alpha`, in gradient units²).
    """

    name: ClassVar[str] = "mgda"
    properties: ClassVar[frozenset[str]] = frozenset({"non_conflicting", "permutation_equivariant"})

    def _solve(
        self, gramian: np.ndarray, preference: np.ndarray, losses: np.ndarray | None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        alpha = min_norm_simplex(gramian)
        return alpha, {"direction_sq_norm": float(alpha @ gramian @ alpha)}
