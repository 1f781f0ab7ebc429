import numpy as np
import pytest

from moo_lenient._qp import min_norm_simplex, nnqp


@pytest.mark.parametrize("seed", range(30))
def test_nnqp_satisfies_kkt(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 9))
    rank = int(rng.integers(1, n + 1))
    a = rng.normal(size=(rank, n))
    q = a.T @ a
    q /= max(np.max(np.diag(q)), 1e-300)
    c = q @ rng.normal(size=n)  # c in the range of Q: bounded below
    x = nnqp(q, c)
    grad = q @ x - c
    assert np.all(x >= 0)
    assert np.all(grad >= -1e-9)  # dual feasibility
    assert abs(x @ grad) <= 1e-9  # complementarity


@pytest.mark.parametrize("seed", range(30))
def test_min_norm_simplex_is_optimal(seed):
    rng = np.random.default_rng(100 + seed)
    k = int(rng.integers(1, 10))
    j = rng.normal(size=(k, int(rng.integers(1, 12))))
    g = j @ j.T
    alpha = min_norm_simplex(g)
    assert alpha.min() >= 0 and abs(alpha.sum() - 1) < 1e-12
    value = alpha @ g @ alpha
    # KKT of min αᵀGα on the simplex: (Gα)_k >= αᵀGα, equality on the support
    ga = g @ alpha
    scale = max(np.max(np.diag(g)), 1e-300)
    assert np.all(ga >= value - 1e-9 * scale)
    assert np.all(np.abs(ga[alpha > 1e-9] - value) <= 1e-8 * scale)
    # no random simplex point does better
    samples = rng.dirichlet(np.ones(k), size=2000)
    assert np.all(np.einsum("ij,jk,ik->i", samples, g, samples) >= value - 1e-9 * scale)


def test_min_norm_of_zero_gramian_is_uniform():
    assert np.allclose(min_norm_simplex(np.zeros((3, 3))), 1 / 3)
