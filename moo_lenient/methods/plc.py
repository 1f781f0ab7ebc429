"""Pareto-Lenient Consensus (PLC): our formalization of the 2026 paper's method."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from moo_lenient._qp import nnqp, unit_scale
from moo_lenient._validation import (
    check_finite_vector,
    check_in_choices,
    check_positive,
    check_reference,
)
from moo_lenient.methods._plc_excursion import ExcursionConfig, ExcursionState, excursion_step
from moo_lenient.methods._plc_free_descent import FreeDescentConfig, free_descent
from moo_lenient.methods._plc_mask import lenient_mask
from moo_lenient.methods.base import Method, as_index_tuple

VOICES = ("auto", "range", "ema_l2", "l2")
PROPOSALS = ("tcheb", "linear")
SCHEDULES = ("linear", "cosine", "exponential", "constant")
RESCALES = ("none", "harmonic")
TEMPERATURES = ("auto", "relative", "absolute")

_EMA_DECAY = 0.99  # voices="ema_l2": EMA of G_kk
_RANGE_FLOOR = 1e-12  # r_k at or below this: f~_k = 1
_DISSENT_COS = 1e-10  # stance counts as dissent when cos(g^_k, p) < -this (rounding guard)
_RELATIVE_FLOOR = 1e-3  # relative temperature: mu_t * max(M_t, this)

#: Where spec v4's rules (relative temperature, free descent) are the defaults of
#: ``temperature="auto"`` and ``free_descent="auto"``, per path: (a reference given, a horizon
#: known) -> the free-descent options of v4's rules, or None for v3's rules (absolute, off).
#: The spec's v4-ready path is (True, True); the others were measured by the benchmark's path
#: study (docs/plc.md) and switched where v4's rules won there.
V4_PATHS: dict[tuple[bool, bool], dict[str, float] | None] = {
    (True, True): {"start": 0.2, "tie": 3.0, "coef": 1.0},
    # No reference, a horizon: measured on seeds 100-101, decided on 200-202 (docs/plc.md).
    (False, True): {"start": 0.0, "tie": 3.0, "coef": 2.0},
    # No horizon: the warm-up cannot be placed, free descent from step 0 (the path study).
    (True, False): {"start": 0.0, "tie": 3.0, "coef": 1.0},
    (False, False): {"start": 0.0, "tie": 3.0, "coef": 1.0},
}


class PLC(Method):
    r"""Pareto-Lenient Consensus.

    **This is our formalization.** The paper (Beyond Compromise: Pareto-Lenient Consensus for
    Efficient Multi-Preference LLM Alignment, ACL Findings 2026) does not publish its
    equations; this class implements the project's specification (``PLC_SPEC.md``, rendered in
    ``docs/plc.md``), whose defaults were chosen by measurement.

    One step, from the Gramian G, values f, preference w, step t and horizon H:

    1. *Prices.* :math:`\tilde f_k = (f_k - z_k)/r_k` (ideal z, range r: given, or forecast),
       :math:`e_k = \exp(w_k\tilde f_k/\mu_t - \max_j w_j\tilde f_j/\mu_t)`,
       :math:`\pi_k = w_k e_k / \sum_j e_j`: the smooth-Tchebycheff weights at temperature
       :math:`\hat\mu_t`. ``temperature="relative"`` (v4):
       :math:`\hat\mu_t = \mu_t \max(M_t, 10^{-3})` with :math:`M_t = \max_j w_j\tilde f_j`,
       a bias that is a fixed fraction of the current weighted Tchebycheff value;
       ``"absolute"`` (v3): :math:`\hat\mu_t = \mu_t` (annealed
       :math:`\mu_t = \mu_{start}^{1-x}\mu^x`, x = min(t/H, 1), if ``mu_start`` is set).
    2. *Voices.* :math:`\hat g_k = g_k / s_k` with :math:`s_k = r_k` ("range"),
       :math:`\|g_k\|` ("l2") or the square root of a bias-corrected EMA(0.99) of
       :math:`G_{kk}` ("ema_l2"); :math:`\hat G = \mathrm{diag}(1/s) G \mathrm{diag}(1/s)`.
       Objectives with :math:`s_k = 0`, :math:`g_k = 0` or :math:`w_k = 0` get a zero voice.
    3. *Proposal.* :math:`p = \sum_k \pi_k \hat g_k` (``proposal="linear"``: π = w).
    4. *Stances.* :math:`\delta = \hat G \pi`; coalition C = {δ_k ≥ 0}, dissenters D = {δ_k < 0}.
    5. *Surplus.* :math:`\Gamma = \sum_{C} \pi_k\delta_k`, dissenter losses
       :math:`\ell_j = \pi_j|\delta_j|`; dissenters are walked in groups of equal ℓ, smallest
       first, and tolerated while :math:`\Gamma \ge \kappa_t \cdot` (ℓ tolerated so far + ℓ of
       the group); the first group that fails and all later ones are rectified (R).
    6. *Rectification.* :math:`b = \pi + m`, m ≥ 0 on R, the projection of p onto
       :math:`\{v: \langle \hat g_j, v\rangle \ge 0, j \in R\}`: the non-negative QP
       :math:`\min_m \tfrac12 m^\top \hat G_{RR} m + m^\top \delta_R`.
    7. *Stall escape* (ε > 0): if R ≠ ∅ and :math:`\|\sum b_k\hat g_k\| \le \varepsilon\|p\|`,
       take b = π.

       *Free descent* (v4, after a warm-up t ≥ start · H, not during an excursion, K > 1):
       leaders :math:`L = \{k: w_k\tilde f_k \ge M_t - \mathrm{tie}\cdot\hat\mu_t\}`,
       target :math:`u_k = w_k` off L (0 on L), :math:`a = u + m^*` with
       :math:`m^* = \arg\min_{m \ge 0} \tfrac12 m^\top\hat G m + (\hat G u)^\top m` (the
       projection of :math:`\sum u_k\hat g_k` onto the cone where no voiced objective
       increases), and :math:`b \leftarrow b + \mathrm{coef}\cdot
       \min(\|\sum b_k\hat g_k\| / \|\sum a_k\hat g_k\|, 1)\, a`.
    8. *Leniency decay.* :math:`\kappa_t = \kappa_0/\max(\lambda_{min}, \lambda_t, 10^{-12})`
       with λ_t linear 1 - x, cosine (1 + cos πx)/2, exponential 1e-3^x or constant 1.
    9. *Output.* :math:`\alpha_k = b_k/s_k` (``rescale="harmonic"``: divided by
       :math:`\sum_{s_k>0}\pi_k/s_k`), :math:`d = \sum_k \alpha_k g_k`.

    Without a reference (``ideal``/``nadir``), the *forecast ideal* is used:
    :math:`z_k = lo_k - \max(\rho_k, 0)\max(H - t, 0)`, optionally raised to ``lower_bound``,
    :math:`r_k = hi_k - z_k`, with lo/hi the best/worst values seen and ρ an EMA
    (β = 1 - 1/max(1, 0.01 H)) of the per-step decrease. Where :math:`r_k \le 10^{-12}`,
    :math:`\tilde f_k = 1`. Without values (``losses=None``) every :math:`\tilde f_k = 1`.

    *The v4 predicate.* ``temperature="auto"`` and ``free_descent="auto"`` resolve together, per
    path (:data:`V4_PATHS`; fixed at the first step and kept in the state dict): with a reference
    (``ideal``/``nadir``) and a horizon (``horizon`` or the optimizer's ``total_steps``), the
    relative temperature and free descent ``dict(start=0.2, tie=3.0, coef=1.0)`` (the spec's
    v4-ready path); without a reference but with a horizon, the relative temperature and
    ``dict(start=0.0, tie=3.0, coef=2.0)``; without a horizon (with or without a reference), the
    relative temperature and ``dict(start=0.0, tie=3.0, coef=1.0)`` (the benchmark's path study).

    Special cases (tested): range voices, κ_0 ≤ 1, constant schedule, no annealing and
    ``free_descent=None`` give the smooth-Tchebycheff gradient at the same temperature rule;
    additionally ``proposal="linear"`` and r = 1 give linear scalarization; with
    ``free_descent=None`` (or before its warm-up) no conflict gives d ∝ p; κ → ∞ with ε = 0
    gives ⟨g_j, d⟩ ≥ 0 for every player j; free descent never lowers any objective's stance
    and keeps every rest point (p = 0).

    Args:
        voices: "auto" (range with a given reference, else "ema_l2"), "range", "ema_l2", "l2".
        proposal: "tcheb" (smooth-Tchebycheff prices) or "linear" (π = w).
        mu: final price temperature μ (> 0).
        mu_start: initial temperature for annealing, "auto" (1.0 with l2-type voices, None with
            range voices) or None (no annealing).
        ideal, nadir: the reference point, given together (r = nadir - ideal > 0) or not at all.
        lower_bound: per-objective lower bounds for the forecast ideal (only without a
            reference); a value below its bound raises.
        kappa0: leniency threshold κ_0 ≥ 0 (κ_0 ≤ 1 never rectifies).
        schedule: leniency decay "linear", "cosine", "exponential" or "constant".
        horizon: planned number of steps H (the optimizer's ``total_steps`` fills it).
        lambda_min: floor of λ_t in [0, 1].
        stall_eps: stall-escape threshold ε ≥ 0 (0 disables it).
        rescale: "none" or "harmonic".
        excursion: None (default) or a dict of the opt-in coalition-excursion options
            ``b0`` (0.25), ``streak`` (20), ``max_len`` (300), ``tau`` (0.5); needs a horizon.
            Not safe as a default (see ``docs/plc.md``).
        temperature: (keyword-only) "auto", "relative" or "absolute" (step 1).
        free_descent: (keyword-only) "auto", None (off) or a dict with ``start`` (warm-up as a
            fraction of the horizon, in [0, 1); > 0 needs a horizon), ``tie`` (> 0) and
            ``coef`` (> 0); missing keys take 0.2, 3.0 and 1.0.

    Diagnostics (per call): ``weights`` α, ``prices`` π, ``voices`` s, ``stances`` δ,
    ``coalition`` C, ``dissenters`` D, ``tolerated`` T, ``rectified`` R (index tuples),
    ``surplus`` Γ, ``kappa_t``, ``lambda_t``, ``mu_t``, ``temperature`` μ̂_t, ``leaders`` L,
    ``free_descent`` (‖added‖ / ‖Σ b_k ĝ_k‖, 0 when inactive), ``lenient`` (D ≠ ∅ and R = ∅),
    ``escaped`` (the stall escape fired), ``zero_voice`` (objectives without a voice),
    ``ideal``/``range`` in use, ``normalized_values`` f̃ and ``step`` t.
    """

    name: ClassVar[str] = "plc"
    properties: ClassVar[frozenset[str]] = frozenset(
        {"permutation_equivariant", "preference_aware"}
    )

    def __init__(
        self,
        voices: str = "auto",
        proposal: str = "tcheb",
        mu: float = 0.02,
        mu_start: float | str | None = "auto",
        ideal: Sequence[float] | None = None,
        nadir: Sequence[float] | None = None,
        lower_bound: Sequence[float] | None = None,
        kappa0: float = 1.5,
        schedule: str = "linear",
        horizon: int | None = None,
        lambda_min: float = 0.0,
        stall_eps: float = 0.1,
        rescale: str = "none",
        excursion: dict[str, float] | None = None,
        *,
        temperature: str = "auto",
        free_descent: str | dict[str, float] | None = "auto",
    ) -> None:
        self.voices = check_in_choices(voices, "voices", VOICES)
        self.proposal = check_in_choices(proposal, "proposal", PROPOSALS)
        self.schedule = check_in_choices(schedule, "schedule", SCHEDULES)
        self.rescale = check_in_choices(rescale, "rescale", RESCALES)
        self.mu = check_positive(mu, "mu")
        if mu_start is not None and mu_start != "auto":
            mu_start = check_positive(mu_start, "mu_start")
        self.mu_start = mu_start
        self.ideal, self.nadir = check_reference(ideal, nadir)
        if self.ideal is not None and lower_bound is not None:
            raise ValueError(
                "lower_bound is for the forecast ideal; it cannot be combined "
                "with a given ideal/nadir"
            )
        self.lower_bound = (
            None if lower_bound is None else check_finite_vector(lower_bound, "lower_bound")
        )
        self.kappa0 = _non_negative(kappa0, "kappa0")
        if horizon is not None:
            horizon = int(horizon)
            if horizon < 1:
                raise ValueError(f"horizon must be a positive number of steps, got {horizon}")
        self.horizon = horizon
        if not 0.0 <= float(lambda_min) <= 1.0:
            raise ValueError(f"lambda_min must lie in [0, 1], got {lambda_min}")
        self.lambda_min = float(lambda_min)
        self.stall_eps = _non_negative(stall_eps, "stall_eps")
        if excursion is not None and not isinstance(excursion, dict):
            raise TypeError(f"excursion must be None or a dict of options, got {excursion!r}")
        self.excursion = excursion
        self._excursion_cfg = None if excursion is None else ExcursionConfig.from_dict(excursion)
        self.temperature = check_in_choices(temperature, "temperature", TEMPERATURES)
        if free_descent == "auto" or free_descent is None:
            self._free_descent_cfg = None
        else:
            self._free_descent_cfg = FreeDescentConfig.from_dict(free_descent)
            free_descent = dict(free_descent)
        self.free_descent = free_descent
        self._fd_leaders_too = False  # research variant (benchmark only): target w everywhere
        self.reset()

    # Resolved settings ------------------------------------------------------------------------
    @property
    def has_reference(self) -> bool:
        return self.ideal is not None

    @property
    def resolved_voices(self) -> str:
        if self.voices != "auto":
            return self.voices
        return "range" if self.has_reference else "ema_l2"

    @property
    def v4_ready(self) -> bool:
        """Whether v4's rules are this run's defaults: :data:`V4_PATHS` for (a reference given,
        a horizon known); the spec's v4-ready path is both.

        Resolved at the first step (the optimizer may supply the horizon after construction) and
        recorded in the state dict; before that, the current answer."""
        if self._v4_ready is not None:
            return self._v4_ready
        return V4_PATHS[self._path()] is not None

    def _path(self) -> tuple[bool, bool]:
        """(a reference given, a horizon known), the horizon as it was at the first step."""
        known = self._horizon_at_start
        return self.has_reference, self.horizon is not None if known is None else known

    @property
    def resolved_temperature(self) -> str:
        """ "relative" or "absolute": ``temperature="auto"`` is relative when v4-ready."""
        return self._resolve(self.v4_ready)[0]

    @property
    def resolved_free_descent(self) -> FreeDescentConfig | None:
        """The free-descent options in use (None: off); "auto" is on when v4-ready."""
        return self._resolve(self.v4_ready)[1]

    def _resolve(self, v4_ready: bool) -> tuple[str, FreeDescentConfig | None]:
        """Both v4 defaults from the one predicate: they never resolve apart."""
        temperature = self.temperature
        if temperature == "auto":
            temperature = "relative" if v4_ready else "absolute"
        if self.free_descent == "auto":
            if not v4_ready:
                return temperature, None
            options = V4_PATHS[self._path()]
            if options is None:  # v4's rules asked for by a predicate recorded before v4
                options = V4_PATHS[(True, True)]
            return temperature, FreeDescentConfig.from_dict(options)
        return temperature, self._free_descent_cfg

    @property
    def resolved_mu_start(self) -> float | None:
        if self.mu_start == "auto":
            return None if self.resolved_voices == "range" else 1.0
        return self.mu_start

    # State ------------------------------------------------------------------------------------
    def reset(self) -> None:
        self.t = 0
        self._ema_sq: np.ndarray | None = None  # EMA of G_kk (ema_l2 voices)
        self._ema_count = 0
        self._lo: np.ndarray | None = None  # forecast state
        self._hi: np.ndarray | None = None
        self._rho: np.ndarray | None = None
        self._prev: np.ndarray | None = None
        self._excursion_state = ExcursionState()
        self._warned = False
        self._v4_ready: bool | None = None  # the v4 predicate, fixed at the first step
        self._horizon_at_start: bool | None = None  # places free descent's default warm-up

    def solve_active(
        self,
        gramian: np.ndarray,
        preference: np.ndarray,
        losses: np.ndarray | None,
        active: np.ndarray,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Inactive objectives become non-players: their preference is zeroed for this step
        (zero price and voice, α = 0, never dissenters), so PLC's per-objective state (EMAs,
        forecast) stays K-sized and keeps being updated with every value."""
        active = np.asarray(active, dtype=bool)
        w = np.where(active, preference, 0.0)
        if active.all() or not float(w.sum()) > 0.0:
            return super().solve_active(gramian, preference, losses, active)
        weights, diagnostics = self._solve(gramian, w / w.sum(), losses)
        return weights, {**diagnostics, "active": active.copy()}

    def state_dict(self) -> dict[str, Any]:
        def tensor(a: np.ndarray | None) -> torch.Tensor | None:
            return None if a is None else torch.from_numpy(a.copy())

        return {
            "t": self.t,
            "ema_sq": tensor(self._ema_sq),
            "ema_count": self._ema_count,
            "lo": tensor(self._lo),
            "hi": tensor(self._hi),
            "rho": tensor(self._rho),
            "prev": tensor(self._prev),
            "excursion": self._excursion_state.to_dict(),
            "v4_ready": self._v4_ready,
            "horizon_at_start": self._horizon_at_start,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        missing = {"t", "ema_sq", "ema_count", "lo", "hi", "rho", "prev", "excursion"} - set(state)
        if missing:
            raise ValueError(f"PLC state dict is missing {sorted(missing)}")

        def array(x: Any) -> np.ndarray | None:
            return None if x is None else torch.as_tensor(x, dtype=torch.float64).numpy().copy()

        self.t = int(state["t"])
        self._ema_sq = array(state["ema_sq"])
        self._ema_count = int(state["ema_count"])
        self._lo, self._hi = array(state["lo"]), array(state["hi"])
        self._rho, self._prev = array(state["rho"]), array(state["prev"])
        self._excursion_state = ExcursionState.from_dict(state["excursion"])
        # A checkpoint written before v4 has no predicate: a run already under way keeps the v3
        # rules it started with; one not yet started resolves it at its first step.
        ready = state.get("v4_ready")
        self._v4_ready = (False if self.t > 0 else None) if ready is None else bool(ready)
        known = state.get("horizon_at_start")
        self._horizon_at_start = None if known is None else bool(known)

    # Schedules --------------------------------------------------------------------------------
    def _progress(self, t: int) -> float | None:
        return None if self.horizon is None else min(t / self.horizon, 1.0)

    def lambda_at(self, t: int) -> float:
        """λ_t of the leniency schedule (1 without a horizon: the constant schedule)."""
        x = self._progress(t)
        if x is None or self.schedule == "constant":
            return 1.0
        if self.schedule == "linear":
            return 1.0 - x
        if self.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * x))
        return 1e-3**x

    def kappa_at(self, t: int) -> float:
        """κ_t = κ_0 / max(λ_min, λ_t, 1e-12); ∞ once λ has decayed to (below) 1e-12.

        The spec's end phase rectifies every dissenter (t ≥ H with λ_min = 0). κ_0 / 1e-12 is
        finite and would still tolerate a dissenter whose loss π_j|δ_j| is below 1e-12 of
        the surplus (sharp prices can make π_j ~ 1e-17), so the end value is taken as ∞.
        """
        lam = max(self.lambda_min, self.lambda_at(t))
        if lam <= 1e-12:
            return math.inf if self.kappa0 > 0 else 0.0
        return self.kappa0 / lam

    def mu_at(self, t: int) -> float:
        """Price temperature μ_t (annealed from ``mu_start`` when set and a horizon is known)."""
        start, x = self.resolved_mu_start, self._progress(t)
        if start is None or x is None:
            return self.mu
        return start ** (1.0 - x) * self.mu**x

    # Reference --------------------------------------------------------------------------------
    def _check_dims(self, k: int) -> None:
        for name, vec in (
            ("ideal", self.ideal),
            ("nadir", self.nadir),
            ("lower_bound", self.lower_bound),
        ):
            if vec is not None and vec.size != k:
                raise ValueError(f"PLC {name} has {vec.size} entries but there are {k} objectives")
        if self._ema_sq is not None and self._ema_sq.size != k:
            raise ValueError(
                f"PLC state was built for {self._ema_sq.size} objectives but got {k}; call reset()"
            )

    def _reference(self, f: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Update the forecast state with f (if forecasting) and return z, r and the new state."""
        if self.has_reference:
            return self.ideal, self.nadir - self.ideal, {}
        if self.lower_bound is not None:
            below = np.flatnonzero(f < self.lower_bound)
            if below.size:
                k = int(below[0])
                raise ValueError(
                    f"objective {k} has value {f[k]:.6g}, below its declared lower bound "
                    f"{self.lower_bound[k]:.6g}"
                )
        t = self.t
        horizon = self.horizon if self.horizon is not None else 2 * t  # H - t := t
        if self._lo is None:
            lo, hi, rho = f.copy(), f.copy(), np.zeros_like(f)
        else:
            beta = 1.0 - 1.0 / max(1.0, 0.01 * horizon)
            lo, hi = np.minimum(self._lo, f), np.maximum(self._hi, f)
            rho = beta * self._rho + (1.0 - beta) * (self._prev - f)
        z = lo - np.maximum(rho, 0.0) * max(horizon - t, 0)
        if self.lower_bound is not None:
            z = np.maximum(z, self.lower_bound)
        return z, hi - z, {"lo": lo, "hi": hi, "rho": rho, "prev": f.copy()}

    # The step ---------------------------------------------------------------------------------
    def _solve(
        self, gramian: np.ndarray, preference: np.ndarray, losses: np.ndarray | None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        k = gramian.shape[0]
        self._check_dims(k)
        excursions = self._excursion_cfg is not None and self._excursion_cfg.enabled
        if excursions and self.horizon is None:
            raise ValueError(
                "PLC excursions need a horizon: PLC(horizon=H, excursion=...) or "
                "MultiObjectiveOptimizer(..., total_steps=H)"
            )
        v4_ready = self.v4_ready  # committed below, with the rest of the state
        temperature, fd_cfg = self._resolve(v4_ready)
        if fd_cfg is not None and fd_cfg.start > 0 and self.horizon is None:
            raise ValueError(
                f"PLC free_descent with start={fd_cfg.start} needs a horizon to place its "
                "warm-up: pass PLC(horizon=H) or MultiObjectiveOptimizer(..., total_steps=H), "
                "or free_descent=dict(start=0)"
            )
        self._warn_without_horizon()
        t = self.t
        w = preference

        # Prices (state first updated with the current values, then used).
        new_forecast: dict[str, np.ndarray] = {}
        if losses is None:
            z = r = None
            f_tilde = np.ones(k)
        else:
            z, r, new_forecast = self._reference(losses)
            with np.errstate(divide="ignore", invalid="ignore"):
                f_tilde = np.where(r > _RANGE_FLOOR, (losses - z) / r, 1.0)
        mu_t = self.mu_at(t)
        weighted = w * f_tilde
        top = float(weighted.max())  # M_t, the weighted Tchebycheff value
        mu_hat = mu_t * max(top, _RELATIVE_FLOOR) if temperature == "relative" else mu_t
        if self.proposal == "linear":
            e, prices = np.ones(k), w.copy()
        else:
            a = weighted / mu_hat
            e = np.exp(a - a.max())
            prices = w * e / e.sum()

        # Voices.
        diag = np.clip(np.diag(gramian), 0.0, None)
        ema_sq, ema_count = self._ema_sq, self._ema_count
        kind = self.resolved_voices
        if kind == "range":  # s = r (given, or forecast; without values and reference: 1)
            if self.has_reference:
                scale = self.nadir - self.ideal
            else:
                scale = np.ones(k) if r is None else np.where(r > _RANGE_FLOOR, r, 0.0)
        elif kind == "l2":
            scale = np.sqrt(diag)
        else:
            ema_count += 1
            ema_sq = (
                diag * (1 - _EMA_DECAY)
                if ema_sq is None
                else (_EMA_DECAY * ema_sq + (1 - _EMA_DECAY) * diag)
            )
            scale = np.sqrt(ema_sq / (1.0 - _EMA_DECAY**ema_count))
        voiced = (scale > 0) & (diag > 0) & (w > 0) & np.isfinite(scale)
        inv = np.where(voiced, 1.0 / np.where(voiced, scale, 1.0), 0.0)
        g_hat = gramian * np.outer(inv, inv)
        # Work at unit scale: every quantity below is homogeneous in G^, so the decisions and
        # the weights b are unchanged, and huge or tiny gradients cannot overflow.
        g_hat, unit = unit_scale(g_hat)
        pi = np.where(voiced, prices, 0.0)

        # Stances, coalition and the lenient mask.
        delta = g_hat @ pi
        p_sq = float(pi @ delta)
        norms = np.sqrt(np.clip(np.diag(g_hat), 0.0, None))
        dissent = voiced & (delta < -_DISSENT_COS * norms * math.sqrt(max(p_sq, 0.0)))
        coalition = voiced & ~dissent
        surplus = float(np.sum(pi[coalition] * delta[coalition]))
        loss = pi * np.abs(delta)
        kappa_t, lambda_t = self.kappa_at(t), self.lambda_at(t)
        tolerated, rectified = lenient_mask(dissent, loss, surplus, kappa_t)

        # Rectification and stall escape.
        b = pi.copy()
        escaped = False
        if rectified.any():
            idx = np.flatnonzero(rectified)
            b[idx] += nnqp(g_hat[np.ix_(idx, idx)], -delta[idx])
            if self.stall_eps > 0:
                rect_sq = float(b @ g_hat @ b)
                if math.sqrt(max(rect_sq, 0.0)) <= self.stall_eps * math.sqrt(max(p_sq, 0.0)):
                    b, escaped = pi.copy(), True

        # Opt-in coalition excursion: the coalition without the price leader carries the step.
        excursion_state, excursion_diag = self._excursion_state, {}
        in_excursion = False
        if excursions:
            excursion_state, coalition_b, excursion_diag = excursion_step(
                self._excursion_cfg,
                self._excursion_state,
                t=t,
                horizon=self.horizon,
                w=w,
                e=e,
                prices=pi,
                g_hat=g_hat,
                players=voiced,
                f_tilde=f_tilde,
            )
            if coalition_b is not None:
                b, escaped, in_excursion = coalition_b, False, True

        # Free descent (v4): the non-leaders descend inside the cone where none increases.
        leaders, slack = np.zeros(k, dtype=bool), 0.0
        if (
            fd_cfg is not None
            and fd_cfg.active(t, self.horizon)
            and k > 1
            and voiced.any()
            and not in_excursion
        ):
            b, leaders, slack = free_descent(
                fd_cfg, b, g_hat, weighted, w, voiced, top, mu_hat, self._fd_leaders_too
            )

        alpha = b * inv
        if self.rescale == "harmonic":
            denom = float(np.sum(pi * inv))
            if denom > 0:
                alpha = alpha / denom

        # Commit the state only now: a failed call leaves the method untouched.
        self._ema_sq, self._ema_count = ema_sq, ema_count
        if new_forecast:
            self._lo, self._hi = new_forecast["lo"], new_forecast["hi"]
            self._rho, self._prev = new_forecast["rho"], new_forecast["prev"]
        self._excursion_state = excursion_state
        self._v4_ready = v4_ready
        if self._horizon_at_start is None:
            self._horizon_at_start = self.horizon is not None
        self.t = t + 1

        diagnostics: dict[str, Any] = {
            "step": t,
            "weights": torch.from_numpy(alpha.copy()),
            "prices": torch.from_numpy(pi),
            "voices": torch.from_numpy(np.where(voiced, scale, 0.0)),
            "stances": torch.from_numpy(delta * unit if unit > 0 else delta),
            "coalition": as_index_tuple(coalition),
            "dissenters": as_index_tuple(dissent),
            "tolerated": as_index_tuple(tolerated),
            "rectified": as_index_tuple(rectified),
            "surplus": surplus * unit if unit > 0 else surplus,
            "kappa_t": kappa_t,
            "lambda_t": lambda_t,
            "mu_t": mu_t,
            "temperature": mu_hat,
            "leaders": as_index_tuple(leaders),
            "free_descent": slack,
            "lenient": bool(dissent.any() and not rectified.any()),
            "escaped": escaped,
            "zero_voice": as_index_tuple(~voiced),
            "normalized_values": torch.from_numpy(f_tilde),
            "ideal": None if z is None else torch.from_numpy(np.asarray(z, dtype=np.float64)),
            "range": None if r is None else torch.from_numpy(np.asarray(r, dtype=np.float64)),
            **excursion_diag,
        }
        return alpha, diagnostics

    def _warn_without_horizon(self) -> None:
        if self.horizon is not None or self._warned:
            return
        needs = (
            self.schedule != "constant"
            or self.resolved_mu_start is not None
            or not self.has_reference
        )
        if needs:
            warnings.warn(
                "PLC has no horizon (pass PLC(horizon=H) or MultiObjectiveOptimizer(..., "
                "total_steps=H)): using the constant leniency schedule, no temperature "
                "annealing, and a forecast that assumes the run is half done",
                UserWarning,
                stacklevel=4,
            )
        self._warned = True

    def __repr__(self) -> str:
        args = []
        defaults = PLC.__init__.__defaults__ or ()
        names = PLC.__init__.__code__.co_varnames[1 : 1 + len(defaults)]
        pairs = [*zip(names, defaults, strict=True), *(PLC.__init__.__kwdefaults__ or {}).items()]
        for name, default in pairs:
            value = getattr(self, name)
            if isinstance(value, np.ndarray):
                value = value.tolist()
            if value != default:
                args.append(f"{name}={value!r}")
        return f"PLC({', '.join(args)})"


def _non_negative(x: float, name: str) -> float:
    x = float(x)
    if not (math.isfinite(x) or x == math.inf) or x < 0 or math.isnan(x):
        raise ValueError(f"{name} must be a non-negative number, got {x}")
    return x
