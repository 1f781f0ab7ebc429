"""Smooth Tchebycheff scalarization (STCH): the gradient of a log-sum-exp of the values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from moo_lenient._validation import (
    check_in_choices,
    check_positive,
    check_reference,
    require_values,
)
from moo_lenient.methods.base import Method

TEMPERATURES = ("absolute", "relative")
_RELATIVE_FLOOR = 1e-3  # relative temperature: mu * max(M, this), as PLC's


class SmoothTchebycheff(Method):
    r"""Smooth Tchebycheff scalarization: minimize a smoothed :math:`\max_k w_k \tilde f_k`.

    With the normalized values :math:`\tilde f_k = (f_k - z_k) / r_k` (ideal z, range
    r = nadir - ideal > 0),

    .. math::

        S_\mu(f) = \mu \log \sum_k \exp(w_k \tilde f_k / \mu), \qquad
        \nabla S_\mu = \sum_k \pi_k \nabla \tilde f_k = \sum_k \frac{\pi_k}{r_k} g_k,

    with :math:`\pi_k = w_k e_k / \sum_j e_j` and
    :math:`e_k = \exp(w_k \tilde f_k/\mu - \max_j w_j \tilde f_j/\mu)` (shifted by the maximum,
    so no exponential overflows). ``temperature="relative"`` replaces μ by
    :math:`\hat\mu = \mu \max(M, 10^{-3})` with :math:`M = \max_k w_k \tilde f_k`: the
    smoothing bias becomes a fixed fraction of the current Tchebycheff value (PLC spec v4,
    step 1); the default ``"absolute"`` is the paper's fixed μ. μ̂ depends on the values but is
    not differentiated: the weights are the prices at μ̂, a direction rather than the gradient
    of one fixed function. The weights are :math:`\alpha_k = \pi_k / r_k`. As
    :math:`\mu \to 0`, :math:`S_\mu` tends to the weighted Tchebycheff function
    :math:`\max_k w_k \tilde f_k` and the prices concentrate on its argmax; a large μ gives
    prices close to w. Objectives with :math:`w_k = 0` get weight 0. The prices do not sum
    to 1.

    Reference: X. Lin, X. Zhang, Z. Yang, F. Liu, Z. Wang, Q. Zhang, "Smooth Tchebycheff
    Scalarization for Multi-Objective Optimization", ICML 2024.

    The weights depend on the objective values, the preference and the reference, never on the
    gradients: at fixed values d is linear in J. The method needs the values (``losses``) on
    every call. Without ``ideal``/``nadir``, z = 0 and r = 1: the raw losses are compared, which
    is only meaningful for non-negative losses of comparable scale; give a reference (for
    example the ideal and nadir of the front, or a lower bound and a typical initial value)
    whenever the scales differ.

    PLC with range voices, :math:`\kappa_0 \le 1`, the constant schedule,
    ``mu_start=None`` and ``free_descent=None`` gives exactly these weights at the same
    ``temperature`` rule (``PLC_SPEC.md``, special cases). PLC's default with a reference and a
    horizon adds free descent after its warm-up, so it equals STCH only before then.

    Args:
        mu: temperature μ > 0 (default 0.02, as PLC's final temperature).
        ideal, nadir: the reference point, given together (r = nadir - ideal > 0 in every
            objective) or not at all (z = 0, r = 1).
        temperature: "absolute" (default: μ as given) or "relative" (μ · max(M, 1e-3)).

    Diagnostics: ``prices`` π, ``normalized_losses`` f̃ (float64 tensors) and
    ``temperature`` (the μ or μ̂ used).
    """

    name: ClassVar[str] = "stch"
    properties: ClassVar[frozenset[str]] = frozenset(
        {"permutation_equivariant", "linear_under_scaling", "preference_aware"}
    )

    def __init__(
        self,
        mu: float = 0.02,
        ideal: Sequence[float] | None = None,
        nadir: Sequence[float] | None = None,
        temperature: str = "absolute",
    ) -> None:
        self.mu = check_positive(mu, "mu")
        self.ideal, self.nadir = check_reference(ideal, nadir)
        self.temperature = check_in_choices(temperature, "temperature", TEMPERATURES)

    def _solve(
        self, gramian: np.ndarray, preference: np.ndarray, losses: np.ndarray | None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        k = gramian.shape[0]
        losses = require_values(losses, "smooth Tchebycheff prices with the objective values")
        if self.ideal is None:
            z, r = np.zeros(k), np.ones(k)
        else:
            if self.ideal.size != k:
                raise ValueError(
                    f"SmoothTchebycheff ideal/nadir have {self.ideal.size} entries but there "
                    f"are {k} objectives"
                )
            z, r = self.ideal, self.nadir - self.ideal
        w = preference
        with np.errstate(over="ignore", invalid="ignore"):
            f_tilde = (losses - z) / r
            weighted = w * f_tilde
            mu = self.mu
            if self.temperature == "relative" and np.all(np.isfinite(weighted)):
                mu = self.mu * max(float(weighted.max()), _RELATIVE_FLOOR)
            a = weighted / mu
        if not np.all(np.isfinite(a)):
            bad = [int(i) for i in np.flatnonzero(~np.isfinite(a))]
            raise ValueError(
                f"normalized losses of objective(s) {bad} overflow at mu={mu}: "
                f"f~ = {f_tilde.tolist()}; give a reference (ideal/nadir) that fits the losses"
            )
        e = np.exp(a - a.max())
        prices = w * e / e.sum()
        weights = prices / r
        return weights, {
            "prices": torch.from_numpy(prices),
            "normalized_losses": torch.from_numpy(f_tilde),
            "temperature": mu,
        }

    def __repr__(self) -> str:
        args = [] if self.mu == 0.02 else [f"mu={self.mu!r}"]
        if self.ideal is not None:
            args += [f"ideal={self.ideal.tolist()!r}", f"nadir={self.nadir.tolist()!r}"]
        if self.temperature != "absolute":
            args.append(f"temperature={self.temperature!r}")
        return f"SmoothTchebycheff({', '.join(args)})"
