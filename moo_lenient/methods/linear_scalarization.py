"""Linear scalarization (LS): the preference-weighted sum of the gradients."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from moo_lenient.methods.base import Method


class LinearScalarization(Method):
    r"""Linear scalarization: minimize :math:`\sum_k w_k f_k`.

    .. math::  d = \sum_k w_k g_k, \qquad \text{weights} = w,

    with :math:`w` the preference normalized to sum 1 (uniform by default, which gives the mean
    gradient). The weights ignore the gradients, so the method is linear in J, but it is
    "pinned by scale": an objective whose gradient is 10-100x larger dominates the direction,
    and no point of a concave part of the front is the minimizer of any weighted sum.

    Diagnostics: none.
    """

    name: ClassVar[str] = "ls"
    properties: ClassVar[frozenset[str]] = frozenset(
        {"permutation_equivariant", "linear_under_scaling", "preference_aware"}
    )

    def _solve(
        self, gramian: np.ndarray, preference: np.ndarray, losses: np.ndarray | None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        return preference.copy(), {}
