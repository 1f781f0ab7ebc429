r"""Per-objective, group-normalized advantages (GRPO-style, one column per reward).

A batch holds N = P·G completions: G completions ("a group") for each of P prompts, laid out
group after group (rows ``i·G .. i·G + G - 1`` share prompt i, as TRL orders them). For each
reward k separately (the GDPO / MO-GRPO convention, not TRL's default sum-then-normalize):

.. math::
    A_{ik} = \frac{r_{ik} - \bar r_{g(i)k}}{\sigma_{g(i)k} + \varepsilon}

with the group mean :math:`\bar r` and, by ``scale``:

- ``"group"`` (default): σ = the group's standard deviation (unbiased, as TRL's
  ``scale_rewards="group"``);
- ``"batch"``: σ = the standard deviation of reward k over the whole batch;
- ``"none"``: σ = 0 and ε = 1, i.e. centring only (Dr. GRPO).

A reward that returned ``None`` ("not applicable", NaN here) is left out of its group's mean
and standard deviation and gets advantage 0. A group in which reward k does not vary gets
advantage 0 for k: that reward has no learning signal there, and if it varies in no group its
policy gradient is exactly zero (see :func:`signal_mask`).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

__all__ = ["SCALES", "group_normalize", "signal_mask"]

SCALES = ("group", "batch", "none")

Scale = Literal["group", "batch", "none"]


def group_normalize(
    rewards: Tensor, group_size: int, scale: Scale = "group", eps: float = 1e-4
) -> Tensor:
    """Per-objective group-normalized advantages.

    Args:
        rewards: (N, K) rewards, NaN where not applicable; N a multiple of ``group_size``.
        group_size: G, the completions per prompt (TRL's ``num_generations``), at least 2.
        scale: ``"group"``, ``"batch"`` or ``"none"`` (see the module docstring).
        eps: added to σ (TRL uses 1e-4).

    Returns:
        (N, K) float32 advantages, 0 where the reward is NaN or its group does not vary.
    """
    if not isinstance(rewards, Tensor) or rewards.ndim != 2:
        raise ValueError(
            f"rewards must be an (N, K) tensor, got {getattr(rewards, 'shape', rewards)}"
        )
    n, k = rewards.shape
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 2:
        raise ValueError(f"group_size must be an integer >= 2, got {group_size!r}")
    if n == 0 or n % group_size:
        raise ValueError(f"{n} rows are not a positive multiple of group_size={group_size}")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    if not eps >= 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    r = rewards.detach().to(torch.float64)
    if torch.isinf(r).any():
        raise ValueError("rewards contain inf")
    valid = ~torch.isnan(r)
    r0 = torch.where(valid, r, 0.0)

    grouped, vgrouped = r0.view(-1, group_size, k), valid.view(-1, group_size, k)
    count = vgrouped.sum(1, keepdim=True)
    mean = grouped.sum(1, keepdim=True) / count.clamp_min(1)
    centred = torch.where(vgrouped, grouped - mean, 0.0)
    if scale == "group":
        var = (centred**2).sum(1, keepdim=True) / (count - 1).clamp_min(1)
        denom = var.sqrt() + eps
    elif scale == "batch":
        total = valid.sum(0).clamp_min(1)
        bmean = r0.sum(0) / total
        bvar = (torch.where(valid, r0 - bmean, 0.0) ** 2).sum(0) / (total - 1).clamp_min(1)
        denom = (bvar.sqrt() + eps).view(1, 1, k)
    else:
        denom = torch.ones_like(mean)
    # A group in which reward k does not vary has no signal for k (exactly zero advantages).
    spread = torch.where(vgrouped, grouped, -torch.inf).amax(1, keepdim=True) - torch.where(
        vgrouped, grouped, torch.inf
    ).amin(1, keepdim=True)
    varies = (count >= 2) & (spread > 0)
    adv = torch.where(varies & vgrouped, centred / denom.clamp_min(1e-300), 0.0)
    return adv.view(n, k).to(torch.float32)


def signal_mask(advantages: Tensor) -> Tensor:
    """(K,) booleans: which objectives have any non-zero advantage (a learning signal)."""
    if not isinstance(advantages, Tensor) or advantages.ndim != 2:
        raise ValueError("advantages must be an (N, K) tensor")
    return (advantages != 0).any(0)
