"""PLC's opt-in coalition excursions (``PLC(excursion=...)``), as specified in PLC_SPEC.md.

Off by default: the spec measured large barrier-crossing gains on ridge problems but losses on
5-objective DTLZ2 and an exact-gradient policy toy, and no local test yet tells a barrier worth
crossing from a real trade-off.

The rule, per step t (with prices π_k = w_k e_k / Σ_j e_j and voice Gramian Ĝ):

- Leader j = argmax_k π_k among the players. The coalition S (every other player) renegotiates
  its prices without the leader, π^S_k = w_k e_k / Σ_{i∈S} w_i e_i, and proposes
  q = Σ_{k∈S} π^S_k ĝ_k. Stances along q: δ = Ĝ π^S; coalition gain Γ_S = Σ_{k∈S} w_k δ_k,
  minority loss L = w_j max(-δ_j, 0).
- A streak counts consecutive steps with Γ_S > L and Γ_S > 0. F_k is an EMA(0.9) of f̃_k
  (started at the first f̃) and λ'_t = max(0, 1 - t/(τH)).
- When the streak reaches ``streak`` and λ'_t > 0, an excursion starts (j, F_j(start) and
  C(start) = Σ_{k∈S} w_k F_k are recorded) and the step is q, with j fixed while it lasts.
- It ends at the first of: unpaid degradation
  D = w_j (F_j - F_j(start)) - max(0, C(start) - Σ_{k∈S} w_k F_k) > b0 λ'_t; Γ_S ≤ 0;
  ``max_len`` excursion steps; D ≤ 0 with δ_j ≥ 0. The step that ends it follows the base rule,
  and the streak restarts from 0.
- No excursion starts for t ≥ τH, so every run ends at the base rule's rest point; b0 = 0 or
  τ = 0 disables the rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

_F_DECAY = 0.9


@dataclass(frozen=True)
class ExcursionConfig:
    b0: float = 0.25
    streak: int = 20
    max_len: int = 300
    tau: float = 0.5

    @staticmethod
    def from_dict(options: dict[str, Any]) -> ExcursionConfig:
        unknown = set(options) - {"b0", "streak", "max_len", "tau"}
        if unknown:
            raise ValueError(
                f"unknown excursion options {sorted(unknown)}; allowed: b0, streak, max_len, tau"
            )
        cfg = ExcursionConfig(**options)
        if not (math.isfinite(cfg.b0) and cfg.b0 >= 0):
            raise ValueError(f"excursion b0 must be a non-negative number, got {cfg.b0}")
        if not (math.isfinite(cfg.tau) and 0 <= cfg.tau <= 1):
            raise ValueError(f"excursion tau must lie in [0, 1], got {cfg.tau}")
        if int(cfg.streak) != cfg.streak or cfg.streak < 1:
            raise ValueError(f"excursion streak must be a positive integer, got {cfg.streak}")
        if int(cfg.max_len) != cfg.max_len or cfg.max_len < 1:
            raise ValueError(f"excursion max_len must be a positive integer, got {cfg.max_len}")
        return cfg

    @property
    def enabled(self) -> bool:
        return self.b0 > 0 and self.tau > 0


@dataclass
class ExcursionState:
    streak: int = 0
    active: bool = False
    leader: int = -1
    length: int = 0
    leader_start: float = 0.0  # F_j(start)
    coalition_start: float = 0.0  # C(start)
    ema: np.ndarray | None = field(default=None)  # F

    def to_dict(self) -> dict[str, Any]:
        return {
            "streak": self.streak,
            "active": self.active,
            "leader": self.leader,
            "length": self.length,
            "leader_start": self.leader_start,
            "coalition_start": self.coalition_start,
            "ema": None if self.ema is None else torch.from_numpy(self.ema.copy()),
        }

    @staticmethod
    def from_dict(state: dict[str, Any]) -> ExcursionState:
        ema = state["ema"]
        return ExcursionState(
            streak=int(state["streak"]),
            active=bool(state["active"]),
            leader=int(state["leader"]),
            length=int(state["length"]),
            leader_start=float(state["leader_start"]),
            coalition_start=float(state["coalition_start"]),
            ema=None if ema is None else torch.as_tensor(ema, dtype=torch.float64).numpy().copy(),
        )


def excursion_step(
    cfg: ExcursionConfig,
    state: ExcursionState,
    *,
    t: int,
    horizon: int,
    w: np.ndarray,
    e: np.ndarray,
    prices: np.ndarray,
    g_hat: np.ndarray,
    players: np.ndarray,
    f_tilde: np.ndarray,
) -> tuple[ExcursionState, np.ndarray | None, dict[str, Any]]:
    """Advance the excursion state by one step (returns a new state; the input is unchanged).

    Returns the new state, the coalition's weights π^S (in voice units) when this step is an
    excursion step (None for a base-rule step), and diagnostics.
    """
    ema = f_tilde.copy() if state.ema is None else _F_DECAY * state.ema + (1 - _F_DECAY) * f_tilde
    new = ExcursionState(
        state.streak,
        state.active,
        state.leader,
        state.length,
        state.leader_start,
        state.coalition_start,
        ema,
    )
    lam = max(0.0, 1.0 - t / (cfg.tau * horizon)) if cfg.tau > 0 else 0.0
    diag: dict[str, Any] = {
        "excursion": False,
        "excursion_leader": None,
        "excursion_streak": 0,
        "unpaid_degradation": None,
    }
    leader = new.leader if new.active else int(np.argmax(np.where(players, prices, -np.inf)))
    coalition = players.copy()
    if not players.any() or not players[leader]:
        coalition[:] = False
    else:
        coalition[leader] = False
    if not coalition.any():  # fewer than two players: nothing to negotiate
        new.active, new.streak, new.length = False, 0, 0
        return new, None, diag

    weights = np.where(coalition, w * e, 0.0)
    pi_s = weights / weights.sum()
    delta = g_hat @ pi_s
    gain = float(np.sum(w[coalition] * delta[coalition]))
    minority_loss = float(w[leader] * max(-delta[leader], 0.0))
    c_now = float(np.sum(w[coalition] * ema[coalition]))

    if new.active:
        unpaid = w[leader] * (ema[leader] - new.leader_start) - max(
            0.0, new.coalition_start - c_now
        )
        diag["unpaid_degradation"] = float(unpaid)
        if (
            unpaid > cfg.b0 * lam
            or gain <= 0
            or new.length >= cfg.max_len
            or (unpaid <= 0 and delta[leader] >= 0)
        ):
            new.active, new.streak, new.length, new.leader = False, 0, 0, -1
            return new, None, diag
        new.length += 1
    else:
        new.streak = new.streak + 1 if (gain > minority_loss and gain > 0) else 0
        if not (new.streak >= cfg.streak and lam > 0):
            diag["excursion_streak"] = new.streak
            return new, None, diag
        new.active, new.leader, new.length = True, leader, 1
        new.leader_start, new.coalition_start = float(ema[leader]), c_now
        diag["unpaid_degradation"] = 0.0
    diag.update(excursion=True, excursion_leader=leader, excursion_streak=new.streak)
    return new, pi_s, diag
