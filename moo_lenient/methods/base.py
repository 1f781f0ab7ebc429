"""The interface every method implements: Jacobian (or Gramian) in, weights and direction out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from moo_lenient._validation import (
    ArrayLike,
    check_gramian,
    check_jacobian,
    check_preference,
    check_values,
)
from moo_lenient.jacobian import gramian as compute_gramian

#: Properties a method may claim; the shared property tests check each claim.
PROPERTIES = frozenset(
    {
        "non_conflicting",  # <g_k, d> >= 0 for every objective k
        "permutation_equivariant",  # permuting objectives permutes weights, keeps d
        # scaling g_k by c_k > 0 scales its contribution: d(diag(c) J) is linear in c (true
        # when the weights ignore the gradients, as LS, and for UPGrad's projections)
        "linear_under_scaling",
        "preference_aware",  # the preference changes the direction
    }
)


class PreferenceIgnoredWarning(UserWarning):
    """A non-uniform preference was given to a method that ignores the preference (one whose
    ``properties`` do not claim ``preference_aware``: MGDA, IMTL-G, FAMO).

    :class:`~moo_lenient.MultiObjectiveOptimizer` warns once per optimizer. Code that passes a
    preference to every method by design (a preference sweep with preference-free baselines)
    silences it: ``warnings.simplefilter("ignore", PreferenceIgnoredWarning)``.
    """


@dataclass(frozen=True)
class AggregationResult:
    """What a method returns for one Jacobian.

    Attributes:
        direction: (d,) update direction ``Σ_k weights_k g_k`` (a descent direction: the
            optimizer writes it to ``.grad``, the inner optimizer subtracts it).
        weights: (K,) float64 weights the method chose.
        diagnostics: method-specific quantities (see each method's docstring).
        gramian: (K, K) float64 Gramian ``J Jᵀ`` the weights were computed from (CPU), or
            None where no Jacobian was given.
    """

    direction: Tensor
    weights: Tensor
    diagnostics: dict[str, Any] = field(default_factory=dict)
    gramian: Tensor | None = None


class Method(ABC):
    """A multi-objective aggregation method.

    Gramian-based methods implement :meth:`_solve`, a map from the K x K Gramian
    ``G = J Jᵀ`` (float64 numpy), the normalized preference and the objective values (or None)
    to the weights. The direction is then ``weightsᵀ J``.

    Subclasses set ``name`` (the registry key) and ``properties`` (claims checked by the shared
    property tests). Stateful methods override :meth:`state_dict`, :meth:`load_state_dict` and
    :meth:`reset`; each call of a stateful method advances its state by one step.
    """

    name: ClassVar[str]
    properties: ClassVar[frozenset[str]] = frozenset()

    def __call__(
        self,
        jacobian: Tensor,
        preference: ArrayLike | None = None,
        losses: ArrayLike | None = None,
    ) -> AggregationResult:
        """Aggregate a (K, d) Jacobian into one direction.

        Args:
            jacobian: rows are the per-objective gradients g_k.
            preference: K non-negative numbers, not all zero (normalized to sum 1);
                default uniform.
            losses: K objective values, for methods that use them (PLC prices with them);
                ``None`` if unknown.
        """
        jac = check_jacobian(jacobian)
        return self.aggregate(jac, *_checked_inputs(jac.shape[0], preference, losses))

    def aggregate(
        self,
        jacobian: Tensor,
        preference: np.ndarray,
        losses: np.ndarray | None,
        gramian: np.ndarray | None = None,
    ) -> AggregationResult:
        """:meth:`__call__` without input checks, for callers that validated already.

        Args:
            jacobian: finite (K, d) tensor.
            preference: (K,) float64 numpy array, non-negative, summing to 1.
            losses: (K,) finite float64 numpy array or None.
            gramian: the symmetric float64 (K, K) Gramian of ``jacobian`` if the caller has
                it (computed here otherwise).
        """
        g = _symmetric(compute_gramian(jacobian)) if gramian is None else gramian
        return _result(jacobian, g, *self._solve(g, preference, losses))

    def aggregate_active(
        self,
        jacobian: Tensor,
        preference: np.ndarray,
        losses: np.ndarray | None,
        active: np.ndarray,
    ) -> AggregationResult:
        """:meth:`aggregate` with only the objectives in ``active`` as players this step
        (the weights of :meth:`solve_active`, combined with the Jacobian).

        Args:
            active: (K,) booleans.
        """
        g = _symmetric(compute_gramian(jacobian))
        return _result(jacobian, g, *self.solve_active(g, preference, losses, active))

    def solve_active(
        self,
        gramian: np.ndarray,
        preference: np.ndarray,
        losses: np.ndarray | None,
        active: np.ndarray,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """:meth:`solve` with only the objectives in ``active`` as players this step.

        Used for objectives without a learning signal this step (an LLM reward with no
        variance within any group has an exactly zero gradient, and a min-norm method such as
        MGDA would then return a zero update). The default solves the sub-problem of the
        active objectives (the active block of the Gramian), with the preference renormalized
        over them, and gives the others weight 0. Stateful methods override this to keep
        their per-objective state K-sized (PLC zeroes the preference of the inactive
        objectives, which its rule treats as non-players). When no active objective has a
        positive preference, or none is active, the weights are zero. Where not every
        objective is active the diagnostics carry ``active``.

        Args:
            gramian: symmetric float64 (K, K); preference, losses: as for :meth:`solve`.
            active: (K,) booleans.
        """
        active = np.asarray(active, dtype=bool)
        if active.all():
            return self._solve(gramian, preference, losses)
        k = gramian.shape[0]
        idx = np.flatnonzero(active)
        weights = np.zeros(k)
        diagnostics: dict[str, Any] = {}
        if idx.size and float(preference[idx].sum()) > 0.0:
            sub_weights, diagnostics = self._solve(
                np.ascontiguousarray(gramian[np.ix_(idx, idx)]),
                preference[idx] / preference[idx].sum(),
                None if losses is None else losses[idx],
            )
            weights[idx] = np.asarray(sub_weights, dtype=np.float64)
        return weights, {**diagnostics, "active": active.copy()}

    def weights(
        self,
        gramian: Tensor | np.ndarray,
        preference: ArrayLike | None = None,
        losses: ArrayLike | None = None,
    ) -> Tensor:
        """The K weights from the Gramian ``G = J Jᵀ`` alone (float64 tensor)."""
        g = check_gramian(gramian)
        weights, _ = self._solve(g, *_checked_inputs(g.shape[0], preference, losses))
        return torch.from_numpy(np.asarray(weights, dtype=np.float64))

    def solve(
        self, gramian: np.ndarray, preference: np.ndarray, losses: np.ndarray | None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """:meth:`weights` without input checks, for callers that validated already (the
        benchmark engine): a symmetric float64 (K, K) Gramian, a normalized preference and the
        values (or None) in; weights (K,) and the method's diagnostics out. Like every call, it
        advances a stateful method by one step."""
        return self._solve(gramian, preference, losses)

    @abstractmethod
    def _solve(
        self, gramian: np.ndarray, preference: np.ndarray, losses: np.ndarray | None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Weights from a float64 Gramian, a normalized preference and optional values."""

    def observe(self, values: np.ndarray) -> None:  # noqa: B027 (optional hook)
        """Called with the objective values measured after the step the method's last weights
        produced; methods that learn from loss changes (FAMO) use it. Default: nothing.

        Args:
            values: (K,) finite float64 numpy array (``MultiObjectiveOptimizer.observe``
                validates it), the same kind of values as the ``losses`` of the last call.
        """

    # State (stateless by default) ------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The method's state between steps; contains only tensors and Python primitives."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"{self.name} is stateless but got state {sorted(state)}")

    def reset(self) -> None:  # noqa: B027 (optional hook; stateless methods need nothing)
        """Forget any state accumulated across steps."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def as_index_tuple(mask: Sequence[bool] | np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.flatnonzero(np.asarray(mask)))


def _result(
    jacobian: Tensor, gramian: np.ndarray, weights: np.ndarray, diagnostics: dict[str, Any]
) -> AggregationResult:
    """The weights a solve gave for ``gramian``, combined with ``jacobian``."""
    w = torch.from_numpy(np.asarray(weights, dtype=np.float64))
    return AggregationResult(
        direction=_combine(w, jacobian),
        weights=w,
        diagnostics=diagnostics,
        gramian=torch.from_numpy(gramian),
    )


def _combine(weights: Tensor, jacobian: Tensor) -> Tensor:
    """Σ_k weights_k g_k in the Jacobian's dtype (float16/bfloat16 accumulate in float32).

    Weights beyond the working precision's range (a huge weight on a tiny row, as PCGrad's
    projections can give across 60 orders of magnitude) are combined in float64 instead."""
    work = torch.promote_types(jacobian.dtype, torch.float32)
    if work != torch.float64 and weights.numel() and float(weights.abs().max()) > 1e30:
        work = torch.float64
    return (weights.to(jacobian.device, work) @ jacobian.to(work)).to(jacobian.dtype)


def _symmetric(gramian: Tensor) -> np.ndarray:
    g = gramian.detach().to("cpu", torch.float64).numpy()
    return 0.5 * (g + g.T)


def _checked_inputs(
    k: int, preference: ArrayLike | None, losses: ArrayLike | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The normalized preference and the values (or None) for K objectives, validated."""
    return check_preference(preference, k), (
        None if losses is None else check_values(losses, k, "losses")
    )
