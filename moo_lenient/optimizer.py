"""MultiObjectiveOptimizer: per-objective gradients -> method -> ``.grad`` -> torch optimizer."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from moo_lenient import jacobian as jac_modes
from moo_lenient._amp import LossScaler
from moo_lenient._validation import (
    ArrayLike,
    NonFiniteError,
    all_finite,
    as_float64_vector,
    check_jacobian,
    check_preference,
    check_values,
)
from moo_lenient.jacobian import MODES, objective_gradients
from moo_lenient.methods import Method, PreferenceIgnoredWarning, get

__all__ = ["MultiObjectiveOptimizer", "StepInfo"]

Losses = Sequence[Tensor] | Tensor
NONFINITE_POLICIES = ("raise", "skip", "zero")


@dataclass(frozen=True)
class StepInfo:
    """What one optimizer step did.

    Attributes:
        weights: (K,) float64 weights the method chose (``.grad`` of the shared parameters is
            ``Σ_k weights_k g_k``).
        diagnostics: the method's diagnostics (for PLC: prices, coalition, tolerated and
            rectified sets, surplus, kappa_t, lambda_t, lenient or not, ...).
        values: (K,) objective values the method was given (the losses' values unless
            ``values=`` was passed), summed over the accumulated micro-batches.
        preference: (K,) normalized preference used for this step.
        step: index of this optimizer step (0 for the first).
        microbatches: number of ``backward`` calls aggregated in this step.
        gramian: (K, K) float64 Gramian ``J Jᵀ`` of the accumulated Jacobian over the shared
            parameters (see :attr:`grad_norms` and :attr:`cosines`).
        active: (K,) booleans, the objectives that took part in this step.
        skipped: the step was skipped (``on_nonfinite="skip"``, ``"zero"`` with nothing left
            to step on, or a ``grad_scaler`` overflow): parameters, ``.grad`` and every state
            are unchanged (but the scaler's scale, which backs off after an overflow), and
            ``diagnostics`` says why (``reason``) and how many steps were skipped so far.
    """

    weights: Tensor
    diagnostics: dict[str, Any]
    values: Tensor
    preference: Tensor
    step: int
    microbatches: int
    gramian: Tensor | None = None
    active: Tensor | None = None
    skipped: bool = False

    @property
    def grad_norms(self) -> Tensor | None:
        """(K,) gradient norms ||g_k|| over the shared parameters."""
        return None if self.gramian is None else self.gramian.diagonal().clamp_min(0).sqrt()

    @property
    def cosines(self) -> Tensor | None:
        """(K, K) pairwise cosines <g_i, g_j> / (||g_i|| ||g_j||); 0 where a norm is 0."""
        if self.gramian is None:
            return None
        n = self.grad_norms
        denom = torch.outer(n, n)
        return torch.where(denom > 0, self.gramian / denom.clamp_min(1e-300), 0.0)


@dataclass
class _Accumulated:
    """What the micro-batches of the current step left for ``step()``.

    ``params``/``params_batched``: the per-objective gradients, summed. ``subset``: the
    Jacobian of the subset (``shared``), summed. ``features``: the representation Gramian,
    summed (the features of different micro-batches are different variables, so their
    Gramians add). The weighted-backward modes (gramian, features, subset) keep each
    micro-batch's losses and regularizer with their graphs in ``graphs`` until ``step()``.
    """

    shared: Tensor | None  # (K, d_shared) or, in subset mode, (K, d_subset)
    other: list[Tensor | None]
    reached: list[bool]
    values: np.ndarray
    regularizer: list[Tensor | None] | None
    count: int = 1
    params: tuple[int, ...] = field(default=())  # ids of the parameters, to detect changes
    gramian: Tensor | None = None  # features mode
    graphs: list[tuple[list[Tensor], Tensor | None]] = field(default_factory=list)
    num_objectives: int = 0
    dropped: np.ndarray | None = None  # on_nonfinite="zero": objectives left out this step
    skip_reason: str | None = None  # on_nonfinite="skip": why this step will be skipped
    overflow: bool = False  # grad_scaler: a scaled gradient overflowed (the step is skipped)


class MultiObjectiveOptimizer:
    r"""Wrap a ``torch.optim`` optimizer to train against K objectives at once.

    Each step: (1) the gradient of every objective with respect to the trainable parameters
    (the Jacobian J, K x d), (2) the method's weights from J (or its Gramian JJᵀ, float64),
    (3) ``.grad = Σ_k weights_k g_k`` for the shared parameters, (4) ``inner.step()``.

    Example::

        opt = MultiObjectiveOptimizer(torch.optim.Adam(model.parameters(), lr=1e-3),
                                      method=PLC(), preference=[0.7, 0.3], total_steps=10_000)
        info = opt.step([loss1, loss2])   # info.weights, info.diagnostics

    **Gradient accumulation.** ``backward(losses)`` adds one micro-batch's per-objective
    gradients and loss values to an accumulator (a sum, as ``loss.backward()`` sums into
    ``.grad``: divide each micro-batch's losses by the number of micro-batches for a mean);
    ``step()`` aggregates once and steps. ``step(losses)`` is ``backward(losses)`` then
    ``step()``. ``zero_grad()`` also discards pending micro-batches.

    **``.grad``.** ``step`` *assigns* ``.grad`` (it does not add to it): the aggregated
    direction for shared parameters, the plain gradient sum of the objectives reaching each
    non-shared parameter (``shared_params``), plus the gradient of ``regularizer=`` (a loss
    added once after aggregation, such as a KL penalty). A parameter that nothing reaches gets
    ``grad = None``, so the inner optimizer skips it, as torch does. A loop therefore needs no
    ``zero_grad()``.

    **Errors.** Bad input (wrong number of losses or preference entries, a non-scalar or
    non-finite loss, a non-finite gradient, a bad preference) raises before anything is
    changed: parameters, ``.grad``, the inner optimizer's and the method's state, and pending
    micro-batches are left as they were.

    Args:
        optimizer: any ``torch.optim.Optimizer`` (LBFGS excluded: its closure re-evaluates a
            single loss, which has no multi-objective meaning here).
        method: a :class:`~moo_lenient.methods.Method` instance or a registered name
            (``moo_lenient.available()``).
        preference: K non-negative numbers, not all zero (normalized to sum 1); default
            uniform. ``step(..., preference=...)`` overrides it for one step. A non-uniform
            preference given to a method that ignores it (MGDA, IMTL-G, FAMO: not
            ``preference_aware``) warns once per optimizer (:class:`PreferenceIgnoredWarning`).
        total_steps: planned number of optimizer steps H, handed to methods with a
            ``horizon`` (PLC's decay and forecast).
        shared_params: the parameters whose per-objective gradients are aggregated; the
            others (task heads) get the plain gradient of the objectives that reach them.
            Default: every trainable parameter of ``optimizer``.
        jacobian_mode: how the per-objective gradients are obtained (see
            :mod:`moo_lenient.jacobian`): ``"params"`` (default, exact, K backward passes),
            ``"params_batched"`` (exact, one vmapped backward), ``"gramian"`` (exact, the
            Gramian block by block without the K x d Jacobian, then one weighted backward),
            ``"features"`` (weights from the gradients with respect to a representation
            passed as ``features=`` to ``backward``/``step``, then one weighted backward) or
            ``"subset"`` (weights from the Jacobian of ``subset_params``, then one weighted
            backward over all parameters).
        subset_params: the parameters the ``"subset"`` mode takes the weights from.
        gramian_block_numel: the ``"gramian"`` mode's block size (parameter elements per
            block; K gradients of one block are held at a time).
        distributed: all-reduce across the processes of ``torch.distributed`` so that every
            rank takes the identical step of the whole (concatenated) batch; default: when
            ``torch.distributed`` is initialized with more than one process. See
            ``docs/distributed.md``.
        process_group: the ``torch.distributed`` group (default: the world).
        on_nonfinite: what a NaN or inf in a loss or gradient does. ``"raise"`` (default):
            ``ValueError`` naming the objective(s) and whether the loss or its gradient was
            non-finite, nothing changed. ``"skip"``: the step is skipped (parameters, ``.grad``,
            inner optimizer and method state bit-identical; pending micro-batches dropped)
            and counted (:attr:`skipped_steps`, ``StepInfo.skipped``). ``"zero"``: the
            affected objectives get a zero gradient and weight 0 for this step (inactive, as
            with ``active=``), priced at their last finite value (parameters that only they
            reach get no gradient this step, so the inner optimizer leaves them as they are;
            in ``params_batched`` one non-finite local derivative spoils every row, as the
            other objectives' zero cotangents times inf are NaN); a non-finite regularizer is
            left out; where nothing is left (every objective, no earlier value, or a
            non-finite weighted gradient) the step is skipped as with ``"skip"``.
        grad_scaler: a ``torch.amp.GradScaler`` for float16 autocast, owned by the optimizer
            from then on (do not call its ``scale``/``step``/``update`` yourself): pass the
            *unscaled* losses computed under ``torch.autocast(..., dtype=torch.float16)``; each
            objective's backward is scaled, the Jacobian rows (and task-head and regularizer
            gradients) are unscaled before the method sees them, a step whose scaled gradients
            overflowed is skipped (``StepInfo.skipped``, reason "overflow", parameters and
            method state unchanged) and ``scaler.update()`` is called once per step, as
            ``scaler.step``/``update`` would. A non-finite gradient counts as an overflow (as
            in torch); a non-finite loss value still follows ``on_nonfinite``. Its state is in
            :meth:`state_dict`. ``params`` and ``params_batched`` modes only.

    **Micro-batches in the weighted-backward modes** (gramian, features, subset): the
    weights are known only at ``step()``, so each micro-batch's graph is kept until then and
    one backward of the weighted sum runs through all of them (activation memory grows with
    the number of micro-batches; the ``params`` modes free each graph in ``backward``).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        method: Method | str = "plc",
        preference: ArrayLike | None = None,
        total_steps: int | None = None,
        shared_params: Iterable[Tensor] | None = None,
        *,
        jacobian_mode: str = "params",
        subset_params: Iterable[Tensor] | None = None,
        gramian_block_numel: int = 2**20,
        distributed: bool | None = None,
        process_group: Any = None,
        on_nonfinite: str = "raise",
        grad_scaler: torch.amp.GradScaler | None = None,
    ) -> None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer)}")
        if isinstance(optimizer, torch.optim.LBFGS):
            raise TypeError(
                "LBFGS is not supported: its closure re-evaluates one scalar loss and has no "
                "multi-objective meaning; use a first-order optimizer (SGD, Adam, AdamW, ...)"
            )
        self.optimizer = optimizer
        if total_steps is not None:
            total_steps = int(total_steps)
            if total_steps < 1:
                raise ValueError(f"total_steps must be a positive integer, got {total_steps}")
        self.method = get(method) if isinstance(method, str) else method
        if not isinstance(self.method, Method):
            raise TypeError(f"method must be a moo_lenient Method or a name, got {type(method)}")
        if total_steps is not None and hasattr(self.method, "horizon"):
            horizon = self.method.horizon
            if horizon is None:
                self.method.horizon = total_steps
            elif horizon != total_steps:
                raise ValueError(
                    f"total_steps={total_steps} disagrees with the method's horizon={horizon}"
                )
        self.total_steps = total_steps
        self._preference_warned = False
        self._preference = None if preference is None else self._check_preference_alone(preference)
        self._warn_if_preference_ignored(self._preference)
        if not self.trainable_parameters():
            raise ValueError("the optimizer has no trainable parameters (empty parameter list)")
        self._shared_ids: set[int] | None = None
        if shared_params is not None:
            shared = list(shared_params)
            known = {id(p) for p in self.trainable_parameters()}
            unknown = [i for i, p in enumerate(shared) if id(p) not in known]
            if unknown:
                raise ValueError(
                    f"shared_params {unknown} are not trainable parameters of the optimizer"
                )
            if not shared:
                raise ValueError("shared_params is empty")
            self._shared_ids = {id(p) for p in shared}
        if jacobian_mode not in MODES:
            raise ValueError(f"jacobian_mode must be one of {list(MODES)}, got {jacobian_mode!r}")
        self.jacobian_mode = jacobian_mode
        self._subset: list[Tensor] = []
        if jacobian_mode == "subset":
            if subset_params is None:
                raise ValueError("jacobian_mode='subset' needs subset_params (a non-empty list)")
            self._subset = list(subset_params)
            shared_now, _ = self._split_params()
            known = {id(p) for p in shared_now}
            unknown = [i for i, p in enumerate(self._subset) if id(p) not in known]
            if not self._subset or unknown:
                raise ValueError(
                    "subset_params must be a non-empty list of shared trainable parameters of "
                    f"the optimizer (entries {unknown} are not)"
                )
        elif subset_params is not None:
            raise ValueError("subset_params goes with jacobian_mode='subset'")
        if int(gramian_block_numel) != gramian_block_numel or gramian_block_numel < 1:
            raise ValueError(
                f"gramian_block_numel must be a positive integer, got {gramian_block_numel!r}"
            )
        self.gramian_block_numel = int(gramian_block_numel)
        self._batched_fallback = False
        self._process_group = process_group
        self._distributed = distributed
        if on_nonfinite not in NONFINITE_POLICIES:
            raise ValueError(
                f"on_nonfinite must be one of {list(NONFINITE_POLICIES)}, got {on_nonfinite!r}"
            )
        self.on_nonfinite = on_nonfinite
        self._scaler: LossScaler | None = None
        if grad_scaler is not None:
            if jacobian_mode not in ("params", "params_batched"):
                raise ValueError(
                    "grad_scaler is supported with jacobian_mode 'params' or 'params_batched' "
                    f"(not {jacobian_mode!r}, whose weighted backward is not scaled yet); for "
                    "that mode use bfloat16 autocast, which needs no scaler"
                )
            device = self.trainable_parameters()[0].device
            self._scaler = LossScaler(grad_scaler, device)
        self._skipped = 0
        self._last_values: np.ndarray | None = None
        self._num_objectives: int | None = None
        self._pending: _Accumulated | None = None
        self._step = 0

    # torch.optim-like surface -----------------------------------------------------------------
    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.optimizer.param_groups

    @property
    def state(self) -> Any:
        return self.optimizer.state

    @property
    def step_count(self) -> int:
        """Number of optimizer steps taken (accumulated micro-batches count as one)."""
        return self._step

    @property
    def skipped_steps(self) -> int:
        """Number of steps skipped for non-finite losses or gradients (``on_nonfinite``) or a
        ``grad_scaler`` overflow."""
        return self._skipped

    @property
    def num_objectives(self) -> int | None:
        """K, fixed by the first ``backward``/``step`` (or a loaded state dict)."""
        return self._num_objectives

    @property
    def preference(self) -> Tensor | None:
        """The default preference (normalized), or None for uniform."""
        return None if self._preference is None else torch.from_numpy(self._preference.copy())

    @preference.setter
    def preference(self, value: ArrayLike | None) -> None:
        if value is None:
            self._preference = None
            return
        w = self._check_preference_alone(value)
        if self._num_objectives is not None:
            w = check_preference(w, self._num_objectives)
        self._warn_if_preference_ignored(w)
        self._preference = w

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        self.optimizer.add_param_group(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Zero the inner optimizer's gradients and discard pending micro-batches."""
        self.optimizer.zero_grad(set_to_none=set_to_none)
        self._pending = None

    def state_dict(self) -> dict[str, Any]:
        """Inner optimizer state, method state (e.g. PLC's step counter and EMAs) and step.

        Taken between steps: pending micro-batches are not part of it.
        """
        return {
            "optimizer": self.optimizer.state_dict(),
            "method_name": self.method.name,
            "method": self.method.state_dict(),
            "step": self._step,
            "num_objectives": self._num_objectives,
            "skipped_steps": self._skipped,
            "last_values": None
            if self._last_values is None
            else torch.from_numpy(self._last_values.copy()),
            "grad_scaler": None if self._scaler is None else self._scaler.scaler.state_dict(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state dict from :meth:`state_dict`; checks method and K first."""
        missing = {"optimizer", "method_name", "method", "step", "num_objectives"} - set(state_dict)
        if missing:
            raise ValueError(f"not a MultiObjectiveOptimizer state dict: missing {sorted(missing)}")
        if state_dict["method_name"] != self.method.name:
            raise ValueError(
                f"state dict is for method {state_dict['method_name']!r}, "
                f"this optimizer uses {self.method.name!r}"
            )
        k = state_dict["num_objectives"]
        if k is not None and self._num_objectives is not None and k != self._num_objectives:
            raise ValueError(
                f"state dict is for {k} objectives, this optimizer has {self._num_objectives}"
            )
        if k is not None and self._preference is not None and self._preference.size != k:
            raise ValueError(
                f"state dict is for {k} objectives but the preference has {self._preference.size}"
            )
        self.optimizer.load_state_dict(state_dict["optimizer"])
        self.method.load_state_dict(state_dict["method"])
        scaler_state = state_dict.get("grad_scaler")
        if self._scaler is not None and scaler_state:
            self._scaler.scaler.load_state_dict(scaler_state)
        self._step = int(state_dict["step"])
        self._num_objectives = k
        self._skipped = int(state_dict.get("skipped_steps", 0))
        last = state_dict.get("last_values")
        self._last_values = None if last is None else np.asarray(last, dtype=np.float64).copy()
        self._pending = None

    # The two halves of a step -----------------------------------------------------------------
    def backward(
        self,
        losses: Losses,
        *,
        values: ArrayLike | None = None,
        regularizer: Tensor | None = None,
        features: Tensor | Sequence[Tensor] | None = None,
    ) -> None:
        """Add one micro-batch's per-objective gradients (and values) to the accumulator.

        Args:
            losses: K scalar tensors (list/tuple) or a 1-D tensor of K.
            values: K floats the method prices with instead of the losses' values (for
                surrogate losses such as policy-gradient losses).
            regularizer: optional scalar whose plain gradient is added once after
                aggregation (not an objective).
            features: the ``"features"`` mode's shared representation (a tensor, or several,
                in the losses' graph), e.g. the encoder's output for this micro-batch.
        """
        self._pending = self._accumulate(losses, values, regularizer, features)

    def step(
        self,
        losses: Losses | None = None,
        *,
        preference: ArrayLike | None = None,
        values: ArrayLike | None = None,
        regularizer: Tensor | None = None,
        active: ArrayLike | None = None,
        features: Tensor | Sequence[Tensor] | None = None,
    ) -> StepInfo:
        """Aggregate the accumulated gradients, write ``.grad`` and step the inner optimizer.

        Args:
            losses: this step's losses (``backward(losses)`` first), or None to use what
                ``backward`` accumulated.
            preference: the preference for this step only (default: the optimizer's).
            values: with ``losses``: as in :meth:`backward`. Without: K values that replace
                the accumulated ones for this step.
            regularizer: with ``losses``, as in :meth:`backward`.
            active: K booleans: the objectives that take part in this step (default all);
                the others get weight 0 (see :meth:`Method.aggregate_active`). For objectives
                with no learning signal this step, e.g. an LLM reward with no variance.
            features: with ``losses``, as in :meth:`backward`.
        """
        info = self.aggregate(
            losses,
            preference=preference,
            values=values,
            regularizer=regularizer,
            active=active,
            features=features,
        )
        if not info.skipped:
            self.optimizer.step()
        return info

    def aggregate(
        self,
        losses: Losses | None = None,
        *,
        preference: ArrayLike | None = None,
        values: ArrayLike | None = None,
        regularizer: Tensor | None = None,
        active: ArrayLike | None = None,
        features: Tensor | Sequence[Tensor] | None = None,
    ) -> StepInfo:
        """:meth:`step` without the inner optimizer's step: only ``.grad`` is written.

        For trainers that step the optimizer themselves (the Hugging Face ``Trainer`` clips
        gradients, steps and schedules the learning rate after the backward pass). Counts as
        one optimizer step for the method's schedule and :attr:`step_count`.
        """
        distributed = self._is_distributed()  # raises early if asked for but not initialized
        if losses is None:
            if regularizer is not None or features is not None:
                raise ValueError("regularizer= and features= go with losses (or with backward())")
            if self._pending is None:
                raise RuntimeError("step() without losses needs a previous backward(losses)")
            pending = self._pending
            k = pending.num_objectives
            vals = pending.values if values is None else check_values(values, k, "values")
        else:
            items = self._as_loss_list(losses)
            k = len(items)
            self._check_k(k)
            if preference is not None:  # checked before any gradient is computed
                check_preference(preference, k)
            if active is not None:
                _check_active(active, k)
            pending = self._accumulate(items, values, regularizer, features)
            vals = pending.values
        pref = check_preference(self._preference if preference is None else preference, k)
        if preference is not None:
            self._warn_if_preference_ignored(pref)
        mask = np.ones(k, dtype=bool) if active is None else _check_active(active, k)

        if distributed and (self.on_nonfinite != "raise" or self._scaler is not None):
            pending = self._agree_on_nonfinite(pending)
        if pending.skip_reason is not None:
            if pending.overflow:  # the scaler backs off; nothing else changes
                self._scaler.update(found_inf=True)
            return self._skip(pending, pref, pending.skip_reason)
        dropped = np.zeros(k, dtype=bool) if pending.dropped is None else pending.dropped
        if dropped.any():
            mask = mask & ~dropped
            vals = np.where(dropped, self._last_values, vals)
        if distributed:
            vals = self._mean_values(vals)
        try:
            if self.jacobian_mode in ("params", "params_batched"):
                used, weights, diagnostics, gram, direction = self._solve_jacobian(
                    pending, pref, vals, mask
                )
                self._write_grads(used, direction)
            else:
                weights, diagnostics, gram = self._solve_weighted(
                    pending, pref, vals, mask, np.flatnonzero(dropped)
                )
        except (FloatingPointError, NonFiniteError) as exc:
            if self.on_nonfinite == "raise":
                raise
            return self._skip(pending, pref, str(exc))
        if dropped.any():
            diagnostics = {**diagnostics, "nonfinite": [int(i) for i in np.flatnonzero(dropped)]}
        if self._scaler is not None:
            self._scaler.update(found_inf=False)
        info = StepInfo(
            weights=weights,
            diagnostics=diagnostics,
            values=torch.from_numpy(np.asarray(vals, dtype=np.float64).copy()),
            preference=torch.from_numpy(pref),
            step=self._step,
            microbatches=pending.count,
            gramian=gram,
            active=torch.from_numpy(mask.copy()),
        )
        self._num_objectives = k
        self._step += 1
        self._pending = None
        self._last_values = np.where(
            dropped, self._last_values if self._last_values is not None else 0.0, vals
        )
        return info

    def _skip(self, pending: _Accumulated, pref: np.ndarray, reason: str) -> StepInfo:
        """Skip this step: nothing changes but the count (``on_nonfinite``)."""
        k = pending.num_objectives
        self._skipped += 1
        self._pending = None
        return StepInfo(
            weights=torch.zeros(k, dtype=torch.float64),
            diagnostics={"skipped": True, "reason": reason, "skipped_steps": self._skipped},
            values=torch.from_numpy(np.asarray(pending.values, dtype=np.float64).copy()),
            preference=torch.from_numpy(pref),
            step=self._step,
            microbatches=pending.count,
            active=torch.zeros(k, dtype=torch.bool),
            skipped=True,
        )

    def observe(self, values: ArrayLike) -> None:
        """Report the objective values measured after the last step to the method.

        For methods that learn from loss changes (FAMO: the log-loss decrease of each
        objective over the step updates its task weights); for the others it does nothing.
        The values must be of the same kind as those the step priced with (the losses'
        values, or ``values=``), typically the same batch evaluated again after the step::

            info = opt.step(losses)
            with torch.no_grad():
                losses_after = compute_losses(model, batch)
            opt.observe([l.item() for l in losses_after])

        Without ``observe``, FAMO takes the next step's values as the post-step values of
        the previous step (no extra forward pass; see :class:`~moo_lenient.methods.FAMO`).

        Args:
            values: K finite numbers (a sequence, array or 1-D tensor), checked like
                ``values=`` of :meth:`step`.

        Raises ``RuntimeError`` before the first step (K unknown). Bad values raise
        ``ValueError`` before anything changes; if the method fails, its state is restored.
        """
        k = self._num_objectives
        if k is None:
            raise RuntimeError("observe() reports the values after a step: call step() first")
        vals = check_values(values, k, "values")
        method_state = self.method.state_dict()  # restored if the method fails
        try:
            self.method.observe(vals)
        except Exception:
            self.method.load_state_dict(method_state)
            raise

    # Internals --------------------------------------------------------------------------------
    def trainable_parameters(self) -> list[Tensor]:
        """The inner optimizer's parameters that require grad, each once, in group order."""
        seen: set[int] = set()
        params = []
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                if p.requires_grad and id(p) not in seen:
                    seen.add(id(p))
                    params.append(p)
        return params

    def _split_params(self) -> tuple[list[Tensor], list[Tensor]]:
        params = self.trainable_parameters()
        if not params:
            raise ValueError("the optimizer has no trainable parameters (empty parameter list)")
        if self._shared_ids is None:
            return params, []
        shared = [p for p in params if id(p) in self._shared_ids]
        return shared, [p for p in params if id(p) not in self._shared_ids]

    def _warn_if_preference_ignored(self, preference: np.ndarray | None) -> None:
        """Warn once per optimizer when a non-uniform preference goes to a method that ignores
        it (its properties do not claim ``preference_aware``)."""
        if (
            self._preference_warned
            or preference is None
            or "preference_aware" in self.method.properties
            or float(np.ptp(preference)) <= 1e-12
        ):
            return
        self._preference_warned = True
        warnings.warn(
            f"{self.method!r} ignores the preference (it is not preference_aware), so the "
            f"non-uniform preference {np.round(preference, 4).tolist()} has no effect on its "
            "steps; pick a preference-aware method (moo_lenient.available(), e.g. 'plc', "
            "'epo', 'ls'), or silence PreferenceIgnoredWarning where a sweep passes a "
            "preference to every method by design",
            PreferenceIgnoredWarning,
            stacklevel=3,
        )

    @staticmethod
    def _check_preference_alone(preference: ArrayLike) -> np.ndarray:
        w = as_float64_vector(preference, "preference")
        return check_preference(w, w.shape[0])

    def _check_k(self, k: int) -> None:
        if self._num_objectives is not None and k != self._num_objectives:
            raise ValueError(
                f"got {k} losses but this optimizer has {self._num_objectives} objectives"
            )
        if self._preference is not None and self._preference.size != k:
            raise ValueError(
                f"got {k} losses but the preference has {self._preference.size} entries"
            )

    @staticmethod
    def _as_loss_list(losses: Losses) -> list[Tensor]:
        if isinstance(losses, Tensor):
            if losses.ndim != 1:
                raise ValueError(
                    f"losses given as a tensor must be 1-D (one entry per objective), "
                    f"got shape {tuple(losses.shape)}"
                )
            items = list(losses.unbind())
        elif isinstance(losses, Sequence) and not isinstance(losses, str):
            items = list(losses)
        else:
            raise TypeError(
                f"losses must be a list/tuple of scalar tensors or a 1-D tensor, got {type(losses)}"
            )
        if not items:
            raise ValueError("losses is empty: give one scalar loss per objective")
        for k, loss in enumerate(items):
            if not isinstance(loss, Tensor):
                raise TypeError(f"loss {k} is not a tensor (got {type(loss).__name__})")
            if loss.ndim != 0:
                raise ValueError(
                    f"loss {k} is not a scalar (shape {tuple(loss.shape)}); reduce it first, "
                    "e.g. with .mean()"
                )
        return items

    def _accumulate(
        self,
        losses: Losses,
        values: ArrayLike | None,
        regularizer: Tensor | None,
        features: Tensor | Sequence[Tensor] | None = None,
    ) -> _Accumulated:
        """Validate one micro-batch and return the accumulator with it added (no mutation)."""
        items = self._as_loss_list(losses)
        k = len(items)
        self._check_k(k)
        loss_values = np.array([float(loss.detach().to(torch.float64)) for loss in items])
        policy = self.on_nonfinite
        bad = [i for i in range(k) if not np.isfinite(loss_values[i])]
        if bad and policy == "raise":
            raise NonFiniteError(
                f"loss of objective(s) {bad} is not finite: {loss_values.tolist()}"
            )
        detached = [i for i, loss in enumerate(items) if not loss.requires_grad]
        if detached:
            what = "no loss requires grad" if len(detached) == k else "a loss is not attached"
            raise ValueError(
                f"{what}: the loss of objective(s) {detached} is not attached to the autograd "
                "graph (requires_grad is False: computed under torch.no_grad(), detached, or a "
                "constant). Its gradient would count as zero, and a min-norm method would put "
                "all the weight on it and take no step. Compute every loss from the model's "
                "output (a loss whose gradient is zero but that is attached is fine)"
            )
        vals = loss_values if values is None else check_values(values, k, "values")
        if regularizer is not None:
            if not isinstance(regularizer, Tensor) or regularizer.ndim != 0:
                raise ValueError("regularizer must be a scalar tensor")
            if not bool(torch.isfinite(regularizer.detach())):
                if policy == "raise":
                    raise NonFiniteError("regularizer is not finite")
                if policy == "skip":
                    bad_reg = "regularizer is not finite"
                    return self._poisoned(bad_reg, k, vals)
                regularizer = None  # "zero": left out of this micro-batch
        feats = self._check_features(features)
        shared, other = self._split_params()
        ids = tuple(id(p) for p in (*shared, *other))
        pending = self._pending
        if pending is not None and (pending.params != ids or pending.num_objectives != k):
            raise RuntimeError("the parameters or K changed between backward() calls of one step")
        if pending is not None and pending.skip_reason is not None:  # skipped anyway
            return self._poisoned(pending.skip_reason, k, vals, overflow=pending.overflow)
        if bad:
            reason = f"loss of objective(s) {bad} is not finite: {loss_values.tolist()}"
            if policy == "skip" or self._last_values is None or len(bad) == k:
                return self._poisoned(reason, k, vals)
            items = [
                torch.zeros((), dtype=loss.dtype, device=loss.device) if i in bad else loss
                for i, loss in enumerate(items)
            ]
            vals = np.where(np.isfinite(vals), vals, 0.0)  # priced at the last value in step()

        try:
            return self._differentiate(items, vals, regularizer, feats, shared, other, ids, bad)
        except RuntimeError as exc:
            if "second time" not in str(exc):
                raise
            raise RuntimeError(
                "the losses' graph was already used (and freed) by an earlier step() or "
                "backward(): compute the losses anew for every step"
            ) from exc

    def _differentiate(
        self,
        items: list[Tensor],
        vals: np.ndarray,
        regularizer: Tensor | None,
        feats: list[Tensor],
        shared: list[Tensor],
        other: list[Tensor],
        ids: tuple[int, ...],
        bad: list[int],
    ) -> _Accumulated:
        """The mode's per-objective quantities of one validated micro-batch, added to the
        pending accumulator (``on_nonfinite`` applied)."""
        k = len(items)
        policy = self.on_nonfinite
        pending = self._pending
        drop = policy != "raise"
        dropped = list(bad)
        mode = self.jacobian_mode
        if mode in ("params", "params_batched"):
            if self._scaler is not None and self._scaler.enabled:
                grads = self._scaled_gradients(items, shared, other, regularizer)
                if grads is None:
                    scale = 1 / self._scaler.inverse()
                    reason = (
                        f"overflow: a gradient scaled by the GradScaler's {scale:g} is not "
                        "finite; the step is skipped and the scale backs off"
                    )
                    return self._poisoned(reason, k, vals, overflow=True)
            else:
                grads = self._objective_gradients(items, shared, other, regularizer, drop)
            dropped += grads.dropped
            check_jacobian(grads.shared)  # names the objective(s) whose gradient is not finite
            reg_grads = grads.regularizer
            if any(g is not None and not all_finite(g) for g in reg_grads or []):
                if policy == "raise":
                    raise NonFiniteError("a regularizer gradient is not finite (NaN or inf)")
                if policy == "skip":
                    return self._poisoned("a regularizer gradient is not finite", k, vals)
                reg_grads = None
            if any(g is not None and not all_finite(g) for g in grads.other):
                raise NonFiniteError("a task-specific gradient is not finite (NaN or inf)")
            new = _Accumulated(
                grads.shared,
                grads.other,
                grads.reached,
                vals,
                reg_grads,
                1,
                ids,
                num_objectives=k,
            )
        else:  # weighted-backward modes: keep the graph for step()
            subset_jac, gram = None, None
            if mode == "subset":
                sub = objective_gradients(
                    items, self._subset, retain_graph=True, drop_nonfinite=drop
                )
                if sub.unreached:
                    raise ValueError(
                        f"the loss of objective(s) {sub.unreached} does not depend on any of "
                        "subset_params: the weights come from the subset's Jacobian, where "
                        "its row would be zero; pick a subset every objective reaches (e.g. "
                        "the shared layers or the adapters of the shared model)"
                    )
                subset_jac = check_jacobian(sub.shared)
                dropped += sub.dropped
            elif mode == "features":
                _, gram, lost = jac_modes.representation_gramian(items, feats, drop)
                dropped += lost
            new = _Accumulated(
                subset_jac,
                [],
                [],
                vals,
                None,
                1,
                ids,
                gramian=gram,
                graphs=[(items, regularizer)],
                num_objectives=k,
            )
        dropped = sorted(set(dropped))
        if dropped:
            reason = f"gradient of objective(s) {dropped} is not finite (NaN or inf)"
            if policy == "skip" or self._last_values is None or len(dropped) == k:
                return self._poisoned(reason, k, vals)
            new.dropped = np.isin(np.arange(k), dropped)
        if pending is None:
            return new
        return _Accumulated(
            shared=_add(pending.shared, new.shared),
            other=[_add(a, b) for a, b in zip(pending.other, new.other, strict=True)],
            reached=[a or b for a, b in zip(pending.reached, new.reached, strict=True)],
            values=pending.values + vals,
            regularizer=_add_lists(pending.regularizer, new.regularizer),
            count=pending.count + 1,
            params=ids,
            gramian=_add(pending.gramian, new.gramian),
            graphs=pending.graphs + new.graphs,
            num_objectives=k,
            dropped=_or_masks(pending.dropped, new.dropped),
        )

    def _poisoned(
        self, reason: str, k: int, vals: np.ndarray, overflow: bool = False
    ) -> _Accumulated:
        """An accumulator whose step will be skipped (``on_nonfinite``, or a ``grad_scaler``
        overflow), counting this micro-batch; no gradient is kept."""
        pending = self._pending
        count = 1 if pending is None else pending.count + 1
        shared, other = self._split_params()
        ids = tuple(id(p) for p in (*shared, *other))
        return _Accumulated(
            None,
            [],
            [],
            np.asarray(vals, dtype=np.float64),
            None,
            count,
            ids,
            num_objectives=k,
            skip_reason=reason,
            overflow=overflow,
        )

    def _check_features(self, features: Tensor | Sequence[Tensor] | None) -> list[Tensor]:
        if self.jacobian_mode != "features":
            if features is not None:
                raise ValueError("features= goes with jacobian_mode='features'")
            return []
        if features is None:
            raise ValueError(
                "jacobian_mode='features' needs features= (the shared representation the "
                "losses are computed from, e.g. the encoder's output) with every backward/step"
            )
        feats = [features] if isinstance(features, Tensor) else list(features)
        if not feats or not all(isinstance(z, Tensor) and z.requires_grad for z in feats):
            raise ValueError(
                "features must be a tensor (or tensors) in the losses' graph that requires grad"
            )
        return feats

    def _scaled_gradients(
        self,
        items: list[Tensor],
        shared: list[Tensor],
        other: list[Tensor],
        reg: Tensor | None,
    ) -> jac_modes.ObjectiveGradients | None:
        """The gradients of the losses scaled by the GradScaler's S, unscaled (times 1/S, in
        the gradients' dtype: exact for a power-of-two S); None if a scaled one overflowed."""
        scaler = self._scaler
        grads = self._objective_gradients(
            [scaler.scale(loss) for loss in items], shared, other, scaler.scale(reg)
        )
        every = [grads.shared, *grads.other, *(grads.regularizer or [])]
        if not all(g is None or all_finite(g) for g in every):
            return None
        inv = scaler.inverse()
        grads.shared.mul_(inv)
        grads.other = [None if g is None else g * inv for g in grads.other]
        if grads.regularizer is not None:
            grads.regularizer = [None if g is None else g * inv for g in grads.regularizer]
        return grads

    def _objective_gradients(
        self,
        items: list[Tensor],
        shared: list[Tensor],
        other: list[Tensor],
        reg: Tensor | None,
        drop: bool = False,
    ) -> jac_modes.ObjectiveGradients:
        batched = self.jacobian_mode == "params_batched" and not self._batched_fallback
        if not batched:
            return objective_gradients(items, shared, other, reg, drop_nonfinite=drop)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", jac_modes.BatchedGradientWarning)
            grads = objective_gradients(
                items, shared, other, reg, batched=True, drop_nonfinite=drop
            )
        fell_back = [w for w in caught if issubclass(w.category, jac_modes.BatchedGradientWarning)]
        if fell_back:  # warn once; later steps go sequential directly
            self._batched_fallback = True
            warnings.warn(str(fell_back[0].message), jac_modes.BatchedGradientWarning, stacklevel=4)
        return grads

    # Aggregation per mode -----------------------------------------------------------------------
    def _solve_jacobian(
        self, pending: _Accumulated, pref: np.ndarray, vals: np.ndarray, mask: np.ndarray
    ) -> tuple[_Accumulated, Tensor, dict[str, Any], Tensor | None, Tensor]:
        """params modes: the method on the (all-reduced) Jacobian. Returns the accumulator
        used (all-reduced under torch.distributed), weights, diagnostics, Gramian, direction."""
        if self._is_distributed():
            pending = self._reduced_copy(pending)
        method_state = self.method.state_dict()  # restored if aggregation fails
        try:
            result = self.method.aggregate_active(pending.shared, pref, vals, mask)
            if not all_finite(result.direction):
                raise FloatingPointError(
                    f"{self.method!r} returned a non-finite direction; nothing was changed"
                )
        except Exception:
            self.method.load_state_dict(method_state)
            raise
        return pending, result.weights, result.diagnostics, result.gramian, result.direction

    def _solve_weighted(
        self,
        pending: _Accumulated,
        pref: np.ndarray,
        vals: np.ndarray,
        mask: np.ndarray,
        exclude: Sequence[int] = (),
    ) -> tuple[Tensor, dict[str, Any], Tensor]:
        """gramian, features and subset modes: the weights from the mode's Gramian, then one
        backward of the weighted sum (through every kept micro-batch graph) writes ``.grad``."""
        shared, other = self._split_params()
        k = pending.num_objectives
        totals = [_sum_tensors([g[0][i] for g in pending.graphs]) for i in range(k)]
        regs = [g[1] for g in pending.graphs if g[1] is not None]
        reg = _sum_tensors(regs) if regs else None
        reduce = self._all_reduce_mean if self._is_distributed() else None
        if self.jacobian_mode == "gramian":
            gram, _ = jac_modes.blockwise_gramian(totals, shared, self.gramian_block_numel, reduce)
        elif self.jacobian_mode == "features":
            gram = pending.gramian.clone()
            if reduce is not None:  # Σ over ranks of (1/W ∂f_r/∂z_r)(...)ᵀ = Σ_r G_r / W²
                world = self._world_size()
                self._all_reduce_sum(gram)
                gram /= world * world
        else:
            jac = pending.shared.clone()
            if reduce is not None:
                reduce(jac)
            gram = jac_modes.gramian(jac).cpu()
        g = gram.numpy()
        g = 0.5 * (g + g.T)
        method_state = self.method.state_dict()
        try:
            weights_np, diagnostics = self.method.solve_active(g, pref, vals, mask)
            weights = torch.from_numpy(np.asarray(weights_np, dtype=np.float64))
            if not bool(torch.isfinite(weights).all()):
                raise FloatingPointError(
                    f"{self.method!r} returned non-finite weights; nothing was changed"
                )
            grads_shared, grads_other, grads_reg = jac_modes.weighted_gradients(
                totals, weights.tolist(), shared, other, reg, exclude=exclude
            )
            if reduce is not None:
                grads_shared, grads_other, grads_reg = self._reduce_grad_lists(
                    shared, other, grads_shared, grads_other, grads_reg
                )
            every = [*grads_shared, *grads_other, *(grads_reg or [])]
            if any(x is not None and not all_finite(x) for x in every):
                raise NonFiniteError(
                    "the weighted gradient is not finite (NaN or inf); nothing was changed"
                )
        except Exception:
            self.method.load_state_dict(method_state)
            raise
        for i, p in enumerate(shared):
            self._set_grad(p, grads_shared[i], grads_reg[i] if grads_reg else None)
        for j, p in enumerate(other):
            i = len(shared) + j
            self._set_grad(p, grads_other[j], grads_reg[i] if grads_reg else None)
        return weights, diagnostics, torch.from_numpy(g)

    # Distributed ----------------------------------------------------------------------------
    def _agree_on_nonfinite(self, pending: _Accumulated) -> _Accumulated:
        """Every rank skips if one does, and leaves out every objective one leaves out."""
        k = pending.num_objectives
        flags = torch.zeros(k + 2, dtype=torch.float64)
        flags[0] = pending.skip_reason is not None
        flags[1] = pending.overflow
        if pending.dropped is not None:
            flags[2:] = torch.from_numpy(pending.dropped.astype(np.float64))
        self._all_reduce_sum(flags)
        if flags[1] > 0 and not pending.overflow:  # every rank backs its scaler off alike
            return replace(pending, skip_reason="overflow on another process", overflow=True)
        if flags[0] > 0 and pending.skip_reason is None:
            return replace(pending, skip_reason="another process's step was not finite")
        dropped = (flags[2:] > 0).numpy()
        return replace(pending, dropped=dropped if dropped.any() else None)

    def _is_distributed(self) -> bool:
        if self._distributed is False:
            return False
        import torch.distributed as dist

        ready = dist.is_available() and dist.is_initialized()
        if self._distributed and not ready:
            raise RuntimeError("distributed=True but torch.distributed is not initialized")
        return ready and self._world_size() > 1

    def _world_size(self) -> int:
        import torch.distributed as dist

        return dist.get_world_size(self._process_group)

    def _all_reduce_sum(self, tensor: Tensor) -> None:
        import torch.distributed as dist

        dist.all_reduce(tensor, op=dist.ReduceOp.SUM, group=self._process_group)

    def _all_reduce_mean(self, tensor: Tensor) -> None:
        self._all_reduce_sum(tensor)
        tensor /= self._world_size()

    def _mean_values(self, vals: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(np.asarray(vals, dtype=np.float64).copy())
        self._all_reduce_mean(t)
        return t.numpy()

    def _reduced_copy(self, pending: _Accumulated) -> _Accumulated:
        """The accumulator averaged over the processes (copies; ``pending`` is untouched)."""
        shared, other = self._split_params()
        jac = pending.shared.clone()
        self._all_reduce_mean(jac)
        reached = torch.tensor(pending.reached, dtype=torch.float64)
        self._all_reduce_sum(reached)
        reached_all = [bool(r > 0) for r in reached]
        other_grads = self._reduce_list(other, pending.other, reached_all[len(shared) :])
        reg = None
        if pending.regularizer is not None or self._any_rank(pending.regularizer is not None):
            reg_in = pending.regularizer or [None] * (len(shared) + len(other))
            reg = self._reduce_list([*shared, *other], reg_in, [True] * len(reg_in))
        return _Accumulated(
            jac,
            other_grads,
            reached_all,
            pending.values,
            reg,
            pending.count,
            pending.params,
            num_objectives=pending.num_objectives,
        )

    def _reduce_grad_lists(
        self,
        shared: list[Tensor],
        other: list[Tensor],
        grads_shared: list[Tensor | None],
        grads_other: list[Tensor | None],
        grads_reg: list[Tensor | None] | None,
    ) -> tuple[list[Tensor | None], list[Tensor | None], list[Tensor | None] | None]:
        reached = torch.tensor(
            [g is not None for g in (*grads_shared, *grads_other)], dtype=torch.float64
        )
        self._all_reduce_sum(reached)
        flags = [bool(r > 0) for r in reached]
        out_shared = self._reduce_list(shared, grads_shared, flags[: len(shared)])
        out_other = self._reduce_list(other, grads_other, flags[len(shared) :])
        reg = None
        if grads_reg is not None or self._any_rank(grads_reg is not None):
            reg_in = grads_reg or [None] * (len(shared) + len(other))
            reg = self._reduce_list([*shared, *other], reg_in, [True] * len(reg_in))
        return out_shared, out_other, reg

    def _reduce_list(
        self, params: list[Tensor], grads: list[Tensor | None], keep: list[bool]
    ) -> list[Tensor | None]:
        """Average per-parameter gradients over the processes in one flat all-reduce; a
        gradient missing on this rank counts as zero where another rank has it."""
        parts = [
            (g if g is not None else torch.zeros_like(p)).reshape(-1).to(torch.float64)
            for p, g, kept in zip(params, grads, keep, strict=True)
            if kept
        ]
        if not parts:
            return [None] * len(params)
        flat = torch.cat(parts)
        self._all_reduce_mean(flat)
        out: list[Tensor | None] = []
        offset = 0
        for p, g, kept in zip(params, grads, keep, strict=True):
            if not kept:
                out.append(None)
                continue
            n = p.numel()
            dtype = p.dtype if g is None else g.dtype
            out.append(flat[offset : offset + n].view_as(p).to(dtype))
            offset += n
        return out

    def _any_rank(self, flag: bool) -> bool:
        t = torch.tensor([1.0 if flag else 0.0], dtype=torch.float64)
        self._all_reduce_sum(t)
        return bool(t.item() > 0)

    def _write_grads(self, pending: _Accumulated, direction: Tensor) -> None:
        shared, other = self._split_params()
        offset = 0
        for i, p in enumerate(shared):
            n = p.numel()
            g = (
                direction[offset : offset + n].view_as(p).to(p.dtype)
                if pending.reached[i]
                else None
            )
            offset += n
            self._set_grad(p, g, pending.regularizer[i] if pending.regularizer else None)
        for j, p in enumerate(other):
            i = len(shared) + j
            self._set_grad(
                p, pending.other[j], pending.regularizer[i] if pending.regularizer else None
            )

    @staticmethod
    def _set_grad(p: Tensor, g: Tensor | None, reg: Tensor | None) -> None:
        """Assign (not add) ``g + reg``. Every tensor here is the optimizer's own (a slice of
        the fresh direction, or a gradient autograd returned), so no copy is needed."""
        total = _add(g, reg)
        p.grad = None if total is None else total.detach().to(p.dtype).view_as(p)


def _or_masks(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return b
    if b is None:
        return a
    return a | b


def _sum_tensors(items: Sequence[Tensor]) -> Tensor:
    total = items[0]
    for x in items[1:]:
        total = total + x
    return total


def _add(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _add_lists(
    a: list[Tensor | None] | None, b: list[Tensor | None] | None
) -> list[Tensor | None] | None:
    if a is None:
        return b
    if b is None:
        return a
    return [_add(x, y) for x, y in zip(a, b, strict=True)]


def _check_active(active: ArrayLike, k: int) -> np.ndarray:
    mask = np.asarray(active.detach().cpu() if isinstance(active, Tensor) else active)
    if mask.shape != (k,) or mask.dtype != np.bool_:
        raise ValueError(f"active must be {k} booleans (one per objective), got {mask!r}")
    return mask.copy()
