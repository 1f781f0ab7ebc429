"""PLC's lenient mask (spec step 5): which dissenters the coalition's surplus pays for."""

from __future__ import annotations

import math

import numpy as np


def lenient_mask(
    dissent: np.ndarray, loss: np.ndarray, surplus: float, kappa: float
) -> tuple[np.ndarray, np.ndarray]:
    """Tolerate dissenters in groups of equal loss, smallest first, while the surplus pays."""
    tolerated = np.zeros_like(dissent)
    rectified = np.zeros_like(dissent)
    idx = np.flatnonzero(dissent)
    if idx.size == 0:
        return tolerated, rectified
    if math.isinf(kappa):  # infinite threshold: no surplus pays for any dissent
        rectified[idx] = True
        return tolerated, rectified
    if kappa <= 1.0:  # Γ - Σ_D ℓ = ||p||² >= 0: every dissenter is paid for (exactly, not
        tolerated[idx] = True  # up to the rounding of Γ and ℓ near a rest point, p ≈ 0)
        return tolerated, rectified
    order = idx[np.argsort(loss[idx], kind="stable")]
    paid = 0.0
    start = 0
    while start < order.size:
        end = start + 1
        while end < order.size and math.isclose(
            loss[order[end]], loss[order[start]], rel_tol=1e-12, abs_tol=0.0
        ):
            end += 1
        group = order[start:end]
        need = kappa * (paid + float(loss[group].sum()))
        if surplus - need >= -1e-12 * max(abs(surplus), need):
            tolerated[group] = True
            paid += float(loss[group].sum())
            start = end
        else:
            rectified[order[start:]] = True
            break
    return tolerated, rectified
