"""Front-quality indicators. Computed on final results, never inside ``step()``.

Hypervolume and IGD come from pymoo (an optional dependency: ``pip install "moo_lenient[bench]"``);
maximum spread and preference compliance follow the PLC paper's appendix (eqs. 32-33).
All objectives are minimized; point sets are arrays of shape (N, K).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "hypervolume",
    "igd",
    "maximum_spread",
    "preference_compliance",
    "weighted_tchebycheff",
]


def _points(points: np.ndarray, name: str = "points") -> np.ndarray:
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty (N, K) array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def _pymoo(module: str):
    try:
        return __import__(f"pymoo.indicators.{module}", fromlist=["_"])
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            'hypervolume and IGD use pymoo: pip install "moo_lenient[bench]"'
        ) from exc


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """Lebesgue measure of the region dominated by ``points`` and bounded by ``reference``
    (PLC paper eq. 30). Points that do not dominate the reference contribute nothing."""
    f = _points(points)
    ref = _points(reference, "reference")[0]
    if ref.shape[0] != f.shape[1]:
        raise ValueError(
            f"reference has {ref.shape[0]} entries, points have {f.shape[1]} objectives"
        )
    inside = f[np.all(f < ref, axis=1)]
    if len(inside) == 0:
        return 0.0
    return float(_pymoo("hv").HV(ref_point=ref)(inside))


def igd(points: np.ndarray, front: np.ndarray) -> float:
    """Inverted generational distance: the mean over the front of the Euclidean distance to the
    nearest point (PLC paper eq. 31)."""
    f, pf = _points(points), _points(front, "front")
    if f.shape[1] != pf.shape[1]:
        raise ValueError(f"points have {f.shape[1]} objectives, the front has {pf.shape[1]}")
    return float(_pymoo("igd").IGD(pf)(f))


def maximum_spread(points: np.ndarray) -> float:
    """MS = sqrt(1/K Σ_k (max_y y_k - min_y y_k)²) (PLC paper eq. 32)."""
    y = _points(points)
    return float(np.sqrt(np.mean((y.max(axis=0) - y.min(axis=0)) ** 2)))


def preference_compliance(
    preferences: np.ndarray, points: np.ndarray, reference: np.ndarray | None = None
) -> float:
    """PC = 1/N Σ_i <w_i, y_i> / (||w_i|| ||y_i||) (PLC paper eq. 33), the mean cosine between
    each preference and its result.

    The paper's y are rewards (larger is better). For losses pass ``reference`` = z_ref, and
    y = z_ref - f is used (how far each loss lies below the reference point). A zero y_i counts
    as cosine 0.
    """
    w = _points(preferences, "preferences")
    y = _points(points)
    if reference is not None:
        y = _points(reference, "reference")[0] - y
    if w.shape != y.shape:
        raise ValueError(f"preferences {w.shape} and points {y.shape} must have the same shape")
    norms = np.linalg.norm(w, axis=1) * np.linalg.norm(y, axis=1)
    cos = np.divide(np.sum(w * y, axis=1), norms, out=np.zeros(len(w)), where=norms > 0)
    return float(cos.mean())


def weighted_tchebycheff(
    preference: np.ndarray, point: np.ndarray, ideal: np.ndarray, nadir: np.ndarray
) -> float:
    """max_k w_k f~_k with f~ = (f - ideal) / (nadir - ideal): how far a result lies from the
    preference's point of the front, in normalized units (lower is better)."""
    w = np.asarray(preference, dtype=np.float64)
    w = w / w.sum()
    f = (np.asarray(point, dtype=np.float64) - ideal) / (np.asarray(nadir) - np.asarray(ideal))
    return float(np.max(w * f))
