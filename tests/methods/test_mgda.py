import numpy as np
import pytest
import torch
from torchjd.aggregation import MGDAWeighting

from moo_lenient.methods import MGDA
from tests.conftest import random_jacobian
from tests.tolerances import rtol


def test_golden_values():
    # g1 = (-4, 1, 1), g2 = (6, 1, 1): G = [[18, -22], [-22, 38]]; the min-norm point of the
    # segment is α1 = (G22 - G12) / (G11 + G22 - 2 G12) = 60/100, d = 0.6 g1 + 0.4 g2 = (0, 1, 1).
    jac = torch.tensor([[-4.0, 1.0, 1.0], [6.0, 1.0, 1.0]], dtype=torch.float64)
    result = MGDA()(jac)
    torch.testing.assert_close(result.weights, torch.tensor([0.6, 0.4], dtype=torch.float64))
    torch.testing.assert_close(result.direction, torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64))


@pytest.mark.parametrize("seed", range(20))
def test_two_objective_closed_form(seed):
    jac = random_jacobian(2, 6, seed=seed)
    g = (jac @ jac.T).numpy()
    a = np.clip((g[1, 1] - g[0, 1]) / (g[0, 0] + g[1, 1] - 2 * g[0, 1]), 0, 1)
    torch.testing.assert_close(MGDA()(jac).weights, torch.tensor([a, 1 - a], dtype=torch.float64))


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_kkt_and_non_negative_inner_products(seed, scale):
    rng = np.random.default_rng(seed)
    k, d = int(rng.integers(2, 9)), int(rng.integers(1, 20))
    jac = random_jacobian(k, d, rank=min(k, d, int(rng.integers(1, k + 1))), seed=seed) * scale
    result = MGDA()(jac)
    alpha = result.weights.numpy()
    g = (jac @ jac.T).numpy()
    value = alpha @ g @ alpha
    ga = g @ alpha
    top = np.max(np.diag(g))
    assert alpha.min() >= 0 and abs(alpha.sum() - 1) < 1e-12
    assert np.all(ga >= value - 1e-9 * top)  # <g_k, d> >= ||d||^2 >= 0
    assert np.all(np.abs(ga[alpha > 1e-9] - value) <= 1e-8 * top)
    inner = (jac @ result.direction).numpy()
    assert np.all(inner >= -1e-9 * top)


@pytest.mark.parametrize("seed", range(25))
@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_direction_agrees_with_torchjd(seed, scale):
    """TorchJD's MGDA runs Frank-Wolfe, which converges sublinearly; ours is exact.

    Rigorous comparison: d* (ours) is the min-norm point of the convex hull and d_FW (theirs)
    lies in the hull, so <d*, d_FW - d*> >= 0 and hence
    ||d_FW - d*||² <= ||d_FW||² - ||d*||²: our direction is never farther from theirs than
    their own suboptimality allows, and never has a larger norm. For K = 2 Frank-Wolfe with
    exact line search is exact, so the directions agree to 1e-9 of the gradient scale.
    """
    rng = np.random.default_rng(seed)
    k = 2 if seed < 10 else int(rng.integers(3, 7))
    jac = random_jacobian(k, k + int(rng.integers(0, 6)), seed=seed) * scale
    gram = jac @ jac.T
    ours = MGDA().weights(gram)
    theirs = MGDAWeighting(epsilon=1e-12, max_iters=2000)(gram).to(torch.float64)
    d_ours, d_theirs = ours @ jac, theirs @ jac
    top = float(gram.diagonal().max())
    gap = float(d_theirs @ d_theirs - d_ours @ d_ours)
    assert gap >= -1e-12 * top
    assert float((d_theirs - d_ours) @ (d_theirs - d_ours)) <= gap + 1e-12 * top
    if k == 2:
        # Both exact on a segment (one exact line search): G's dot products of d <= 7 terms,
        # the min-norm formula, then d = Jᵀα (2 stages); the formula's denominator
        # |g1 - g2|² >= 2 λ_min(G) cancels by at most cond(G) <= 9 (random_jacobian's singular
        # values lie in [0.5, 1.5]); absolute, in units of the largest gradient norm.
        tol = rtol(jac.shape[1], steps=2, cond=9)
        torch.testing.assert_close(d_ours, d_theirs, rtol=0, atol=tol * top**0.5)
