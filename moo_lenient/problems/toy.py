"""The CAGrad / Nash-MTL two-objective toy (Liu et al. 2021; Navon et al. 2022).

For x = (x1, x2), LOWER = 5e-6:

    a1 = 0.5(-x1 - 7) - tanh(-x2),        a2 = 0.5(-x1 + 3) + tanh(-x2) + 2,
    h_i = log(max(|a_i|, LOWER)) + 6,
    q1 = ((-x1 + 7)² + 0.1(-x2 - 8)²)/10 - 20,   q2 = ((-x1 - 7)² + 0.1(-x2 - 8)²)/10 - 20,
    c1 = max(tanh(x2/2), 0),              c2 = max(tanh(-x2/2), 0),
    L1 = s (c1 h1 + c2 q1),               L2 = c1 h2 + c2 q2.

The upper half-plane is a log-barrier plateau with two narrow valleys; the lower half is a pair
of shifted quadratics. The Pareto set, as both source papers draw it, is the segment
x2 = -8.3552, x1 ∈ [-7, 7]. ``max`` is ``torch.clamp``, which passes the gradient at the
boundary, so the gradient at (0, 0) is not zero (as in the original code).

Protocols (Adam, lr 1e-3, on x): "cagrad" (s = 1, 3 starts, 100k steps) and "nash"
(s = 0.1, 5 starts, 35k steps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from moo_lenient.problems.base import Problem

LOWER = 5e-6
PARETO_X2 = -8.3552
PARETO_X1 = (-7.0, 7.0)


@dataclass(frozen=True)
class ToyProtocol:
    name: str
    scale: float
    starts: tuple[tuple[float, float], ...]
    steps: int


PROTOCOLS: dict[str, ToyProtocol] = {
    "cagrad": ToyProtocol("cagrad", 1.0, ((-8.5, 7.5), (-8.5, -5.0), (9.0, 9.0)), 100_000),
    "nash": ToyProtocol(
        "nash", 0.1, ((-8.5, 7.5), (0.0, 0.0), (9.0, 9.0), (-7.5, -0.5), (9.0, -1.0)), 35_000
    ),
}


class CAGradToy(Problem):
    """The toy as a differentiable, batched problem: ``toy(x)`` maps (..., 2) to (..., 2).

    Unbounded (``lower``/``upper`` are None); its front is the image of the Pareto segment.
    """

    name = "cagrad-toy"
    num_objectives = 2
    num_variables = 2

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = float(scale)

    def __call__(self, x: Tensor) -> Tensor:
        x1, x2 = x[..., 0], x[..., 1]
        a1 = 0.5 * (-x1 - 7) - torch.tanh(-x2)
        a2 = 0.5 * (-x1 + 3) + torch.tanh(-x2) + 2
        h1 = torch.log(torch.clamp(a1.abs(), min=LOWER)) + 6
        h2 = torch.log(torch.clamp(a2.abs(), min=LOWER)) + 6
        q1 = ((-x1 + 7) ** 2 + 0.1 * (-x2 - 8) ** 2) / 10 - 20
        q2 = ((-x1 - 7) ** 2 + 0.1 * (-x2 - 8) ** 2) / 10 - 20
        c1 = torch.clamp(torch.tanh(x2 / 2), min=0)
        c2 = torch.clamp(torch.tanh(-x2 / 2), min=0)
        f1 = self.scale * (c1 * h1 + c2 * q1)
        f2 = c1 * h2 + c2 * q2
        return torch.stack([f1, f2], dim=-1)

    def with_analytic_jacobian(self, x: Tensor) -> Tensor:
        """Same values as ``self(x)``, through one autograd node with the analytic Jacobian.

        Backpropagating through the ~40 elementwise ops of :meth:`__call__` costs about 0.6 ms
        per objective on a CPU; this node costs a few microseconds, which makes the 100k-step
        protocols affordable through the public optimizer. Its Jacobian equals autograd's
        (tested), including torch's subgradient conventions (``abs`` has derivative 0 at 0 and
        ``clamp`` passes the gradient at its bound).
        """
        return _AnalyticToy.apply(x, self.scale)

    def jacobian(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Values (..., 2) and analytic Jacobian (..., 2, 2) with rows ∇L1, ∇L2."""
        x1, x2 = x[..., 0], x[..., 1]
        t = torch.tanh(-x2)
        dt = -(1 - t * t)  # d tanh(-x2) / dx2
        a1 = 0.5 * (-x1 - 7) - t
        a2 = 0.5 * (-x1 + 3) + t + 2
        h1 = torch.log(torch.clamp(a1.abs(), min=LOWER)) + 6
        h2 = torch.log(torch.clamp(a2.abs(), min=LOWER)) + 6
        dh1 = (a1.abs() >= LOWER) * torch.sign(a1) / torch.clamp(a1.abs(), min=LOWER)
        dh2 = (a2.abs() >= LOWER) * torch.sign(a2) / torch.clamp(a2.abs(), min=LOWER)
        q1 = ((-x1 + 7) ** 2 + 0.1 * (-x2 - 8) ** 2) / 10 - 20
        q2 = ((-x1 - 7) ** 2 + 0.1 * (-x2 - 8) ** 2) / 10 - 20
        tp, tm = torch.tanh(x2 / 2), torch.tanh(-x2 / 2)
        c1, c2 = torch.clamp(tp, min=0), torch.clamp(tm, min=0)
        dc1 = (tp >= 0) * 0.5 * (1 - tp * tp)
        dc2 = (tm >= 0) * -0.5 * (1 - tm * tm)
        dq_dx2 = (x2 + 8) / 50
        f1 = self.scale * (c1 * h1 + c2 * q1)
        f2 = c1 * h2 + c2 * q2
        # d/dx1: a_i' = -0.5, q1' = (x1 - 7)/5, q2' = (x1 + 7)/5
        j11 = self.scale * (c1 * dh1 * -0.5 + c2 * (x1 - 7) / 5)
        j21 = c1 * dh2 * -0.5 + c2 * (x1 + 7) / 5
        # d/dx2: a1' = -dt, a2' = dt
        j12 = self.scale * (dc1 * h1 + c1 * dh1 * -dt + dc2 * q1 + c2 * dq_dx2)
        j22 = dc1 * h2 + c1 * dh2 * dt + dc2 * q2 + c2 * dq_dx2
        values = torch.stack([f1, f2], dim=-1)
        jac = torch.stack([torch.stack([j11, j12], -1), torch.stack([j21, j22], -1)], -2)
        return values, jac

    def pareto_set(self, n: int = 4001) -> np.ndarray:
        """(n, 2) points of the Pareto segment x2 = -8.3552, x1 from -7 to 7."""
        x1 = np.linspace(*PARETO_X1, n)
        return np.stack([x1, np.full(n, PARETO_X2)], axis=1)

    def pareto_front(self, n: int = 4001) -> np.ndarray:
        """(n, 2) loss vectors of the Pareto segment (float64), ordered by x1."""
        with torch.no_grad():
            return self(torch.from_numpy(self.pareto_set(n))).numpy()

    def ideal(self) -> np.ndarray:
        """Best value of each objective on the front."""
        return self.pareto_front().min(axis=0)

    def nadir(self) -> np.ndarray:
        """Worst value of each objective on the front."""
        return self.pareto_front().max(axis=0)

    def nearest_on_front(self, losses: np.ndarray, n: int = 4001) -> tuple[float, float]:
        """Euclidean distance (loss space) to the front sampled at n points, and that point's x1."""
        front = self.pareto_front(n)
        d = np.linalg.norm(front - np.asarray(losses, dtype=np.float64), axis=1)
        i = int(np.argmin(d))
        return float(d[i]), float(self.pareto_set(n)[i, 0])

    def tchebycheff_target_x1(self, preference: np.ndarray, n: int = 4001) -> float:
        """x1 of the front point minimizing max_k w_k (f_k - z_k)/r_k (the normalized
        Tchebycheff point of the front for preference w, with z = ideal, r = nadir - ideal)."""
        front = self.pareto_front(n)
        z, r = front.min(axis=0), front.max(axis=0) - front.min(axis=0)
        w = np.asarray(preference, dtype=np.float64)
        w = w / w.sum()
        values = np.max(w * (front - z) / r, axis=1)
        return float(self.pareto_set(n)[int(np.argmin(values)), 0])


class _AnalyticToy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, scale: float) -> Tensor:  # type: ignore[override]
        if x.shape == (2,):  # one point: plain float arithmetic, ~30x cheaper than tensor ops
            values_list, jac_list = _point_jacobian(*x.detach().tolist(), scale)
            values = torch.tensor(values_list, dtype=x.dtype, device=x.device)
            jac = torch.tensor(jac_list, dtype=x.dtype, device=x.device)
        else:
            values, jac = CAGradToy(scale).jacobian(x.detach())
        ctx.save_for_backward(jac)
        return values

    @staticmethod
    def backward(ctx, grad_values: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (jac,) = ctx.saved_tensors
        return (grad_values.unsqueeze(-2) @ jac).squeeze(-2), None


def _point_jacobian(x1: float, x2: float, scale: float) -> tuple[list[float], list[list[float]]]:
    """The formulas of :meth:`CAGradToy.jacobian` for one point, in float arithmetic."""

    def log_clamped(a: float) -> tuple[float, float]:
        m = abs(a)
        if m >= LOWER:
            return math.log(m) + 6, math.copysign(1.0, a) / m if a != 0 else 0.0
        return math.log(LOWER) + 6, 0.0

    t = math.tanh(-x2)
    dt = -(1 - t * t)
    h1, dh1 = log_clamped(0.5 * (-x1 - 7) - t)
    h2, dh2 = log_clamped(0.5 * (-x1 + 3) + t + 2)
    q1 = ((-x1 + 7) ** 2 + 0.1 * (-x2 - 8) ** 2) / 10 - 20
    q2 = ((-x1 - 7) ** 2 + 0.1 * (-x2 - 8) ** 2) / 10 - 20
    tp, tm = math.tanh(x2 / 2), math.tanh(-x2 / 2)
    c1, c2 = max(tp, 0.0), max(tm, 0.0)
    dc1 = 0.5 * (1 - tp * tp) if tp >= 0 else 0.0
    dc2 = -0.5 * (1 - tm * tm) if tm >= 0 else 0.0
    dq_dx2 = (x2 + 8) / 50
    values = [scale * (c1 * h1 + c2 * q1), c1 * h2 + c2 * q2]
    jac = [
        [
            scale * (c1 * dh1 * -0.5 + c2 * (x1 - 7) / 5),
            scale * (dc1 * h1 + c1 * dh1 * -dt + dc2 * q1 + c2 * dq_dx2),
        ],
        [c1 * dh2 * -0.5 + c2 * (x1 + 7) / 5, dc1 * h2 + c1 * dh2 * dt + dc2 * q2 + c2 * dq_dx2],
    ]
    return values, jac
