"""PCGrad: project each gradient off the others' conflicting directions."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from moo_lenient._qp import unit_scale
from moo_lenient.methods.base import Method


class PCGrad(Method):
    r"""Projecting conflicting gradients (Yu et al., "Gradient Surgery for Multi-Task
    Learning", NeurIPS 2020), written in weight space on the Gramian.

    The published algorithm: for each objective i, start from :math:`g_i^{PC} = g_i`; visit the
    objectives j in a random order and, whenever :math:`\langle g_i^{PC}, g_j\rangle < 0`,
    remove the conflicting component,
    :math:`g_i^{PC} \leftarrow g_i^{PC} - \frac{\langle g_i^{PC}, g_j\rangle}{\|g_j\|^2} g_j`
    (projections are onto the *original* gradients). The update is
    :math:`d = \sum_i g_i^{PC}` (the sum, as in the paper's Algorithm 1).

    In weight space each :math:`g_i^{PC} = \sum_j v^{(i)}_j g_j` with :math:`v^{(i)} = e_i`
    initially, the inner product is :math:`(G v^{(i)})_j` and the projection subtracts
    :math:`(G v^{(i)})_j / G_{jj}` from :math:`v^{(i)}_j`; the weights are
    :math:`\sum_i c_i v^{(i)}`. Only the Gramian is needed.

    **Preference.** Each gradient is scaled by :math:`c_i = K w_i` before surgery (projections
    do not depend on the scale of the gradient projected onto), so the uniform preference gives
    exactly the published algorithm and a skewed one weights the projected gradients.

    **Randomness.** The visiting order is drawn from a ``numpy`` generator seeded by ``seed``;
    its state is part of :meth:`state_dict`, so runs are reproducible and resumable. For K = 2
    the order does not matter and PCGrad has the closed form
    :math:`d = g_1 + g_2 - \frac{\langle g_1,g_2\rangle}{\|g_2\|^2} g_2
    - \frac{\langle g_1,g_2\rangle}{\|g_1\|^2} g_1` when :math:`\langle g_1,g_2\rangle < 0`.

    Diagnostics: ``num_projections`` (how many projections were applied this step).
    """

    name: ClassVar[str] = "pcgrad"
    properties: ClassVar[frozenset[str]] = frozenset({"preference_aware"})

    def __init__(self, seed: int | None = 0) -> None:
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0
        ):
            raise ValueError(f"PCGrad seed must be a non-negative integer or None, got {seed!r}")
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    def _solve(
        self, gramian: np.ndarray, preference: np.ndarray, losses: np.ndarray | None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        g, _ = unit_scale(gramian)  # projections are scale-free; unit scale avoids overflow
        k = g.shape[0]
        scale = k * preference
        total = np.zeros(k)
        projections = 0
        for i in range(k):
            v = np.zeros(k)
            v[i] = 1.0
            for j in self._rng.permutation(k):
                if j == i or g[j, j] <= 0.0:
                    continue
                dot = float(g[j] @ v)
                if dot < 0.0:
                    v[j] -= dot / g[j, j]
                    projections += 1
            total += scale[i] * v
        return total, {"num_projections": projections}

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self._rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._rng.bit_generator.state = state["rng"]

    def reset(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    def __repr__(self) -> str:
        return f"PCGrad(seed={self.seed!r})"
