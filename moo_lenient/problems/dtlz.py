"""DTLZ2 (Deb, Thiele, Laumanns & Zitzler 2002): a concave, spherical front in m objectives.

For x ∈ [0, 1]^n with n = m + k - 1: g = Σ_{i ≥ m} (x_i - 1/2)²,
f_1 = (1+g) Π_{j<m-1} cos(x_j π/2), f_i = (1+g) Π_{j<m-i} cos(x_j π/2) · sin(x_{m-i} π/2).
The front is the positive part of the unit sphere, Σ f_i² = 1 (g = 0).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from moo_lenient.problems.base import Problem, box, lattice_divisions, simplex_lattice


class DTLZ2(Problem):
    def __init__(self, num_objectives: int = 3, k: int = 10) -> None:
        if num_objectives < 2 or k < 1:
            raise ValueError(
                f"DTLZ2 needs m >= 2 objectives and k >= 1, got m={num_objectives}, k={k}"
            )
        self.num_objectives = num_objectives
        self.num_variables = num_objectives + k - 1
        self.name = f"dtlz2-{num_objectives}"
        self.lower, self.upper = box(self.num_variables, 0.0, 1.0)

    def __call__(self, x: Tensor) -> Tensor:
        self._check(x)
        m = self.num_objectives
        g = ((x[..., m - 1 :] - 0.5) ** 2).sum(-1)
        angles = x[..., : m - 1] * (math.pi / 2)
        cos, sin = torch.cos(angles), torch.sin(angles)
        out = []
        for i in range(m):  # objective i + 1
            term = torch.prod(cos[..., : m - 1 - i], dim=-1)
            if i > 0:
                term = term * sin[..., m - 1 - i]
            out.append((1 + g) * term)
        return torch.stack(out, dim=-1)

    def pareto_front(self, n: int = 1000) -> np.ndarray:
        m = self.num_objectives
        divisions = lattice_divisions(m, n)
        points = simplex_lattice(m, divisions)
        return points / np.linalg.norm(points, axis=1, keepdims=True)
