"""IMTL-G: the direction with equal projections onto every objective's unit gradient."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from moo_lenient._qp import unit_scale
from moo_lenient.methods.base import Method

#: |Σ v| (unit scale) below which the weights cannot be normalized to sum 1: the equal-projection
#: direction has weights summing to zero (exactly opposite gradients, say) and the update is 0.
#: The same threshold as TorchJD's, applied after normalization so that it is scale-free.
_SUM_TOL = 1e-12


class IMTLG(Method):
    r"""Impartial multi-task learning, gradient part (Liu, Li, Kuang, Xue, Chen, Yang, Liao &
    Zhang, "Towards Impartial Multi-task Learning", ICLR 2021).

    IMTL-G looks for weights α with :math:`\sum_k \alpha_k = 1` whose direction
    :math:`d = \sum_k \alpha_k g_k` has the same projection onto every unit gradient
    :math:`u_k = g_k / \|g_k\|`: :math:`\langle d, u_1\rangle = \dots = \langle d, u_K\rangle`.
    In Gramian form, with :math:`n_k = \|g_k\| = \sqrt{G_{kk}}`, the projections are
    :math:`(G\alpha)_k / n_k`, so :math:`G v = n` and :math:`\alpha = v / \sum_k v_k`:

    .. math::  v = G^{+} n, \qquad \alpha = \frac{v}{\mathbf 1^\top v}, \qquad
               \langle d, u_k\rangle = \frac{1}{\mathbf 1^\top v} \ \ \forall k
               \quad (J \text{ of full row rank}),

    the paper's closed form written on the Gramian. For K = 2 independent gradients,
    :math:`\alpha = (\|g_2\|, \|g_1\|) / (\|g_1\| + \|g_2\|)` and d bisects the two unit gradients.

    **Rank deficiency and zero gradients.** As in TorchJD (and the generalization of Quinton &
    Rey, "Jacobian Descent for Multi-Objective Optimization", 2024), :math:`G^{+}` is the
    Moore-Penrose pseudo-inverse: eigenvalues of the unit-scale Gramian at most
    :math:`K \varepsilon \lambda_{\max}` count as zero (``torch.linalg.pinv``'s default cut-off).
    Then v is the least-squares solution of :math:`Gv = n` of minimum norm, which satisfies the
    equal projections whenever they are attainable. When no eigenvalue is cut, the same
    :math:`v = G^{-1} n = N^{-1} C^{-1} \mathbf 1` is solved on the cosine matrix
    :math:`C = N^{-1} G N^{-1}` (:math:`N = \mathrm{diag}(n)`), whose conditioning does not
    include the spread of the gradient norms. A zero gradient (zero row of G, :math:`n_k = 0`)
    gets weight exactly 0 and the others the IMTL-G weights of the remaining objectives. When
    :math:`|\mathbf 1^\top v| \le 10^{-12}` (unit scale), no direction with equal projections
    has weights summing to 1 (e.g. :math:`g_2 = -g_1`) and the weights are 0. The Gramian is
    divided by its largest diagonal entry first, so the weights do not depend on the gradients'
    scale (TorchJD applies the 1e-12 threshold to the raw Gramian, so its weights vanish for
    very large gradients, e.g. norms of 1e15).

    **Sign.** For J of full row rank the common projection is :math:`1/\mathbf 1^\top v`, which
    is negative when :math:`\mathbf 1^\top v < 0` (possible for K ≥ 3 with very different
    gradient norms): d then increases every objective to first order. This is the published
    method (Σα = 1); the ``projections`` diagnostic shows it.

    **Preference.** Ignored: IMTL-G is impartial by design (equal projections, no trade-off
    parameter), and TorchJD's IMTLG has none either. (Asking for projections proportional to
    the preference would be a new method, not IMTL-G.) Given a non-uniform preference,
    :class:`~moo_lenient.MultiObjectiveOptimizer` warns once
    (:class:`~moo_lenient.PreferenceIgnoredWarning`).

    Diagnostics: ``projections`` (float64 tensor (K,), :math:`\langle d, u_k\rangle` in gradient
    units; 0 for a zero gradient) and ``weight_sum`` (:math:`\mathbf 1^\top v` at unit scale; its
    sign is the sign of the common projection).
    """

    name: ClassVar[str] = "imtlg"
    properties: ClassVar[frozenset[str]] = frozenset({"permutation_equivariant"})

    def _solve(
        self, gramian: np.ndarray, preference: np.ndarray, losses: np.ndarray | None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        g, top = unit_scale(gramian)
        k = g.shape[0]
        norms = np.sqrt(np.clip(np.diag(g), 0.0, None))
        alpha, total = np.zeros(k), 0.0
        nonzero = np.flatnonzero(norms > 0.0)  # zero gradients: zero row of G, weight 0
        if nonzero.size:
            sub, n = g[np.ix_(nonzero, nonzero)], norms[nonzero]
            eigvals, eigvecs = np.linalg.eigh(sub)
            keep = eigvals > k * np.finfo(np.float64).eps * float(eigvals[-1])
            if keep.all():
                # Full rank: G = N C N with C the cosine matrix and N = diag(n), so
                # G⁻¹ n = N⁻¹ C⁻¹ 1, solved on C, whose conditioning ignores the norms.
                v = np.linalg.solve(sub / np.outer(n, n), np.ones(n.size)) / n
            else:
                basis = eigvecs[:, keep]
                v = basis @ ((basis.T @ n) / eigvals[keep])
            total = float(v.sum())
            if abs(total) > _SUM_TOL:
                alpha[nonzero] = v / total
        projections = np.divide(g @ alpha, norms, out=np.zeros(k), where=norms > 0.0)
        diagnostics = {
            "projections": torch.from_numpy(projections * np.sqrt(top)),
            "weight_sum": total,
        }
        return alpha, diagnostics
