"""ZDT1 (convex), ZDT2 (concave) and ZDT3 (disconnected) (Zitzler, Deb & Thiele 2000).

For x ∈ [0, 1]^n: f1 = x1, g = 1 + 9/(n-1) Σ_{i≥2} x_i, f2 = g·h(f1, g) with
h = 1 - sqrt(f1/g) (ZDT1), 1 - (f1/g)² (ZDT2), 1 - sqrt(f1/g) - (f1/g) sin(10π f1) (ZDT3).
The Pareto set is x_2 = ... = x_n = 0 (g = 1), so the front is f2 = h(f1, 1); for ZDT3 only its
non-dominated parts (five disconnected pieces).

sqrt(f1/g) has an infinite slope at f1 = 0, where the box puts x1 = 0; :func:`safe_sqrt` keeps the
exact value and caps the slope at 1/(2 sqrt(1e-12)) so that gradients stay finite.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from moo_lenient.problems.base import Problem, box, non_dominated

SQRT_FLOOR = 1e-12


def safe_sqrt(x: Tensor) -> Tensor:
    """sqrt(x) with the exact value and the gradient of sqrt(max(x, 1e-12)) (finite at 0)."""
    capped = torch.sqrt(torch.clamp(x, min=SQRT_FLOOR))
    return capped + (torch.sqrt(x) - capped).detach()


class _ZDT(Problem):
    num_objectives = 2

    def __init__(self, num_variables: int = 30) -> None:
        if num_variables < 2:
            raise ValueError(f"{self.name} needs at least 2 variables, got {num_variables}")
        self.num_variables = num_variables
        self.lower, self.upper = box(num_variables, 0.0, 1.0)

    def _h(self, ratio: Tensor, f1: Tensor) -> Tensor:
        raise NotImplementedError

    def __call__(self, x: Tensor) -> Tensor:
        self._check(x)
        f1 = x[..., 0]
        g = 1 + 9 * x[..., 1:].sum(-1) / (self.num_variables - 1)
        return torch.stack([f1, g * self._h(f1 / g, f1)], dim=-1)

    def pareto_front(self, n: int = 1000) -> np.ndarray:
        f1 = torch.linspace(0, 1, n, dtype=torch.float64)
        return torch.stack([f1, self._h(f1, f1)], -1).numpy()


class ZDT1(_ZDT):
    name = "zdt1"

    def _h(self, ratio: Tensor, f1: Tensor) -> Tensor:
        return 1 - safe_sqrt(ratio)


class ZDT2(_ZDT):
    name = "zdt2"

    def _h(self, ratio: Tensor, f1: Tensor) -> Tensor:
        return 1 - ratio**2


class ZDT3(_ZDT):
    name = "zdt3"

    def _h(self, ratio: Tensor, f1: Tensor) -> Tensor:
        return 1 - safe_sqrt(ratio) - ratio * torch.sin(10 * math.pi * f1)

    def pareto_front(self, n: int = 1000) -> np.ndarray:
        # The curve g = 1 sampled densely, then its non-dominated parts, thinned to about n.
        dense = super().pareto_front(max(20 * n, 20_000))
        front = non_dominated(dense)
        step = max(1, len(front) // n)
        return front[::step]
