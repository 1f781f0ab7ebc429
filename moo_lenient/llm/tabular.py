r"""A tabular softmax policy with K conflicting rewards: the cheap place to see preference steering.

One state, V actions; the policy is :math:`\pi_\theta = \mathrm{softmax}(\theta)` and reward k
of action a is :math:`R_{ak}`. The actions lie on the positive part of the unit circle (K = 2,
:math:`R_a = (\cos\phi_a, \sin\phi_a)`, :math:`\phi_a = \tfrac{\pi}{2}\tfrac{a}{V-1}`) or sphere
(K = 3, a Fibonacci lattice on the positive octant), so every action is Pareto-optimal and the
front of the expected rewards :math:`J_k(\theta) = \sum_a \pi_a R_{ak}` is concave: a
preference-aware method should pick different actions for different preferences, monotonically.

Training is the same pipeline as for a language model, with the action as a one-token
completion: groups of sampled actions, per-objective group-normalized advantages
(:func:`~moo_lenient.llm.advantages.group_normalize`), the K policy-gradient losses
(:func:`~moo_lenient.llm.losses.policy_gradient_losses`), values :math:`-\bar r_k`, and a
:class:`~moo_lenient.MultiObjectiveOptimizer` around Adam.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from moo_lenient.llm.advantages import group_normalize, signal_mask
from moo_lenient.llm.losses import policy_gradient_losses
from moo_lenient.methods import get
from moo_lenient.optimizer import MultiObjectiveOptimizer

__all__ = ["TabularResult", "reward_table", "train_tabular"]


def reward_table(num_actions: int = 9, num_objectives: int = 2) -> Tensor:
    """(V, K) rewards of the V actions, on the positive unit circle (K = 2) or sphere (K = 3)."""
    if num_objectives == 2:
        phi = torch.linspace(0.0, math.pi / 2, num_actions, dtype=torch.float64)
        return torch.stack([torch.cos(phi), torch.sin(phi)], dim=1)
    if num_objectives == 3:
        pts = []
        golden = math.pi * (3.0 - math.sqrt(5.0))
        n = 8 * num_actions  # a Fibonacci sphere, keeping the positive octant
        for i in range(n):
            z = 1.0 - 2.0 * (i + 0.5) / n
            rad = math.sqrt(1.0 - z * z)
            x, y = rad * math.cos(golden * i), rad * math.sin(golden * i)
            if x >= 0 and y >= 0 and z >= 0:
                pts.append((x, y, z))
        return torch.tensor(pts, dtype=torch.float64)
    raise ValueError(f"num_objectives must be 2 or 3, got {num_objectives}")


@dataclass
class TabularResult:
    """Final expected rewards J (K,) and policy probabilities (V,) of one run."""

    expected_rewards: np.ndarray
    probabilities: np.ndarray
    dropped_steps: int


def train_tabular(
    method: str,
    preference: np.ndarray | list[float],
    *,
    num_objectives: int = 2,
    num_actions: int = 9,
    steps: int = 300,
    group_size: int = 8,
    groups: int = 4,
    learning_rate: float = 0.05,
    seed: int = 0,
    method_kwargs: dict | None = None,
) -> TabularResult:
    """Train a tabular softmax policy from uniform with ``method`` under ``preference``."""
    rewards = reward_table(num_actions, num_objectives).float()
    v = rewards.shape[0]
    theta = torch.zeros(v, requires_grad=True)
    gen = torch.Generator().manual_seed(seed)
    opt = MultiObjectiveOptimizer(
        torch.optim.Adam([theta], lr=learning_rate),
        method=get(method, **(method_kwargs or {})),
        preference=preference,
        total_steps=steps,
    )
    dropped = 0
    for _ in range(steps):
        logp = torch.log_softmax(theta, 0)
        actions = torch.multinomial(logp.exp().detach(), groups * group_size, True, generator=gen)
        r = rewards[actions]  # (N, K)
        adv = group_normalize(r, group_size)
        mask = signal_mask(adv)
        dropped += int((~mask).any())
        losses = policy_gradient_losses(
            logp[actions].unsqueeze(1), torch.ones(len(actions), 1), adv
        )
        opt.step(list(losses), values=(-r.mean(0)).double().numpy(), active=mask.numpy())
    with torch.no_grad():
        probs = torch.softmax(theta, 0)
    return TabularResult(
        expected_rewards=(probs @ rewards).double().numpy(),
        probabilities=probs.double().numpy(),
        dropped_steps=dropped,
    )
