"""Aligned-MTL: align the gradients' principal components to condition number 1."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch

from moo_lenient._qp import unit_scale
from moo_lenient._validation import check_in_choices
from moo_lenient.methods.base import Method

_EPS = float(np.finfo(np.float64).eps)
SCALE_MODES = ("min", "median", "rmse")


class AlignedMTL(Method):
    r"""Aligned-MTL: the gradients' principal components aligned to condition number 1.

    Reference: D. Senushkin, N. Patakin, A. Kuznetsov, A. Konushin, "Independent Component
    Alignment for Multi-Task Learning", CVPR 2023.

    With the eigendecomposition of the Gramian :math:`G = J J^\top = V \Lambda V^\top` (the
    squared singular values :math:`\lambda_i = \sigma_i^2` of J and its left singular vectors),
    the gradient matrix :math:`J = V \Sigma U^\top` is replaced by the aligned one
    :math:`\hat J = \sqrt{s}\, V_r U_r^\top` on the r retained components (all singular values
    equal to :math:`\sqrt s`, condition number 1; :math:`\hat J = B J`). The update is
    :math:`d = \hat J^\top w`, i.e. the weights are

    .. math::  \alpha = B w, \qquad B = \sqrt{s}\; V_r \Lambda_r^{-1/2} V_r^\top ,
               \qquad d = J^\top \alpha = \sqrt{s} \sum_{i \le r} (v_i^\top w)\, u_i ,

    with :math:`u_i = J^\top v_i / \sigma_i` orthonormal, so :math:`\|d\| = \sqrt{s}\,
    \|V_r^\top w\|`. The scale :math:`s` is, by ``scale_mode``: ``"min"`` the smallest retained
    eigenvalue (the paper's choice, default), ``"median"`` their lower median, ``"rmse"`` their
    mean (:math:`\sqrt s` is then the RMS singular value). B is a matrix function of G
    (:math:`\sqrt s\, (G^{+})^{1/2}`), so it does not depend on the choice of eigenvectors in
    repeated eigenspaces; it is invariant to a common scale of the gradients, so d is
    proportional to a common scale but not linear in J (per-objective scales change the
    weights).

    **Numerical rank.** Eigenvalues :math:`\lambda_i \le \tau \lambda_{\max}` with
    :math:`\tau = \max(\text{rtol}, K\epsilon_{64})` are treated as zero (the components are
    dropped: B uses the pseudo-inverse square root on the range of G). TorchJD uses
    :math:`\tau = K\epsilon` of the Gramian's dtype; ``rtol=0`` reproduces that rule in float64.
    The default ``rtol=1e-12`` (singular values below 1e-6 of the largest) is deliberately
    larger: with the "min" scale a kept spurious eigenvalue makes :math:`s \approx 0` and d
    collapses onto that component, and the rounding level of a float64 Gramian of a
    rank-deficient Jacobian grows with the number of parameters (measured ~1e-14 relative
    for 1e6 columns, above :math:`K\epsilon` ≈ 1e-15, below 1e-12). When every eigenvalue is
    at most τλ_max (a zero Gramian), B = I as in TorchJD, so α = w and d = Jᵀw (= 0 for
    J = 0). G is divided by its largest diagonal entry before the eigendecomposition (B is
    scale-free), so every magnitude of gradients is handled alike.

    **Preference.** :math:`w` is the normalized preference (default uniform 1/K), the role of
    TorchJD's ``pref_vector`` (whose default is the mean weighting 1/K; a ``pref_vector`` summing
    to 1 gives the same weights as ours). The direction may conflict with an objective
    (:math:`\langle g_k, d\rangle = \sqrt s\,(G^{1/2} w)_k` can be negative), so the method does
    not claim ``non_conflicting``.

    Args:
        scale_mode: ``"min"`` (default), ``"median"`` or ``"rmse"``, as TorchJD.
        rtol: relative eigenvalue threshold for the numerical rank (≥ 0, < 1); see above.

    Diagnostics: ``rank`` (numerical rank r), ``eigenvalues`` (K eigenvalues of G, descending,
    float64 tensor, gradient units²), ``scale`` (s in gradient units²; 0 when r = 0),
    ``condition_number`` (:math:`\lambda_1 / \lambda_r`, the retained eigenvalues' ratio, which
    the alignment maps to 1; 1 when r ≤ 1).
    """

    name: ClassVar[str] = "alignedmtl"
    properties: ClassVar[frozenset[str]] = frozenset(
        {"permutation_equivariant", "preference_aware"}
    )

    def __init__(self, scale_mode: str = "min", rtol: float = 1e-12) -> None:
        self.scale_mode = check_in_choices(scale_mode, "scale_mode", SCALE_MODES)
        tol = float(rtol)
        if not (math.isfinite(tol) and 0.0 <= tol < 1.0):
            raise ValueError(f"rtol must be in [0, 1), got {rtol!r}")
        self.rtol = tol

    def _solve(
        self, gramian: np.ndarray, preference: np.ndarray, losses: np.ndarray | None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        k = gramian.shape[0]
        g, top = unit_scale(gramian)
        lam, vec = np.linalg.eigh(g)
        order = np.argsort(lam)[::-1]
        lam, vec = lam[order], vec[:, order]
        lam_max = float(lam[0])
        threshold = max(self.rtol, k * _EPS) * lam_max
        keep = lam > threshold
        rank = int(keep.sum())
        diagnostics: dict[str, Any] = {
            "rank": rank,
            "eigenvalues": torch.from_numpy(lam * top),
            "scale": 0.0,
            "condition_number": 1.0,
        }
        if rank == 0:  # zero Gramian (or not PSD at all): B = I, as TorchJD
            return preference.copy(), diagnostics
        lam_r, vec_r = lam[keep], vec[:, keep]
        if self.scale_mode == "min":
            scale = float(lam_r[-1])
        elif self.scale_mode == "median":
            scale = float(lam_r[::-1][(rank - 1) // 2])  # lower median, as torch.median
        else:
            scale = float(lam_r.mean())
        coefficients = np.sqrt(scale / lam_r) * (vec_r.T @ preference)
        weights = vec_r @ coefficients
        diagnostics.update(scale=scale * top, condition_number=float(lam_r[0] / lam_r[-1]))
        return weights, diagnostics

    def __repr__(self) -> str:
        args = [] if self.scale_mode == "min" else [f"scale_mode={self.scale_mode!r}"]
        if self.rtol != 1e-12:
            args.append(f"rtol={self.rtol!r}")
        return f"AlignedMTL({', '.join(args)})"
