"""How the per-objective gradients (the Jacobian) and the Gramian are obtained.

For K scalar losses f_1..f_K and parameters θ ∈ R^d the Jacobian J ∈ R^{K x d} has rows
g_k = ∇_θ f_k, and the Gramian is G = J Jᵀ ∈ R^{K x K} (computed in float64: the K x K
problems every method solves are tiny but can be badly scaled).

The exact mode used here takes K sequential ``torch.autograd.grad`` calls through the same
graph (``retain_graph`` for all but the last), with ``allow_unused=True`` so that a parameter
an objective does not reach gets a zero row entry instead of an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["ObjectiveGradients", "gramian", "objective_gradients"]


def gramian(jacobian: Tensor) -> Tensor:
    """G = J Jᵀ in float64 (on the Jacobian's device); batched over leading dimensions."""
    j = jacobian.to(torch.float64)
    return j @ j.mT


@dataclass
class ObjectiveGradients:
    """Per-objective gradients of one micro-batch.

    Attributes:
        shared: (K, d_shared) Jacobian over the shared parameters (flattened, concatenated).
        other: per non-shared parameter, the plain gradient summed over the objectives that
            reach it (None where no objective reaches it).
        reached: per parameter (shared first, then the others), whether any objective reaches it.
        regularizer: per parameter, the plain gradient of the regularizer (or None).
    """

    shared: Tensor
    other: list[Tensor | None]
    reached: list[bool]
    regularizer: list[Tensor | None] | None


def objective_gradients(
    losses: Sequence[Tensor],
    shared: Sequence[Tensor],
    other: Sequence[Tensor] = (),
    regularizer: Tensor | None = None,
) -> ObjectiveGradients:
    """Differentiate each loss (and an optional regularizer) with respect to the parameters.

    Args:
        losses: K scalar tensors sharing one graph.
        shared: parameters whose per-objective gradients form the Jacobian rows.
        other: parameters (e.g. task heads) that get the plain sum of the gradients of the
            objectives reaching them.
        regularizer: an optional scalar whose plain gradient is kept apart, to be added once
            after aggregation.

    Returns:
        The Jacobian over ``shared`` and the plain gradients of ``other``.
    """
    params = [*shared, *other]
    n_shared = len(shared)
    dtype = _common_dtype(shared)
    device = shared[0].device if shared else torch.device("cpu")
    rows: list[Tensor] = []
    other_grads: list[Tensor | None] = [None] * len(other)
    reached = [False] * len(params)
    n_calls = len(losses) + (regularizer is not None)
    for k, loss in enumerate(losses):
        grads = _grad(loss, params, retain_graph=k < n_calls - 1)
        row = []
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            if g is not None:
                reached[i] = True
            if i < n_shared:
                row.append(
                    torch.zeros(p.numel(), dtype=dtype, device=device)
                    if g is None
                    else g.reshape(-1).to(dtype)
                )
            elif g is not None:
                j = i - n_shared
                other_grads[j] = g.clone() if other_grads[j] is None else other_grads[j] + g
        rows.append(torch.cat(row) if row else torch.zeros(0, dtype=dtype, device=device))
    reg_grads = None
    if regularizer is not None:
        reg_grads = [
            None if g is None else g.detach()
            for g in _grad(regularizer, params, retain_graph=False)
        ]
    shared_jac = torch.stack(rows) if rows else torch.zeros(0, 0, dtype=dtype, device=device)
    return ObjectiveGradients(shared_jac, other_grads, reached, reg_grads)


def _grad(
    output: Tensor, params: Sequence[Tensor], retain_graph: bool
) -> tuple[Tensor | None, ...]:
    if not output.requires_grad:
        return (None,) * len(params)
    return torch.autograd.grad(output, params, retain_graph=retain_graph, allow_unused=True)


def _common_dtype(params: Sequence[Tensor]) -> torch.dtype:
    dtype = params[0].dtype if params else torch.get_default_dtype()
    for p in params[1:]:
        dtype = torch.promote_types(dtype, p.dtype)
    return dtype
