"""How the per-objective gradients (the Jacobian) and the Gramian are obtained.

For K scalar losses f_1..f_K and parameters θ ∈ R^d the Jacobian J ∈ R^{K x d} has rows
g_k = ∇_θ f_k, and the Gramian is G = J Jᵀ ∈ R^{K x K} (computed in float64: the K x K
problems every method solves are tiny but can be badly scaled). Every method turns G into
weights w; the update is d = Jᵀ w = ∇_θ Σ_k w_k f_k.

The modes (``MultiObjectiveOptimizer(..., jacobian_mode=...)``):

- ``"params"`` (exact): K sequential ``torch.autograd.grad`` calls through the same graph
  (``retain_graph`` for all but the last), ``allow_unused=True`` so that a parameter an
  objective does not reach gets a zero row entry instead of an error; d = Jᵀ w.
- ``"params_batched"`` (exact): one ``torch.autograd.grad`` of the stacked losses with the K
  unit cotangents batched (``is_grads_batched=True``, vmap over the backward graph); where
  vmap does not support an operation it falls back to ``"params"`` with a warning.
- ``"gramian"`` (exact): G accumulated block by block over the parameters
  (:func:`blockwise_gramian`: K gradients of one block at a time, G += J_b J_bᵀ), so the
  K x d Jacobian is never held; then d = ∇_θ Σ_k w_k f_k by one more backward
  (:func:`weighted_gradients`). Costs K backward passes per block plus one.
- ``"features"`` (approximation, MGDA-UB, Sener & Koltun 2018): w from the Gramian of the
  gradients with respect to a shared representation z the user passes
  (:func:`representation_gramian`), then one backward of Σ_k w_k f_k over all parameters.
- ``"subset"`` (approximation): w from the Jacobian of a named subset of the parameters (LoRA
  adapters, the last layers), then one backward of Σ_k w_k f_k over all parameters.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from moo_lenient._validation import all_finite, check_jacobian

__all__ = [
    "MODES",
    "ObjectiveGradients",
    "blockwise_gramian",
    "gramian",
    "objective_gradients",
    "parameter_blocks",
    "representation_gramian",
    "weighted_gradients",
]

#: The Jacobian modes of :class:`~moo_lenient.MultiObjectiveOptimizer`.
MODES = ("params", "params_batched", "gramian", "features", "subset")

#: Reduces a tensor in place across processes (the optimizer's all-reduce, or None).
Reduce = Callable[[Tensor], None] | None


def gramian(jacobian: Tensor) -> Tensor:
    """G = J Jᵀ as float64 (on the Jacobian's device); batched over leading dimensions.

    A float64 Jacobian gets a float64 product. Lower precisions are multiplied in float32 (no
    K x d float64 copy: the entries then carry the gradients' own ~1e-7 relative precision) and
    the K x K result is cast to float64 for the solve; where float32 would overflow or
    underflow (rows with entries beyond about 1e±18), the rows are first scaled by their
    largest magnitude and the scales restored in float64, G = S (Ĵ Ĵᵀ) S.
    """
    if jacobian.dtype == torch.float64:
        return jacobian @ jacobian.mT
    work = jacobian if jacobian.dtype == torch.float32 else jacobian.float()
    g = work @ work.mT
    diag = g.diagonal(dim1=-2, dim2=-1)
    if bool(torch.isfinite(g).all()) and not bool(((diag > 0) & (diag < 1e-30)).any()):
        return g.to(torch.float64)
    scale = work.abs().amax(dim=-1, keepdim=True).clamp_min(torch.finfo(torch.float32).tiny)
    unit = work / scale
    s = scale.to(torch.float64)
    return (unit @ unit.mT).to(torch.float64) * (s * s.mT)


@dataclass
class ObjectiveGradients:
    """Per-objective gradients of one micro-batch.

    Attributes:
        shared: (K, d_shared) Jacobian over the shared parameters (flattened, concatenated).
        other: per non-shared parameter, the plain gradient summed over the objectives that
            reach it (None where no objective reaches it).
        reached: per parameter (shared first, then the others), whether any objective reaches it.
        regularizer: per parameter, the plain gradient of the regularizer (or None).
        dropped: with ``drop_nonfinite``, the objectives whose gradient was not finite (their
            row is zero and they add nothing to ``other``).
        unreached: the objectives whose loss requires grad but reaches none of the shared
            parameters (no path in the graph; their row is zero). Known from the sequential
            passes only: the batched backward cannot tell, and leaves it empty.
    """

    shared: Tensor
    other: list[Tensor | None]
    reached: list[bool]
    regularizer: list[Tensor | None] | None
    dropped: list[int] = field(default_factory=list)
    unreached: list[int] = field(default_factory=list)


def objective_gradients(
    losses: Sequence[Tensor],
    shared: Sequence[Tensor],
    other: Sequence[Tensor] = (),
    regularizer: Tensor | None = None,
    batched: bool = False,
    retain_graph: bool = False,
    drop_nonfinite: bool = False,
) -> ObjectiveGradients:
    """Differentiate each loss (and an optional regularizer) with respect to the parameters.

    Args:
        losses: K scalar tensors sharing one graph.
        shared: parameters whose per-objective gradients form the Jacobian rows.
        other: parameters (e.g. task heads) that get the plain sum of the gradients of the
            objectives reaching them.
        regularizer: an optional scalar whose plain gradient is kept apart, to be added once
            after aggregation.
        batched: one vmapped backward over the K unit cotangents instead of K backward
            passes (falls back to K passes, with a ``RuntimeWarning``, where vmap fails).
        retain_graph: keep the graph after the last backward (for a later backward).
        drop_nonfinite: an objective whose gradient (shared or other) has a NaN or inf gets
            a zero row and adds nothing to ``other``; listed in ``dropped``.

    Returns:
        The Jacobian over ``shared`` and the plain gradients of ``other``.
    """
    if batched and len(losses) > 1:
        result = _batched_gradients(
            losses, shared, other, regularizer, retain_graph, drop_nonfinite
        )
        if result is not None:
            return result
    params = [*shared, *other]
    n_shared = len(shared)
    dtype = _common_dtype(shared)
    device = shared[0].device if shared else torch.device("cpu")
    width = sum(p.numel() for p in shared)
    jac = torch.zeros(len(losses), width, dtype=dtype, device=device)  # one write per entry
    other_grads: list[Tensor | None] = [None] * len(other)
    reached = [False] * len(params)
    n_calls = len(losses) + (regularizer is not None)
    dropped: list[int] = []
    unreached: list[int] = []
    for k, loss in enumerate(losses):
        grads = _grad(loss, params, retain_graph=retain_graph or k < n_calls - 1)
        if loss.requires_grad and all(g is None for g in grads[:n_shared]):
            unreached.append(k)
        if drop_nonfinite and not all(g is None or all_finite(g) for g in grads):
            dropped.append(k)
            continue
        offset = 0
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            if g is not None:
                reached[i] = True
            if i < n_shared:
                if g is not None:
                    jac[k, offset : offset + p.numel()] = g.reshape(-1)
                offset += p.numel()
            elif g is not None:
                j = i - n_shared
                other_grads[j] = g if other_grads[j] is None else other_grads[j] + g
    reg_grads = None
    if regularizer is not None:
        reg_grads = [
            None if g is None else g.detach()
            for g in _grad(regularizer, params, retain_graph=retain_graph)
        ]
    return ObjectiveGradients(jac, other_grads, reached, reg_grads, dropped, unreached)


class BatchedGradientWarning(RuntimeWarning):
    """``params_batched`` fell back to sequential backward passes."""


def _batched_gradients(
    losses: Sequence[Tensor],
    shared: Sequence[Tensor],
    other: Sequence[Tensor],
    regularizer: Tensor | None,
    retain_graph: bool,
    drop_nonfinite: bool = False,
) -> ObjectiveGradients | None:
    """The Jacobian by one backward with K batched unit cotangents; None if vmap failed.

    The graph is retained through the batched call so that the sequential fallback (or the
    regularizer's backward) can still use it."""
    params = [*shared, *other]
    n_shared = len(shared)
    dtype = _common_dtype(shared)
    device = shared[0].device if shared else torch.device("cpu")
    k = len(losses)
    live = [i for i, loss in enumerate(losses) if loss.requires_grad]
    if not live:
        return None
    stacked = torch.stack([losses[i].reshape(()) for i in live])
    eye = torch.eye(len(live), dtype=stacked.dtype, device=stacked.device)
    try:
        grads = torch.autograd.grad(
            stacked,
            params,
            grad_outputs=eye,
            retain_graph=True,
            allow_unused=True,
            is_grads_batched=True,
        )
    except RuntimeError as exc:
        warnings.warn(
            f"params_batched: vmap over the backward graph failed ({exc}); "
            "falling back to sequential backward passes (the 'params' mode)",
            BatchedGradientWarning,
            stacklevel=4,
        )
        return None
    keep = torch.ones(len(live), dtype=torch.bool, device=device)
    if drop_nonfinite:
        for g in grads:
            if g is not None:
                keep &= torch.isfinite(g.reshape(len(live), -1)).all(dim=1)
    dropped = [live[i] for i in range(len(live)) if not bool(keep[i])]
    live_idx = torch.tensor(live, device=device)
    rows = torch.zeros(k, sum(p.numel() for p in shared), dtype=dtype, device=device)
    reached = [g is not None for g in grads]
    offset = 0
    for p, g in zip(shared, grads[:n_shared], strict=True):
        n = p.numel()
        if g is not None:
            block = g.reshape(len(live), n).to(dtype)
            rows[live_idx, offset : offset + n] = block
        offset += n
    if dropped:  # the kept rows only (a NaN times 0 is still NaN)
        rows[torch.tensor(dropped, device=device)] = 0.0
    other_grads = [
        None if g is None else (g[keep].sum(0) if not keep.all() else g.sum(0))
        for g in grads[n_shared:]
    ]
    reg_grads = None
    if regularizer is not None:
        reg_grads = [
            None if g is None else g.detach()
            for g in _grad(regularizer, params, retain_graph=retain_graph)
        ]
    return ObjectiveGradients(rows, other_grads, reached, reg_grads, dropped)


def parameter_blocks(params: Sequence[Tensor], max_numel: int) -> list[list[Tensor]]:
    """Consecutive groups of whole parameters of at most ``max_numel`` elements each (a
    parameter larger than that is a block of its own)."""
    blocks: list[list[Tensor]] = []
    size = 0
    for p in params:
        if blocks and size + p.numel() <= max_numel:
            blocks[-1].append(p)
            size += p.numel()
        else:
            blocks.append([p])
            size = p.numel()
    return blocks


def blockwise_gramian(
    losses: Sequence[Tensor],
    shared: Sequence[Tensor],
    block_numel: int,
    reduce: Reduce = None,
) -> tuple[Tensor, list[bool]]:
    """G = Σ_b J_b J_bᵀ (float64, CPU) over parameter blocks, never holding the K x d Jacobian.

    For each block of at most ``block_numel`` elements, the K gradients of that block are
    taken (``retain_graph``: the graph is kept for the weighted backward), reduced across
    processes by ``reduce`` if given (before the product: the Gramian of the whole batch needs
    the cross-rank terms), checked finite, and J_b J_bᵀ is added in float64.

    Returns:
        G and, per parameter of ``shared``, whether any objective reaches it.

    Raises:
        ValueError naming the objective(s) whose gradient is not finite.
    """
    k = len(losses)
    dtype = _common_dtype(shared)
    device = shared[0].device
    gram = torch.zeros(k, k, dtype=torch.float64)
    reached: list[bool] = []
    for block in parameter_blocks(shared, block_numel):
        width = sum(p.numel() for p in block)
        jac = torch.zeros(k, width, dtype=dtype, device=device)
        hit = [False] * len(block)
        for i, loss in enumerate(losses):
            grads = _grad(loss, block, retain_graph=True)
            offset = 0
            for j, (p, g) in enumerate(zip(block, grads, strict=True)):
                if g is not None:
                    jac[i, offset : offset + p.numel()] = g.reshape(-1).to(dtype)
                    hit[j] = True
                offset += p.numel()
        if reduce is not None:
            reduce(jac)
        check_jacobian(jac)  # names the objective(s) not finite
        gram += gramian(jac).cpu()
        reached += hit
        del jac
    return gram, reached


def representation_gramian(
    losses: Sequence[Tensor], features: Sequence[Tensor], drop_nonfinite: bool = False
) -> tuple[Tensor, Tensor, list[int]]:
    """The Jacobian of the losses with respect to the representation ``features`` (K, n_z),
    its Gramian (float64, CPU) and the dropped objectives; the graph is retained for the
    weighted backward.

    Raises:
        ValueError naming the objective(s) whose loss is in the graph (requires grad) but does
        not depend on ``features`` (its row would be zero: a min-norm method would put all the
        weight on it, another would silently weigh it as if it had no gradient), and naming
        the objective(s) whose gradient is not finite (unless ``drop_nonfinite``: their rows
        are then zero and they are listed).
    """
    rows = []
    unreached = []
    for k, loss in enumerate(losses):
        grads = _grad(loss, features, retain_graph=True)
        if loss.requires_grad and all(g is None for g in grads):
            unreached.append(k)
        rows.append(
            torch.cat(
                [
                    (torch.zeros_like(z) if g is None else g).reshape(-1).to(torch.float64)
                    for z, g in zip(features, grads, strict=True)
                ]
            )
        )
    if unreached:
        raise ValueError(
            f"the loss of objective(s) {unreached} does not depend on features= (no path in the "
            "autograd graph from the features to it): pass the shared representation every "
            "loss is computed from, e.g. the encoder's output of this very forward pass"
        )
    jac = torch.stack(rows)
    dropped: list[int] = []
    if drop_nonfinite:
        finite = torch.isfinite(jac).all(dim=1)
        dropped = [int(i) for i in torch.nonzero(~finite).flatten()]
        jac[~finite] = 0.0
    check_jacobian(jac)  # names the objective(s) not finite
    return jac, (jac @ jac.T).cpu(), dropped


def weighted_gradients(
    losses: Sequence[Tensor],
    weights: Sequence[float],
    shared: Sequence[Tensor],
    other: Sequence[Tensor] = (),
    regularizer: Tensor | None = None,
    exclude: Sequence[int] = (),
) -> tuple[list[Tensor | None], list[Tensor | None], list[Tensor | None] | None]:
    """One backward of Σ_k w_k f_k over ``shared`` (the update direction d = Jᵀ w without J),
    one of Σ_k f_k over ``other`` and one of the regularizer; the graph is freed after.
    Objectives in ``exclude`` are left out of both sums (not merely weighted 0: a non-finite
    gradient times 0 is still NaN).

    Returns:
        Per parameter: the gradients of ``shared`` and of ``other`` (None where nothing
        reaches it) and the regularizer's gradients over both (or None).
    """
    params = [*shared, *other]
    live = [
        (float(w), loss)
        for k, (w, loss) in enumerate(zip(weights, losses, strict=True))
        if k not in set(exclude)
    ]
    combined = _weighted_sum(live)
    plain = _weighted_sum([(1.0, loss) for _, loss in live]) if other else None
    calls = [c for c in (combined, plain, regularizer) if c is not None]
    last = calls[-1] if calls else None
    shared_grads = list(_grad(combined, shared, retain_graph=last is not combined))
    other_grads: list[Tensor | None] = [None] * len(other)
    if plain is not None:
        other_grads = list(_grad(plain, other, retain_graph=last is not plain))
    reg_grads = None
    if regularizer is not None:
        reg_grads = [None if g is None else g.detach() for g in _grad(regularizer, params, False)]
    return shared_grads, other_grads, reg_grads


def _weighted_sum(terms: Sequence[tuple[float, Tensor]]) -> Tensor:
    """Σ w_k f_k over the losses that require grad (a zero weight keeps the term, so the
    parameters it reaches get a zero gradient rather than none)."""
    total = None
    for w, loss in terms:
        if loss.requires_grad:
            term = loss * w
            total = term if total is None else total + term
    return torch.zeros(()) if total is None else total


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
