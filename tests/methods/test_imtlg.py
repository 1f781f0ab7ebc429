import numpy as np
import pytest
import torch
from torchjd.aggregation import IMTLGWeighting

from moo_lenient.methods.imtlg import IMTLG
from tests.conftest import random_jacobian


def cases():
    """(k, d, rank) with K in {2, 3, 5}: full rank (rank None) and rank-deficient."""
    for k in (2, 3, 5):
        for d, rank in ((k, None), (k + 4, None), (k + 3, k - 1), (k + 1, 1)):
            yield k, d, rank


@pytest.mark.parametrize(("k", "d", "rank"), list(cases()))
@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
@pytest.mark.parametrize("seed", range(2))
def test_agrees_with_torchjd(k, d, rank, scale, seed):
    """TorchJD computes the same pseudo-inverse formula (torch.linalg.pinv, SVD-based) on the
    raw Gramian; ours uses eigh on the unit-scale Gramian with the same relative cut-off. The
    kept eigenvalues of these Jacobians are O(1) relative to the largest and the dropped ones
    are round-off (~1e-16), so both pseudo-inverses agree to ~1e-15 relative (measured max
    3e-15 over 180 cases); 1e-10 leaves room for condition numbers up to ~1e4."""
    jac = random_jacobian(k, d, rank, seed=100 * k + 10 * d + seed) * scale
    gram = jac @ jac.T
    ours = IMTLG().weights(gram)
    theirs = IMTLGWeighting()(gram).to(torch.float64)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-10 * float(theirs.abs().max()))
    torch.testing.assert_close(IMTLG()(jac).direction, theirs @ jac, rtol=1e-9, atol=0)


@pytest.mark.parametrize("seed", range(12))
def test_equal_projections_full_rank(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 7))
    # Full row rank with very different gradient norms.
    jac = random_jacobian(k, k + int(rng.integers(0, 4)), seed=seed)
    jac = jac * torch.from_numpy(10.0 ** rng.uniform(-3, 3, size=(k, 1)))
    result = IMTLG()(jac)
    alpha, d = result.weights, result.direction
    unit = jac / jac.norm(dim=1, keepdim=True)
    proj = unit @ d
    assert abs(float(alpha.sum()) - 1.0) < 1e-12
    torch.testing.assert_close(proj, torch.full_like(proj, float(proj.mean())), rtol=1e-9, atol=0)
    torch.testing.assert_close(result.diagnostics["projections"], proj, rtol=1e-9, atol=0)
    # The common projection is 1 / Σv with v = G⁺ n, in gradient units.
    top = float((jac @ jac.T).diagonal().max())
    expected = top**0.5 / result.diagnostics["weight_sum"]
    assert abs(float(proj[0]) - expected) <= 1e-9 * abs(expected)


@pytest.mark.parametrize("seed", range(10))
def test_two_objectives_closed_form(seed):
    # α = (|g2|, |g1|) / (|g1| + |g2|): d = |g1||g2| / (|g1| + |g2|) (u1 + u2).
    jac = random_jacobian(2, 5, seed=seed) * torch.tensor([[0.3], [7.0]], dtype=torch.float64)
    n1, n2 = jac.norm(dim=1)
    expected = torch.stack([n2, n1]) / (n1 + n2)
    result = IMTLG()(jac)
    torch.testing.assert_close(result.weights, expected, rtol=1e-12, atol=0)
    u = jac / jac.norm(dim=1, keepdim=True)
    torch.testing.assert_close(result.direction, n1 * n2 / (n1 + n2) * (u[0] + u[1]))


def test_golden_values():
    # g1 = (3, 0), g2 = (0, 1): α = (1, 3) / 4, d = (3/4, 3/4), both projections 3/4.
    jac = torch.tensor([[3.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    result = IMTLG()(jac)
    torch.testing.assert_close(result.weights, torch.tensor([0.25, 0.75], dtype=torch.float64))
    torch.testing.assert_close(result.direction, torch.tensor([0.75, 0.75], dtype=torch.float64))
    torch.testing.assert_close(
        result.diagnostics["projections"], torch.tensor([0.75, 0.75], dtype=torch.float64)
    )


def test_negative_weight_sum_is_the_published_behaviour():
    # u3 leans on u1 and u2, so d* = Σ β_k u_k (the unit-projection direction) has β3 < 0;
    # a small |g3| makes Σv = Σ β_k / |g_k| negative and d = d* / Σv points against every g_k.
    base = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.9, 0.9, 1.0]], dtype=torch.float64)
    small = base * torch.tensor([[1.0], [1.0], [0.05]], dtype=torch.float64)
    pos, neg = IMTLG()(base), IMTLG()(small)
    assert pos.diagnostics["weight_sum"] > 0 > neg.diagnostics["weight_sum"]
    assert (pos.diagnostics["projections"] > 0).all() and (neg.diagnostics["projections"] < 0).all()
    # Same line (d ∝ d* whatever the norms), opposite sign; TorchJD agrees.
    cos = torch.dot(pos.direction, neg.direction) / (pos.direction.norm() * neg.direction.norm())
    assert float(cos) < -1 + 1e-12
    theirs = IMTLGWeighting()(small @ small.T).to(torch.float64)
    torch.testing.assert_close(neg.weights, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("scale", [0.0, 1e-10, 1e-6, 1.0, 1e6, 1e10, 1e15])
def test_scale_invariance(scale):
    jac = random_jacobian(4, 7, seed=3)
    result = IMTLG()(jac * scale)
    assert torch.isfinite(result.weights).all()
    if scale == 0.0:
        assert torch.equal(result.weights, torch.zeros(4, dtype=torch.float64))
        assert torch.equal(result.direction, torch.zeros(7, dtype=torch.float64))
    else:
        torch.testing.assert_close(result.weights, IMTLG()(jac).weights, rtol=1e-10, atol=0)


def test_torchjd_threshold_is_absolute_ours_is_not():
    # Documented difference: TorchJD zeroes the weights when |Σv| < 1e-12 on the raw Gramian,
    # which happens for every Jacobian at norms ~1e15 (v ~ 1/|g|); ours normalizes first.
    jac = random_jacobian(3, 5, seed=1) * 1e15
    gram = jac @ jac.T
    assert torch.equal(IMTLGWeighting()(gram), torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(
        IMTLG().weights(gram), IMTLG().weights(gram / 1e30), rtol=1e-10, atol=0
    )


def test_single_objective():
    jac = random_jacobian(1, 4, seed=0) * 5.0
    result = IMTLG()(jac)
    torch.testing.assert_close(result.weights, torch.ones(1, dtype=torch.float64))
    torch.testing.assert_close(result.direction, jac[0])


def test_zero_gradient_gets_zero_weight_and_the_rest_is_imtlg():
    jac = random_jacobian(3, 6, seed=2)
    with_zero = torch.cat([jac[:1], torch.zeros(1, 6, dtype=torch.float64), jac[1:]])
    result = IMTLG()(with_zero)
    assert float(result.weights[1]) == 0.0
    torch.testing.assert_close(result.weights[[0, 2, 3]], IMTLG()(jac).weights)
    assert float(result.diagnostics["projections"][1]) == 0.0
    torch.testing.assert_close(
        result.weights, IMTLGWeighting()(with_zero @ with_zero.T).to(torch.float64)
    )


def test_identical_parallel_and_opposite_gradients():
    g = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    same = IMTLG()(torch.stack([g, g, g]))
    torch.testing.assert_close(same.weights, torch.full((3,), 1 / 3, dtype=torch.float64))
    torch.testing.assert_close(same.direction, g)
    # Parallel, different norms: equal projections hold for every α; the minimum-norm v of
    # the pseudo-inverse gives α ∝ (1, 2) (TorchJD's choice), not the K = 2 formula's (2, 1).
    parallel = IMTLG()(torch.stack([g, 2 * g]))
    torch.testing.assert_close(parallel.weights, torch.tensor([1 / 3, 2 / 3], dtype=torch.float64))
    # Opposite: every equal-projection direction has weights summing to 0, so no update.
    opposite = IMTLG()(torch.stack([g, -g]))
    assert torch.equal(opposite.weights, torch.zeros(2, dtype=torch.float64))
    assert torch.equal(opposite.direction, torch.zeros(3, dtype=torch.float64))


def test_preference_is_ignored_and_permutation_equivariant():
    jac = random_jacobian(4, 6, seed=5)
    base = IMTLG()(jac)
    torch.testing.assert_close(IMTLG()(jac, preference=[0.7, 0.1, 0.1, 0.1]).weights, base.weights)
    perm = torch.tensor([2, 0, 3, 1])
    out = IMTLG()(jac[perm])
    torch.testing.assert_close(out.weights, base.weights[perm])
    torch.testing.assert_close(out.direction, base.direction)


def test_takes_no_hyperparameters():
    assert repr(IMTLG()) == "IMTLG()"
    assert IMTLG.name == "imtlg"
    with pytest.raises(TypeError):
        IMTLG(0.5)  # type: ignore[call-arg]
