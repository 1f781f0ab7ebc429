"""FAMO: Fast Adaptive Multitask Optimization, loss-level weights learned from loss decreases."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from moo_lenient._validation import (
    check_finite_vector,
    check_in_choices,
    check_positive,
    require_values,
)
from moo_lenient.methods.base import Method

_ADAM_BETAS = (0.9, 0.999)
_ADAM_EPS = 1e-8


class FAMO(Method):
    r"""Fast Adaptive Multitask Optimization: decrease every log-loss at the same rate, in O(K).

    FAMO keeps logits :math:`\xi \in \mathbb R^K` (state, :math:`\xi_0 = 0`) and task weights
    :math:`z = \mathrm{softmax}(\xi)`. With the shifted values
    :math:`D_k = f_k - f^{\min}_k + \epsilon > 0` (see *Values* below) the update direction is
    the normalized gradient of :math:`\sum_k z_k \log D_k`,

    .. math::

        d = c \sum_k \frac{z_k}{D_k}\, g_k, \qquad c = \Bigl(\sum_k \frac{z_k}{D_k}\Bigr)^{-1},

    so the weights :math:`w_k = c\, z_k / D_k` are positive and sum to 1 (for equal :math:`z`
    they are proportional to :math:`1/D_k`: each objective counts by its relative decrease). The
    Jacobian is not used (only the values): the method is O(K) per step.

    After the step, the log-loss decreases
    :math:`\delta_k = \log D_k(\theta_t) - \log D_k(\theta_{t+1})` update the logits by the
    gradient of :math:`z(\xi)^\top \delta` with weight decay γ (the paper's Algorithm 1),

    .. math::

        \nabla_t = \Bigl(\frac{\partial z}{\partial \xi}\Bigr)^{\!\top} \delta + \gamma \xi_t,
        \qquad \Bigl[\Bigl(\frac{\partial z}{\partial \xi}\Bigr)^{\!\top} \delta\Bigr]_k
        = z_k \Bigl(\delta_k - \sum_j z_j \delta_j\Bigr),

    and a step of size β: ``optimizer="sgd"`` is Algorithm 1's rule
    :math:`\xi_{t+1} = \xi_t - \beta \nabla_t`; ``optimizer="adam"`` (default) feeds
    :math:`\nabla_t` to Adam with learning rate β (betas (0.9, 0.999), eps 1e-8, no AMSGrad),
    i.e. ``torch.optim.Adam(lr=β, weight_decay=γ)``, the practical version (the paper's
    Algorithm 2, the authors' code, LibMTL and TorchJD's ``scalarization.FAMO``). The defaults
    β = 0.025 and γ = 1e-3 are those of Algorithm 2, LibMTL and TorchJD (the authors' example
    script uses γ = 0.01); they are meant for Adam: a plain step of β = 0.025 on log-loss
    decreases of order 1e-3 would barely move ξ. An objective that decreases less than the
    z-weighted average (:math:`\delta_k < \sum_j z_j \delta_j`) has a negative gradient
    component and gains weight.

    With the default Adam, the weights and logits equal those of TorchJD 0.18's
    ``torchjd.scalarization.FAMO`` (same β, γ, ε and ``min_losses``) when :meth:`observe` is
    called after every step (tested to 1e-12). Deliberate difference: without :meth:`observe`,
    TorchJD's logits never move, ours are updated from the next call's values (below).

    **Post-step values.** FAMO needs :math:`f(\theta_{t+1})`. They come from :meth:`observe`
    (``MultiObjectiveOptimizer.observe``), called after the step with the values measured
    after it (the authors re-evaluate the same batch). If the next call comes without an
    observation, its values serve as the post-step values of the previous step (the common
    practical variant, with no extra forward pass: δ then mixes the step's effect with the
    change of batch); the logits are updated first, then the weights computed. Calling
    :meth:`observe` when no step awaits its values raises ``RuntimeError``.

    **Values.** Required on every call. FAMO works with :math:`\log D_k`, so
    :math:`D_k = f_k - f^{\min}_k + \epsilon` must be positive: values must be at least
    ``min_losses`` (default 0; give a known lower bound of each loss if it is not 0), and the
    offset ε (default 1e-8, the authors' value) keeps :math:`\log D_k` finite for a loss at its
    lower bound. Values below ``min_losses`` raise ``ValueError`` before anything changes.

    **Preference.** Ignored (validated, not used): FAMO's target is an equal rate of decrease
    of every log-loss, and the paper has no preference. Not ``preference_aware``: given a
    non-uniform preference, :class:`~moo_lenient.MultiObjectiveOptimizer` warns once
    (:class:`~moo_lenient.PreferenceIgnoredWarning`).

    **Inactive objectives** (``aggregate_active``): they get weight 0 and the others share the
    weights :math:`c\, z_k / D_k` (c over the active ones); the logit update of that step
    uses the active objectives only (softmax over them), the others' logits only decay.

    Reference: B. Liu, Y. Feng, P. Stone, Q. Liu, "FAMO: Fast Adaptive Multitask
    Optimization", NeurIPS 2023.

    Args:
        beta: step size β > 0 of the logits (default 0.025).
        gamma: weight decay γ ≥ 0 of the logits (default 1e-3).
        optimizer: "adam" (default, Algorithm 2) or "sgd" (Algorithm 1).
        min_losses: K lower bounds of the values (default 0).
        eps: offset ε ≥ 0 added to ``f - min_losses`` (default 1e-8).

    Diagnostics: ``task_weights`` z and ``logits`` ξ used for the weights ((K,) float64
    tensors), ``c`` (float), ``updated`` (whether this call first updated the logits from the
    previous step), ``log_loss_decrease`` (the δ of that update, or None).

    State (``state_dict``): ``logits``, Adam's ``exp_avg``/``exp_avg_sq``/``adam_steps``, the
    values of the step that awaits its post-step values (``pending``, or None), its ``active``
    mask, and ``steps`` (number of weight computations).
    """

    name: ClassVar[str] = "famo"
    properties: ClassVar[frozenset[str]] = frozenset(
        {"permutation_equivariant", "linear_under_scaling"}
    )

    def __init__(
        self,
        beta: float = 0.025,
        gamma: float = 1e-3,
        optimizer: str = "adam",
        min_losses: Sequence[float] | None = None,
        eps: float = 1e-8,
    ) -> None:
        self.beta = check_positive(beta, "beta")
        self.gamma = _check_non_negative(gamma, "gamma")
        self.optimizer = check_in_choices(optimizer, "optimizer", ("adam", "sgd"))
        self.min_losses = (
            None if min_losses is None else check_finite_vector(min_losses, "min_losses")
        )
        self.eps = _check_non_negative(eps, "eps")
        self.reset()

    # State ------------------------------------------------------------------------------------
    def reset(self) -> None:
        self._xi: np.ndarray | None = None
        self._exp_avg: np.ndarray | None = None
        self._exp_avg_sq: np.ndarray | None = None
        self._adam_steps = 0
        self._pending: np.ndarray | None = None  # values f(θ_t) of the step awaiting f(θ_{t+1})
        self._pending_active: np.ndarray | None = None
        self._steps = 0

    def state_dict(self) -> dict[str, Any]:
        def tensor(a: np.ndarray | None) -> torch.Tensor | None:
            return None if a is None else torch.from_numpy(a.copy())

        return {
            "logits": tensor(self._xi),
            "exp_avg": tensor(self._exp_avg),
            "exp_avg_sq": tensor(self._exp_avg_sq),
            "adam_steps": self._adam_steps,
            "pending": tensor(self._pending),
            "active": None if self._pending_active is None else self._pending_active.tolist(),
            "steps": self._steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        keys = {"logits", "exp_avg", "exp_avg_sq", "adam_steps", "pending", "active", "steps"}
        missing = keys - set(state)
        if missing:
            raise ValueError(f"FAMO state dict is missing {sorted(missing)}")

        def array(x: Any) -> np.ndarray | None:
            return None if x is None else torch.as_tensor(x, dtype=torch.float64).numpy().copy()

        self._xi = array(state["logits"])
        self._exp_avg, self._exp_avg_sq = array(state["exp_avg"]), array(state["exp_avg_sq"])
        self._adam_steps = int(state["adam_steps"])
        self._pending = array(state["pending"])
        active = state["active"]
        self._pending_active = None if active is None else np.asarray(active, dtype=bool)
        self._steps = int(state["steps"])

    @property
    def logits(self) -> torch.Tensor | None:
        """ξ (a copy), or None before the first call."""
        return None if self._xi is None else torch.from_numpy(self._xi.copy())

    @property
    def task_weights(self) -> torch.Tensor | None:
        """z = softmax(ξ), or None before the first call."""
        return None if self._xi is None else torch.from_numpy(_softmax(self._xi))

    # Steps ------------------------------------------------------------------------------------
    def observe(self, values: np.ndarray) -> None:
        """Update the logits from the values measured after the last step.

        Raises ``ValueError`` (bad values) or ``RuntimeError`` (no step awaits its values)
        before anything changes.
        """
        if self._pending is None:
            raise RuntimeError(
                "FAMO.observe(): no step awaits its post-step values (observe() was already "
                "called for the last step, or no step was taken)"
            )
        shifted = self._shifted(np.asarray(values, dtype=np.float64), "values")
        self._update(shifted)

    def _solve(
        self, gramian: np.ndarray, preference: np.ndarray, losses: np.ndarray | None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        return self._weights(gramian.shape[0], losses, None)

    def solve_active(
        self,
        gramian: np.ndarray,
        preference: np.ndarray,
        losses: np.ndarray | None,
        active: np.ndarray,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Inactive objectives get weight 0; the state stays K-sized (see the class doc)."""
        active = np.asarray(active, dtype=bool)
        if active.all():
            return self._solve(gramian, preference, losses)
        weights, diagnostics = self._weights(gramian.shape[0], losses, active)
        return weights, {**diagnostics, "active": active.copy()}

    def _weights(
        self, k: int, losses: np.ndarray | None, active: np.ndarray | None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        losses = require_values(losses, "FAMO weights the objectives by their values")
        if self._xi is not None and self._xi.size != k:
            raise ValueError(f"FAMO state is for {self._xi.size} objectives, got {k}")
        shifted = self._shifted(np.asarray(losses, dtype=np.float64), "losses")
        delta = None
        if self._pending is not None:  # no observe(): these values are the post-step ones
            delta = self._update(shifted)
        if self._xi is None:
            self._xi = np.zeros(k)
        z = _softmax(self._xi)
        mask = np.ones(k, dtype=bool) if active is None else active
        inv = np.where(mask, z / shifted, 0.0)
        total = float(inv.sum())
        c = 1.0 / total if total > 0.0 else 0.0
        weights = c * inv
        self._pending = shifted.copy()
        self._pending_active = None if active is None else active.copy()
        self._steps += 1
        return weights, {
            "task_weights": torch.from_numpy(z),
            "logits": torch.from_numpy(self._xi.copy()),
            "c": c,
            "updated": delta is not None,
            "log_loss_decrease": None if delta is None else torch.from_numpy(delta),
        }

    def _shifted(self, values: np.ndarray, what: str) -> np.ndarray:
        """D = f - min_losses + eps, checked positive (raises before any change)."""
        k = values.size
        if self._xi is not None and k != self._xi.size:
            raise ValueError(
                f"FAMO {what} has {k} entries but there are {self._xi.size} objectives"
            )
        if self._pending is not None and k != self._pending.size:
            raise ValueError(
                f"FAMO {what} has {k} entries but there are {self._pending.size} objectives"
            )
        if not np.all(np.isfinite(values)):
            raise ValueError(f"FAMO {what} must be finite, got {values.tolist()}")
        low = np.zeros(k) if self.min_losses is None else self.min_losses
        if low.size != k:
            raise ValueError(f"FAMO min_losses has {low.size} entries but there are {k} objectives")
        excess = values - low
        shifted = excess + self.eps
        bad = [int(i) for i in np.flatnonzero(~((excess >= 0) & (shifted > 0)))]
        if bad:
            floor = "min_losses" if self.min_losses is not None else "0"
            strict = "" if self.eps > 0 else " (strictly, with eps=0)"
            raise ValueError(
                f"FAMO works with log(f - min_losses + eps): the {what} of objective(s) {bad} "
                f"must be at least {floor}{strict}, got {values.tolist()}"
            )
        return shifted

    def _update(self, shifted_after: np.ndarray) -> np.ndarray:
        """One logit step from the pending step's values and the post-step ones; returns δ."""
        assert self._pending is not None
        delta = np.log(self._pending) - np.log(shifted_after)
        xi = np.zeros(delta.size) if self._xi is None else self._xi
        mask = self._pending_active
        if mask is None:
            mask = np.ones(delta.size, dtype=bool)
        z = np.zeros(delta.size)
        if mask.any():
            z[mask] = _softmax(xi[mask])
        grad = z * (delta - float(z @ delta)) + self.gamma * xi
        if self.optimizer == "sgd":
            new_xi = xi - self.beta * grad
        else:
            b1, b2 = _ADAM_BETAS
            m = np.zeros_like(xi) if self._exp_avg is None else self._exp_avg
            v = np.zeros_like(xi) if self._exp_avg_sq is None else self._exp_avg_sq
            t = self._adam_steps + 1
            m = b1 * m + (1.0 - b1) * grad
            v = b2 * v + (1.0 - b2) * grad * grad
            denom = np.sqrt(v) / math.sqrt(1.0 - b2**t) + _ADAM_EPS
            new_xi = xi - (self.beta / (1.0 - b1**t)) * m / denom
            self._exp_avg, self._exp_avg_sq, self._adam_steps = m, v, t
        self._xi = new_xi
        self._pending = None
        self._pending_active = None
        return delta

    def __repr__(self) -> str:
        args = []
        if self.beta != 0.025:
            args.append(f"beta={self.beta!r}")
        if self.gamma != 1e-3:
            args.append(f"gamma={self.gamma!r}")
        if self.optimizer != "adam":
            args.append(f"optimizer={self.optimizer!r}")
        if self.min_losses is not None:
            args.append(f"min_losses={self.min_losses.tolist()!r}")
        if self.eps != 1e-8:
            args.append(f"eps={self.eps!r}")
        return f"FAMO({', '.join(args)})"


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def _check_non_negative(x: float, name: str) -> float:
    x = float(x)
    if not (math.isfinite(x) and x >= 0):
        raise ValueError(f"{name} must be a non-negative finite number, got {x}")
    return x
