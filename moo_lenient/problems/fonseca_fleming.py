"""Fonseca-Fleming (1995) and its 2-variable instance VLMOP2 (Van Veldhuizen 1999): concave.

f1 = 1 - exp(-Σ_i (x_i - 1/√n)²), f2 = 1 - exp(-Σ_i (x_i + 1/√n)²), x ∈ [-b, b]^n
(Fonseca-Fleming: n = 3, b = 4; VLMOP2: n = 2, b = 2). The Pareto set is the segment
x_1 = ... = x_n = s, s ∈ [-1/√n, 1/√n], so the front is
f1 = 1 - exp(-n (s - 1/√n)²), f2 = 1 - exp(-n (s + 1/√n)²).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from moo_lenient.problems.base import Problem, box


class FonsecaFleming(Problem):
    num_objectives = 2

    def __init__(self, num_variables: int = 3, bound: float = 4.0, name: str = "fonseca-fleming"):
        if num_variables < 1 or bound <= 0:
            raise ValueError(f"need n >= 1 and bound > 0, got n={num_variables}, bound={bound}")
        self.num_variables = num_variables
        self.name = name
        self.lower, self.upper = box(num_variables, -bound, bound)

    def __call__(self, x: Tensor) -> Tensor:
        self._check(x)
        c = 1 / math.sqrt(self.num_variables)
        f1 = 1 - torch.exp(-((x - c) ** 2).sum(-1))
        f2 = 1 - torch.exp(-((x + c) ** 2).sum(-1))
        return torch.stack([f1, f2], dim=-1)

    def pareto_front(self, n: int = 1000) -> np.ndarray:
        c = 1 / math.sqrt(self.num_variables)
        s = np.linspace(-c, c, n)
        k = self.num_variables
        return np.stack([1 - np.exp(-k * (s - c) ** 2), 1 - np.exp(-k * (s + c) ** 2)], axis=1)


def VLMOP2() -> FonsecaFleming:
    """Fonseca-Fleming with 2 variables in [-2, 2]."""
    return FonsecaFleming(num_variables=2, bound=2.0, name="vlmop2")
