"""The ridge-barrier problem: the global front lies behind a ridge in one objective.

Our own construction, after the ridge of the PLC design studies (``research/plc_studies.md``,
study 3), with a compactly supported ridge so that the front is exact. For x ∈ [-2, 2]^n,
n = m (m = 2 or 3 objectives), anchors a_k = (1, v_k) and the ridge

    b(x1) = h (1 - (x1/w)²)³  for |x1| < w,  0 otherwise     (h = 2, w = 0.6; C² smooth),

the objectives are

    f_1(x) = ½ ||x - a_1||² + b(x1),     f_k(x) = ½ ||x - a_k||²  (k ≥ 2).

m = 2: v = (-1, +1) (a_1 = (1, -1), a_2 = (1, 1)); m = 3: v_k are the vertices of the
equilateral triangle with circumradius 1 in the (x2, x3) plane, v_1 = (0, 1).

**True front.** Every anchor has x1 = 1 and b(1) = 0, so moving x1 to 1 lowers every quadratic
and does not raise b: the Pareto set is {x1 = 1, (x2, ..., xn) ∈ conv(v_1..v_m)}, the Pareto set
of the plain quadratics, and the front is {(½||u - v_k||²)_k : u ∈ conv(v)} (m = 2:
f = (½(1 + u)², ½(1 - u)²), u ∈ [-1, 1]). Ideal 0, nadir 2 (m = 2) or 1.5 (m = 3).

**The trap.** Runs start at x1 = -1.5, left of the ridge (the other coordinates uniform in
[-1, 1]). Every objective pulls x1 towards 1, but on the ridge's left slope f_1's gradient in x1,
(x1 - 1) + b'(x1), turns positive (max b' ≈ 5.7 at x1 ≈ -0.27): there f_1 and the other objectives
conflict in x1 and a set of *local* Pareto-stationary points appears (a conservative compromise,
f_1 ≥ 1 higher than anywhere on the true front's side of the ridge). Reaching the global front
means accepting a temporary rise of f_1 over the ridge (at most h = 2). How much weight a run
puts on f_1 decides whether a preference-following method crosses.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from moo_lenient.problems.base import Problem, box, lattice_divisions, simplex_lattice

HEIGHT = 2.0
WIDTH = 0.6
START_X1 = -1.5


def ridge(x1: Tensor) -> Tensor:
    """b(x1) = h (1 - (x1/w)²)³ on |x1| < w, else 0 (twice continuously differentiable)."""
    inside = torch.clamp(1 - (x1 / WIDTH) ** 2, min=0.0)
    return HEIGHT * inside**3


class Barrier(Problem):
    """The ridge barrier with m = 2 or 3 objectives (see the module docstring)."""

    noise = 0.5  # the studies' ridge noise level

    def __init__(self, num_objectives: int = 2) -> None:
        if num_objectives not in (2, 3):
            raise ValueError(f"the barrier problem has 2 or 3 objectives, got {num_objectives}")
        self.num_objectives = num_objectives
        self.num_variables = num_objectives
        self.name = f"barrier-{num_objectives}"
        self.lower, self.upper = box(self.num_variables, -2.0, 2.0)
        if num_objectives == 2:
            v = np.array([[-1.0], [1.0]])
        else:
            angles = np.pi / 2 + 2 * np.pi * np.arange(3) / 3
            v = np.stack([np.cos(angles), np.sin(angles)], axis=1)
            v[np.abs(v) < 1e-15] = 0.0
        self.vertices = v  # (m, m - 1)
        self.anchors = torch.from_numpy(np.concatenate([np.ones((num_objectives, 1)), v], 1))

    def __call__(self, x: Tensor) -> Tensor:
        self._check(x)
        diff = x.unsqueeze(-2) - self.anchors.to(x.dtype)  # (..., m, n)
        f = 0.5 * (diff**2).sum(-1)
        bump = torch.zeros_like(f)
        bump[..., 0] = ridge(x[..., 0])
        return f + bump

    def initial(self, num: int, generator: torch.Generator) -> Tensor:
        rest = 2 * torch.rand(num, self.num_variables - 1, generator=generator) - 1
        start = torch.full((num, 1), START_X1, dtype=torch.float64)
        return torch.cat([start, rest.to(torch.float64)], dim=1)

    def pareto_front(self, n: int = 1000) -> np.ndarray:
        m = self.num_objectives
        divisions = lattice_divisions(m, n)
        u = simplex_lattice(m, divisions) @ self.vertices  # points of conv(v)
        return 0.5 * ((u[:, None, :] - self.vertices[None]) ** 2).sum(-1)

    def ideal(self) -> np.ndarray:
        return np.zeros(self.num_objectives)

    def nadir(self) -> np.ndarray:
        return self.pareto_front().max(axis=0)
