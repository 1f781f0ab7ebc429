"""The interface of a benchmark problem with a known Pareto front."""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod

import numpy as np
import torch
from torch import Tensor


class Problem(ABC):
    """A differentiable multi-objective problem, batched over leading dimensions.

    ``problem(x)`` maps variables of shape (..., n) to objective values (..., m), all to be
    minimized, differentiably in torch. ``lower``/``upper`` are the variable bounds (None for an
    unbounded problem). ``pareto_front(n)`` samples the true front (float64 numpy, (n', m)).

    For the benchmark runner each problem also states how runs start (:meth:`initial`), its
    stochastic form (:meth:`sample_values` for problems with data, else additive Gaussian
    gradient noise of standard deviation ``noise`` on every objective's gradient) and whether its
    front is exact or estimated (``front_is_estimated``).
    """

    name: str
    num_objectives: int
    num_variables: int
    lower: Tensor | None = None
    upper: Tensor | None = None
    #: standard deviation of the additive gradient noise of the stochastic form (per coordinate)
    noise: float = 0.1
    #: True when ``pareto_front`` is an estimate (real-data problems), not the exact front
    front_is_estimated: bool = False

    @abstractmethod
    def __call__(self, x: Tensor) -> Tensor:
        """Objective values (..., m) of variables (..., n)."""

    @abstractmethod
    def pareto_front(self, n: int = 1000) -> np.ndarray:
        """About ``n`` points of the true Pareto front, float64, shape (n', m)."""

    def ideal(self) -> np.ndarray:
        """Best value of each objective over the front."""
        return self.pareto_front().min(axis=0)

    def nadir(self) -> np.ndarray:
        """Worst value of each objective over the front."""
        return self.pareto_front().max(axis=0)

    def initial(self, num: int, generator: torch.Generator) -> Tensor:
        """``num`` starting points (num, n), float64; by default uniform in the box."""
        low, high = self.bounds()
        u = torch.rand(num, self.num_variables, generator=generator, dtype=torch.float64)
        return low + (high - low) * u

    def sample_values(self, x: Tensor, generator: torch.Generator) -> Tensor | None:
        """Objective values of (B, n) on freshly sampled data, for problems with data.

        None (the default) means the problem has no data to sample; its stochastic form adds
        N(0, ``noise``²) to every entry of the Jacobian instead.
        """
        return None

    def bounds(self) -> tuple[Tensor, Tensor]:
        if self.lower is None or self.upper is None:
            raise ValueError(f"{self.name} is unbounded")
        return self.lower, self.upper

    def _check(self, x: Tensor) -> None:
        if x.shape[-1] != self.num_variables:
            raise ValueError(
                f"{self.name} takes {self.num_variables} variables, got shape {tuple(x.shape)}"
            )


def box(n: int, low: float, high: float) -> tuple[Tensor, Tensor]:
    return (torch.full((n,), low, dtype=torch.float64), torch.full((n,), high, dtype=torch.float64))


def non_dominated(points: np.ndarray) -> np.ndarray:
    """The points no other point dominates (minimization), in their original order."""
    if points.shape[1] == 2:  # sort by f1; keep points strictly below every earlier f2
        order = np.lexsort((points[:, 1], points[:, 0]))
        best = np.minimum.accumulate(points[order, 1])
        keep_sorted = np.ones(len(points), dtype=bool)
        keep_sorted[1:] = points[order[1:], 1] < best[:-1]
        keep = np.zeros(len(points), dtype=bool)
        keep[order[keep_sorted]] = True
        return points[keep]
    keep = np.ones(len(points), dtype=bool)
    for i, p in enumerate(points):
        if keep[i]:
            dominated = np.all(p <= points, axis=1) & np.any(p < points, axis=1)
            keep &= ~dominated
    return points[keep]


def simplex_lattice(m: int, divisions: int) -> np.ndarray:
    """Points of the unit simplex in R^m whose coordinates are multiples of 1/divisions.

    Stars and bars: each choice of m - 1 bar positions among divisions + m - 1 slots is one
    composition of ``divisions`` into m non-negative parts.
    """
    points = []
    for bars in itertools.combinations(range(divisions + m - 1), m - 1):
        edges = (-1, *bars, divisions + m - 1)
        points.append([edges[i + 1] - edges[i] - 1 for i in range(m)])
    return np.asarray(points, dtype=np.float64) / divisions


def lattice_divisions(m: int, count: int) -> int:
    """The most divisions (at least 1) whose simplex lattice in R^m has at most ``count``
    points (C(divisions + m - 1, m - 1) of them)."""
    divisions = 1
    while math.comb(divisions + 1 + m - 1, m - 1) <= count:
        divisions += 1
    return divisions
