"""PLC's free descent (spec v4, step 7b): descent for the non-leading objectives that costs no
objective anything to first order.

Tchebycheff prices give an objective below the current maximum almost no price, so descent that
would cost the leading objectives nothing is left undone; in real multi-task training this
leaves easy tasks untrained and ends at points linear scalarization dominates. Free descent adds,
to PLC's step, the projection of the non-leaders' preference-weighted direction onto the cone
where no voiced objective increases, capped at the length of PLC's own step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from moo_lenient._qp import nnqp

DEFAULTS: dict[str, float] = {"start": 0.2, "tie": 3.0, "coef": 1.0}
_NEGLIGIBLE = 1e-24  # a^T G^ a at or below this times max_k G^_kk: nothing is added


@dataclass(frozen=True)
class FreeDescentConfig:
    """``start`` (warm-up, a fraction of the horizon in [0, 1)), ``tie`` (the leaders' band in
    units of the temperature, > 0) and ``coef`` (the cap's multiplier, > 0)."""

    start: float = DEFAULTS["start"]
    tie: float = DEFAULTS["tie"]
    coef: float = DEFAULTS["coef"]

    @classmethod
    def from_dict(cls, options: Mapping[str, Any]) -> FreeDescentConfig:
        if not isinstance(options, Mapping):
            raise TypeError(
                f"free_descent must be 'auto', None or a dict of options, got {options!r}"
            )
        unknown = sorted(set(options) - set(DEFAULTS))
        if unknown:
            raise ValueError(
                f"free_descent got unknown option(s) {unknown}; the options are {sorted(DEFAULTS)}"
            )
        values = {**DEFAULTS, **options}
        for key in DEFAULTS:
            value = values[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"free_descent['{key}'] must be a number, got {value!r}")
            if not math.isfinite(float(value)):
                raise ValueError(f"free_descent['{key}'] must be finite, got {value!r}")
        if not 0.0 <= values["start"] < 1.0:
            raise ValueError(f"free_descent['start'] must lie in [0, 1), got {values['start']}")
        for key in ("tie", "coef"):
            if not values[key] > 0.0:
                raise ValueError(f"free_descent['{key}'] must be > 0, got {values[key]}")
        return cls(**{k: float(v) for k, v in values.items()})

    def as_dict(self) -> dict[str, float]:
        return {"start": self.start, "tie": self.tie, "coef": self.coef}

    def active(self, t: int, horizon: int | None) -> bool:
        """After the warm-up: t ≥ start · H (always with start = 0)."""
        if self.start == 0.0:
            return True
        return horizon is not None and t >= self.start * horizon


def free_descent(
    cfg: FreeDescentConfig,
    b: np.ndarray,
    g_hat: np.ndarray,
    weighted: np.ndarray,
    w: np.ndarray,
    voiced: np.ndarray,
    top: float,
    temperature: float,
    leaders_too: bool = False,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Add the free-descent slack to the step weights b (voice space, unit-scale Ĝ).

    Args:
        b: the step's weights after rectification and the stall escape.
        g_hat: the voice Gramian Ĝ (unit scale, zero rows for unvoiced objectives).
        weighted: w_k f̃_k; top: M_t = max_k w_k f̃_k; temperature: μ̂_t.
        w: the preference; voiced: the players (voice > 0 and w_k > 0).
        leaders_too: a research variant (not the spec's rule): the target is w on every voiced
            objective, leaders included (the projection of the preference-weighted direction).

    Returns:
        The new b, the leaders L (a boolean mask) and the ratio ‖added‖ / ‖Σ b_k ĝ_k‖ (0 when
        nothing is added).
    """
    leaders = voiced & (weighted >= top - cfg.tie * temperature)
    u = np.where(voiced & (leaders_too | ~leaders), w, 0.0)
    if not u.any():
        return b, leaders, 0.0
    idx = np.flatnonzero(voiced)
    sub = g_hat[np.ix_(idx, idx)]
    a = u.copy()
    a[idx] += nnqp(sub, -(sub @ u[idx]))
    a_sq = float(a @ g_hat @ a)
    ceiling = _NEGLIGIBLE * float(np.max(np.diag(g_hat), initial=0.0))
    b_norm = math.sqrt(max(float(b @ g_hat @ b), 0.0))
    if not a_sq > ceiling or b_norm == 0.0:
        return b, leaders, 0.0
    a_norm = math.sqrt(a_sq)
    factor = cfg.coef * min(b_norm / a_norm, 1.0)
    return b + factor * a, leaders, factor * a_norm / b_norm
