"""Shared fixtures and Jacobian samplers with controlled geometry."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def random_jacobian(
    k: int, d: int, rank: int | None = None, seed: int = 0, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """U S Vᵀ with random orthonormal factors: a (k, d) matrix of the given rank."""
    gen = torch.Generator().manual_seed(seed)
    rank = min(k, d) if rank is None else rank
    u, _ = torch.linalg.qr(torch.randn(k, k, generator=gen, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=torch.float64))
    s = torch.zeros(k, d, dtype=torch.float64)
    s[range(rank), range(rank)] = torch.rand(rank, generator=gen, dtype=torch.float64) + 0.5
    return (u @ s @ v.T).to(dtype)


#: Shapes (k, d, rank) covering full-rank, rank-deficient, K = 1, K > d.
SHAPES = [
    (1, 1, 1),
    (1, 5, 1),
    (2, 3, 2),
    (2, 5, 1),
    (3, 2, 2),
    (3, 7, 3),
    (5, 9, 2),
    (6, 30, 6),
    (8, 4, 4),
    (10, 50, 3),
]
SCALES = [0.0, 1e-10, 1e-3, 1.0, 1e3, 1e10, 1e15]
