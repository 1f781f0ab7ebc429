import numpy as np
import pytest
import torch
from torchjd.aggregation import IMTLGWeighting

from moo_lenient.methods.imtlg import IMTLG
from tests.conftest import random_jacobian
from tests.tolerances import rtol


def amplification(gram: torch.Tensor) -> float:
    """How much IMTL-G's weights amplify relative errors in a full-rank G: the condition number
    of the cosine matrix C = N⁻¹ G N⁻¹ (our solve) times Σ|α| = Σ|v| / |Σv| (the cancellation
    of the normalization α = v / Σv)."""
    n = gram.diagonal().sqrt()
    cond = float(torch.linalg.cond(gram / torch.outer(n, n)))
    return cond * float(IMTLG().weights(gram).abs().sum())


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
    are round-off (~1e-16), so both pseudo-inverses agree to round-off (measured max 3e-15
    relative over 180 cases). Tolerance: G's dot products of d terms and the decompositions'
    O(K²) operations per entry (n = d + K²), two stages (pseudo-inverse, normalization),
    amplified by the kept eigenvalues' spread (<= 9: random_jacobian's singular values lie in
    [0.5, 1.5]) and by Σ|α| = Σ|v| / |Σv| (the normalization's cancellation); normwise."""
    jac = random_jacobian(k, d, rank, seed=100 * k + 10 * d + seed) * scale
    gram = jac @ jac.T
    ours = IMTLG().weights(gram)
    theirs = IMTLGWeighting()(gram).to(torch.float64)
    tol = rtol(d + k * k, steps=2, cond=9 * float(theirs.abs().sum()))
    torch.testing.assert_close(ours, theirs, rtol=0, atol=tol * float(theirs.abs().max()))
    # d = Σ_k α_k g_k: absolute, relative to the magnitude of the terms summed.
    scale = float((theirs.abs() @ jac.abs()).max())
    torch.testing.assert_close(IMTLG()(jac).direction, theirs @ jac, rtol=0, atol=tol * scale)


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
    # <u_k, d> two ways: (G / top) α / |g_k| · sqrt(top) vs (J / |g_k|)(Jᵀα), sums of d and K
    # terms and the scalings (2 stages); absolute, relative to the terms' magnitude
    # Σ_j |α_j| |g_j| (>= |<u_k, d>|).
    n = jac.shape[1]
    scale = float(alpha.abs() @ jac.norm(dim=1))
    tol = rtol(n + k, steps=2)
    torch.testing.assert_close(result.diagnostics["projections"], proj, rtol=0, atol=tol * scale)
    # The common projection is 1 / Σv with v = G⁺ n, in gradient units: directly, vs through
    # α = v / Σv and d, where the solve's residual (v on the cosine matrix C) enters, amplified
    # by cond(C), at a third stage.
    top = float((jac @ jac.T).diagonal().max())
    expected = top**0.5 / result.diagnostics["weight_sum"]
    tol = rtol(n + k, steps=3, cond=float(torch.linalg.cond(unit @ unit.T)))
    assert abs(float(proj[0]) - expected) <= tol * scale


@pytest.mark.parametrize("seed", range(10))
def test_two_objectives_closed_form(seed):
    # α = (|g2|, |g1|) / (|g1| + |g2|): d = |g1||g2| / (|g1| + |g2|) (u1 + u2).
    jac = random_jacobian(2, 5, seed=seed) * torch.tensor([[0.3], [7.0]], dtype=torch.float64)
    n1, n2 = jac.norm(dim=1)
    expected = torch.stack([n2, n1]) / (n1 + n2)
    result = IMTLG()(jac)
    # Our solve on the 2 x 2 cosine matrix vs the norms' ratio: G's and the norms' 5-term sums,
    # the solve, the normalization (3 stages), amplified by cond(C) (Σ|α| = 1: α > 0).
    tol = rtol(5, steps=3, cond=amplification(jac @ jac.T))
    torch.testing.assert_close(result.weights, expected, rtol=tol, atol=0)
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
    # TorchJD's pseudo-inverse of G itself (cond(G) ≈ 403, where our cosine matrix has 8.4)
    # and the normalization's cancellation Σ|α| ≈ 4.6; n = 3 terms and the decompositions'
    # O(K²) per entry, two stages; normwise.
    cond = float(torch.linalg.cond(small @ small.T)) * float(theirs.abs().sum())
    tol = rtol(3 + 9, steps=2, cond=cond)
    torch.testing.assert_close(neg.weights, theirs, rtol=tol, atol=tol * float(theirs.abs().max()))


@pytest.mark.parametrize("scale", [0.0, 1e-10, 1e-6, 1.0, 1e6, 1e10, 1e15])
def test_scale_invariance(scale):
    jac = random_jacobian(4, 7, seed=3)
    result = IMTLG()(jac * scale)
    assert torch.isfinite(result.weights).all()
    if scale == 0.0:
        assert torch.equal(result.weights, torch.zeros(4, dtype=torch.float64))
        assert torch.equal(result.direction, torch.zeros(7, dtype=torch.float64))
    else:
        # J * scale, G's 7-term dot products and G / max diag round differently (n = 7 + 2);
        # the solve on the cosine matrix and the normalization amplify that; normwise.
        base = IMTLG()(jac).weights
        tol = rtol(7 + 2, cond=amplification(jac @ jac.T))
        torch.testing.assert_close(
            result.weights, base, rtol=tol, atol=tol * float(base.abs().max())
        )


def test_torchjd_threshold_is_absolute_ours_is_not():
    # Documented difference: TorchJD zeroes the weights when |Σv| < 1e-12 on the raw Gramian,
    # which happens for every Jacobian at norms ~1e15 (v ~ 1/|g|); ours normalizes first.
    jac = random_jacobian(3, 5, seed=1) * 1e15
    gram = jac @ jac.T
    assert torch.equal(IMTLGWeighting()(gram), torch.zeros(3, dtype=torch.float64))
    # G / 1e30 and G / max diag: two roundings of each entry, amplified by the cosine matrix's
    # solve and the normalization; normwise.
    base = IMTLG().weights(gram)
    tol = rtol(2, cond=amplification(gram))
    torch.testing.assert_close(
        base, IMTLG().weights(gram / 1e30), rtol=tol, atol=tol * float(base.abs().max())
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
