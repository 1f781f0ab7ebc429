r"""Per-objective policy-gradient losses and the shared KL regularizer.

For completion tokens :math:`y_{i,1..T_i}` with log-probabilities
:math:`\ell_{it} = \log\pi_\theta(y_{it}\mid x_i, y_{i,<t})`, mask :math:`m_{it}` and the
per-objective advantages :math:`A_{ik}` (:mod:`moo_lenient.llm.advantages`), objective k's
loss is the GRPO surrogate with advantage column k:

.. math::
    L_k(\theta) = -\,\mathrm{reduce}_{i,t}\Big[\min\big(\rho_{it} A_{ik},\
        \mathrm{clip}(\rho_{it}, 1-\epsilon, 1+\epsilon) A_{ik}\big)\Big],
    \qquad \rho_{it} = \exp(\ell_{it} - \ell^{old}_{it}).

On-policy (no ``old_logprobs``: one optimization pass per generation, TRL's
``num_iterations=1``) :math:`\ell^{old} = \mathrm{stop\_grad}(\ell)`, so ρ = 1 and
:math:`\nabla L_k = -\mathrm{reduce}[A_{ik}\nabla\ell_{it}]`: the loss is linear in the
advantages and :math:`\sum_k c_k \nabla L_k = \nabla L(\sum_k c_k A_k)`.

``reduce`` (``loss_type``, TRL's names):

- ``"grpo"``: the mean over each completion's tokens, then the mean over completions;
- ``"dapo"`` (TRL's default): the sum over all tokens divided by the number of tokens;
- ``"dr_grpo"``: the sum over all tokens divided by N · ``max_completion_length``.

The KL to a frozen reference policy is a *shared regularizer*, added once after aggregation
(``MultiObjectiveOptimizer.step(..., regularizer=beta * kl)``), never folded into each
objective. Per token it is the non-negative estimator
:math:`k_3 = e^{\ell^{ref} - \ell} - (\ell^{ref} - \ell) - 1` (Schulman's; TRL's), reduced
like the losses.

These surrogate losses have no meaningful *values*; the values a method prices with (PLC)
are minus each reward's batch mean, passed separately as ``values=``.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

__all__ = ["LOSS_TYPES", "kl_penalty", "policy_gradient_losses", "reduce_tokens"]

LOSS_TYPES = ("grpo", "dapo", "dr_grpo")

LossType = Literal["grpo", "dapo", "dr_grpo"]


def reduce_tokens(
    per_token: Tensor,
    mask: Tensor,
    loss_type: LossType = "grpo",
    max_completion_length: int | None = None,
) -> Tensor:
    """Reduce (N, T) per-token terms (or (N, T, K), reduced over N and T) to a scalar (or K).

    Completions without any unmasked token contribute 0 (and are not counted by ``"grpo"``'s
    per-completion mean).
    """
    m = mask.to(per_token.dtype)
    if per_token.ndim == 3:
        m = m.unsqueeze(-1)
    if loss_type == "grpo":
        per_seq = (per_token * m).sum(1) / m.sum(1).clamp_min(1.0)
        return per_seq.mean(0)
    if loss_type == "dapo":
        return (per_token * m).sum((0, 1)) / m.sum((0, 1)).clamp_min(1.0)
    if loss_type == "dr_grpo":
        length = per_token.shape[1] if max_completion_length is None else max_completion_length
        return (per_token * m).sum((0, 1)) / (per_token.shape[0] * length)
    raise ValueError(f"loss_type must be one of {LOSS_TYPES}, got {loss_type!r}")


def policy_gradient_losses(
    logprobs: Tensor,
    mask: Tensor,
    advantages: Tensor,
    *,
    old_logprobs: Tensor | None = None,
    clip_eps: float = 0.2,
    loss_type: LossType = "grpo",
    max_completion_length: int | None = None,
) -> Tensor:
    """The K per-objective surrogate losses, as one (K,) tensor sharing one graph.

    Args:
        logprobs: (N, T) log-probabilities of the completion tokens under the policy (with
            grad).
        mask: (N, T) 1 for completion tokens, 0 for padding.
        advantages: (N, K) per-objective advantages (no grad).
        old_logprobs: (N, T) log-probabilities under the policy that generated the batch, for
            several optimization passes per generation; None = on-policy (ρ = 1).
        clip_eps: PPO clipping range ε (used only with ``old_logprobs``).
        loss_type: ``"grpo"``, ``"dapo"`` or ``"dr_grpo"``.
        max_completion_length: for ``"dr_grpo"`` (default: T).
    """
    if logprobs.ndim != 2 or mask.shape != logprobs.shape:
        raise ValueError(
            f"logprobs and mask must both be (N, T), got {tuple(logprobs.shape)} and "
            f"{tuple(mask.shape)}"
        )
    if advantages.ndim != 2 or advantages.shape[0] != logprobs.shape[0]:
        raise ValueError(
            f"advantages must be (N, K) with N = {logprobs.shape[0]}, got {tuple(advantages.shape)}"
        )
    if not bool(torch.isfinite(advantages).all()):
        raise ValueError("advantages must be finite")
    adv = advantages.detach().to(logprobs.dtype).unsqueeze(1)  # (N, 1, K)
    old = logprobs.detach() if old_logprobs is None else old_logprobs.detach()
    ratio = torch.exp(logprobs - old).unsqueeze(-1)  # (N, T, 1)
    surrogate = ratio * adv
    if old_logprobs is not None:
        clipped = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * adv
        surrogate = torch.minimum(surrogate, clipped)
    return -reduce_tokens(surrogate, mask, loss_type, max_completion_length)


def kl_penalty(
    logprobs: Tensor,
    ref_logprobs: Tensor,
    mask: Tensor,
    loss_type: LossType = "grpo",
    max_completion_length: int | None = None,
) -> Tensor:
    """The k3 estimate of KL(π_θ || π_ref) over the completion tokens, reduced like the losses."""
    delta = ref_logprobs.detach() - logprobs
    return reduce_tokens(torch.exp(delta) - delta - 1.0, mask, loss_type, max_completion_length)
