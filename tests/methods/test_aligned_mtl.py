import numpy as np
import pytest
import torch
from torchjd.aggregation import AlignedMTL as TorchJDAlignedMTL
from torchjd.aggregation import AlignedMTLWeighting

from moo_lenient.methods.aligned_mtl import AlignedMTL
from tests.conftest import random_jacobian
from tests.tolerances import rtol

MODES = ["min", "median", "rmse"]
# The weights are B w with B = s^{1/2} G^{-1/2} on G's kept eigenspace. A relative change ε of G
# moves B w by at most ~ ½ cond^{3/2} ε |w| (the divided differences of λ^{-1/2}, also against
# the dropped eigenvalues), cond = λ_max / λ_min over the kept eigenvalues, <= 9 for
# random_jacobian (kept singular values in [0.5, 1.5]): the factor 9^{3/2} = 27.
COND_B = 27.0


def weights_tol(d: int, k: int) -> float:
    """Relative tolerance (to |w|₁ = 1) between two orderings of Aligned-MTL's weights: G's
    d-term dot products and the symmetric eigensolver's O(K²) operations per entry, then B w
    (two stages), amplified by COND_B."""
    return rtol(d + k * k, steps=2, cond=COND_B)


def svd_direction(jac: torch.Tensor, w: torch.Tensor, mode: str) -> torch.Tensor:
    """d = √s Σ_i (v_iᵀ w) u_i from the SVD J = V Σ Uᵀ (full-rank J): the aligned update."""
    v, sigma, ut = torch.linalg.svd(jac, full_matrices=False)
    lam = sigma**2
    s = {"min": lam.min(), "median": lam.median(), "rmse": lam.mean()}[mode]
    return s.sqrt() * ((v.T @ w) @ ut)


def balance_matrix(method: AlignedMTL, gram: torch.Tensor) -> torch.Tensor:
    """B, column by column: the weights for the preference e_k are B e_k."""
    k = gram.shape[0]
    return torch.stack([method.weights(gram, preference=torch.eye(k)[i]) for i in range(k)], 1)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("scale", [1e-6, 1e-3, 1.0, 1e3, 1e6])
def test_agrees_with_torchjd(mode, k, scale):
    """Same formula and, on these Jacobians, the same numerical rank (their spurious eigenvalues
    are ~1e-16 relative, below both thresholds; the retained ones are >= 0.1 relative). The
    weights differ only by rounding in the eigendecomposition (ours of G / max diag G, TorchJD's
    of G): measured <= 1e-14 (93 u) relative to |w|₁ = 1; tolerance :func:`weights_tol`. The
    directions d = Jᵀα then differ by at most that times max_i Σ_k |g_k,i|."""
    rng = np.random.default_rng(k)
    tol = weights_tol(k + 4, k)
    for rank in range(1, k + 1):
        for seed in range(3):
            jac = random_jacobian(k, k + 4, rank=rank, seed=seed) * scale
            gram = jac @ jac.T
            pref = rng.random(k) + 0.1
            for ours_pref, pref_vector in [
                (None, None),
                (pref, torch.from_numpy(pref / pref.sum())),
            ]:
                ours = AlignedMTL(scale_mode=mode).weights(gram, preference=ours_pref)
                theirs = AlignedMTLWeighting(pref_vector=pref_vector, scale_mode=mode)(gram)
                torch.testing.assert_close(ours, theirs, rtol=0, atol=tol)
            direction = AlignedMTL(scale_mode=mode)(jac).direction
            their_direction = TorchJDAlignedMTL(scale_mode=mode)(jac)
            atol = tol * float(jac.abs().sum(dim=0).max())
            torch.testing.assert_close(direction, their_direction, rtol=0, atol=atol)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("mode", MODES)
def test_closed_form_from_the_svd(seed, mode):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 6))
    jac = random_jacobian(k, k + 3, seed=seed) * 10.0 ** rng.uniform(-3, 3)
    pref = torch.from_numpy(rng.random(k) + 0.1)
    w = pref / pref.sum()
    result = AlignedMTL(scale_mode=mode)(jac, preference=pref)
    expected = svd_direction(jac, w, mode)
    # Our eigh of G / max diag vs the SVD of J (d = k + 3): weights_tol, then d = Jᵀα moves by
    # at most that times max_i Σ_k |g_k,i| (|w|₁ = 1).
    atol = weights_tol(k + 3, k) * float(jac.abs().sum(dim=0).max())
    torch.testing.assert_close(result.direction, expected, rtol=0, atol=atol)


@pytest.mark.parametrize("seed", range(6))
def test_aligned_gradients_have_condition_number_one(seed):
    # The aligned gradients are the rows of B J: (B J)(B J)ᵀ = B G B = s P, P the projector on
    # the range of G: all retained singular values equal √s.
    jac = random_jacobian(4, 7, rank=3 if seed % 2 else 4, seed=seed)
    gram = jac @ jac.T
    method = AlignedMTL()
    b = balance_matrix(method, gram)
    aligned = b @ gram @ b
    diag = method(jac).diagnostics
    eig = torch.linalg.eigvalsh(aligned)
    rank = diag["rank"]
    assert rank == (3 if seed % 2 else 4)
    torch.testing.assert_close(eig[-rank:], torch.full((rank,), diag["scale"], dtype=torch.float64))
    assert float(eig[:-rank].abs().sum()) <= 1e-12
    assert diag["scale"] == pytest.approx(float(diag["eigenvalues"][rank - 1]), rel=1e-12)


def test_orthogonal_gradients_closed_form():
    # g1 = a e1, g2 = b e2 (a > b): V = I, B = diag(b/a, 1): both aligned components get norm b.
    a, b = 3.0, 0.5
    jac = torch.tensor([[a, 0.0, 0.0], [0.0, b, 0.0]], dtype=torch.float64)
    result = AlignedMTL()(jac, preference=[0.25, 0.75])
    torch.testing.assert_close(
        result.weights, torch.tensor([0.25 * b / a, 0.75], dtype=torch.float64)
    )
    torch.testing.assert_close(
        result.direction, torch.tensor([0.25 * b, 0.75 * b, 0.0], dtype=torch.float64)
    )
    assert result.diagnostics["condition_number"] == pytest.approx((a / b) ** 2)
    # "rmse": s = mean(a², b²).
    rmse = AlignedMTL(scale_mode="rmse")(jac, preference=[0.25, 0.75]).direction
    s = (a * a + b * b) / 2
    expected = torch.tensor([0.25, 0.75, 0.0], dtype=torch.float64) * s**0.5
    torch.testing.assert_close(rmse, expected)


@pytest.mark.parametrize("scale", [1e-10, 1e-3, 1.0, 1e15])
def test_single_objective_follows_its_gradient(scale):
    jac = random_jacobian(1, 5, seed=2) * scale
    result = AlignedMTL()(jac)
    torch.testing.assert_close(result.weights, torch.ones(1, dtype=torch.float64))
    torch.testing.assert_close(result.direction, jac[0])


def test_zero_gradients():
    jac = torch.zeros(3, 4, dtype=torch.float64)
    result = AlignedMTL()(jac, preference=[1.0, 2.0, 1.0])
    # Rank 0: B = I as TorchJD, so α = w, and d = 0 exactly.
    torch.testing.assert_close(result.weights, torch.tensor([0.25, 0.5, 0.25], dtype=torch.float64))
    assert torch.equal(result.direction, torch.zeros(4, dtype=torch.float64))
    assert result.diagnostics["rank"] == 0 and result.diagnostics["scale"] == 0.0
    # One zero gradient: e_k spans part of the null space, so B's range excludes it: α_k = 0.
    jac = random_jacobian(3, 5, seed=1)
    jac[2] = 0.0
    result = AlignedMTL()(jac)
    assert result.weights[2] == 0.0
    assert result.diagnostics["rank"] == 2
    sub = AlignedMTL()(jac[:2], preference=[1.0, 1.0])
    torch.testing.assert_close(result.direction, sub.direction * 2 / 3)  # w = 1/3, not 1/2


def test_identical_and_opposite_gradients():
    g = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    # Identical: rank 1, v = 1/√K, B = v vᵀ, α = 1/K each, d = g.
    same = AlignedMTL()(torch.stack([g, g, g]))
    torch.testing.assert_close(same.weights, torch.full((3,), 1 / 3, dtype=torch.float64))
    torch.testing.assert_close(same.direction, g)
    # Opposite: v = (1, -1)/√2: α = v (vᵀw) = 0 for the uniform preference, d = 0 ...
    opposite = AlignedMTL()(torch.stack([g, -g]))
    assert opposite.direction.abs().max() <= 1e-15
    # ... and (0.3, -0.3) for w = (0.8, 0.2): d = 0.6 g.
    skewed = AlignedMTL()(torch.stack([g, -g]), preference=[0.8, 0.2])
    torch.testing.assert_close(skewed.weights, torch.tensor([0.3, -0.3], dtype=torch.float64))
    torch.testing.assert_close(skewed.direction, 0.6 * g)


def test_rank_threshold_differs_from_torchjd_on_ill_conditioned_gramians():
    """A deliberate difference: singular values (1, 1e-7) give λ2/λ1 = 1e-14, above TorchJD's
    K·eps ≈ 4.4e-16 (kept: s = λ2 and d collapses to ~1e-7) but below our default 1e-12 (dropped:
    rank 1, s = λ1). rtol=0 applies TorchJD's rule and then agrees with it."""
    v, _ = torch.linalg.qr(torch.randn(2, 2, dtype=torch.float64))
    u, _ = torch.linalg.qr(torch.randn(6, 2, dtype=torch.float64))
    jac = v @ torch.diag(torch.tensor([1.0, 1e-7], dtype=torch.float64)) @ u.T
    gram = jac @ jac.T
    theirs = AlignedMTLWeighting()(gram)
    strict = AlignedMTL(rtol=0.0)
    # s = λ2 = 1e-14 λ1 carries the eigensolvers' absolute error ~ n u λ1 (n = 6-term dot
    # products + K² = 4), relative n u / 1e-14; it reaches the weights only through the
    # √(λ2 / λ1) = 1e-7 term of B: cond = √(λ1 / λ2) = 1e7 (relative to |w|₁ = 1).
    tol = rtol(6 + 4, cond=1e7)
    torch.testing.assert_close(strict.weights(gram), theirs, rtol=tol, atol=tol)
    assert strict(jac).diagnostics["rank"] == 2
    assert strict(jac).direction.norm() < 1e-6
    ours = AlignedMTL()(jac)
    assert ours.diagnostics["rank"] == 1
    w = torch.full((2,), 0.5, dtype=torch.float64)
    v1 = v[:, 0]
    torch.testing.assert_close(ours.weights, v1 * (v1 @ w))  # B = v1 v1ᵀ
    # Jᵀ v1 = σ1 u1 (σ1 = 1) with v1 from eigh of G (gap λ1 - λ2 ≈ λ1: no amplification) vs
    # from the construction: G's 6-term dot products and the eigensolver (K² = 4), then Jᵀα.
    atol = rtol(6 + 4, steps=2) * float(jac.abs().sum(dim=0).max())
    torch.testing.assert_close(ours.direction, (v1 @ w) * u[:, 0], atol=atol, rtol=0)


def test_direction_can_conflict():
    # <g_k, d> = √s (G^{1/2} w)_k: with J = M symmetric PSD, G^{1/2} = M, and a negative row sum
    # of M makes d conflict with that objective under the uniform preference (no
    # non_conflicting claim).
    m = torch.tensor([[1.0, -0.6, -0.6], [-0.6, 1.0, 0.2], [-0.6, 0.2, 1.0]], dtype=torch.float64)
    result = AlignedMTL()(m)
    s = result.diagnostics["scale"]
    torch.testing.assert_close(m @ result.direction, s**0.5 * m.sum(dim=1) / 3)
    assert float(m[0] @ result.direction) < 0


@pytest.mark.parametrize("scale", [0.0, 1e-10, 1e-6, 1.0, 1e6, 1e15])
def test_rank_deficient_finite_at_every_scale(scale):
    for k, d, rank in [(2, 5, 1), (3, 2, 2), (5, 9, 2), (6, 4, 4)]:
        jac = random_jacobian(k, d, rank, seed=k + d) * scale
        result = AlignedMTL()(jac)
        assert torch.isfinite(result.weights).all() and torch.isfinite(result.direction).all()
        assert result.diagnostics["rank"] == (0 if scale == 0.0 else rank)
        if scale == 0.0:
            assert torch.equal(result.direction, torch.zeros(d, dtype=torch.float64))
        else:  # ||d|| = √s ||V_rᵀ w||: scales with the gradients
            assert 0.0 < float(result.direction.norm()) <= 2 * scale


@pytest.mark.parametrize("seed", range(5))
def test_common_scale_invariance_but_not_linear(seed):
    jac = random_jacobian(4, 9, seed=seed)
    base = AlignedMTL()(jac)
    scaled = AlignedMTL()(1e5 * jac)
    # 1e5 J rounds J's entries, G / max diag once more: n = 9 + 2 terms and the eigensolver's.
    tol = weights_tol(9 + 2, 4)
    torch.testing.assert_close(scaled.weights, base.weights, rtol=tol, atol=tol)
    # Per-objective scales change the weights: d is not linear in J (not linear_under_scaling).
    c1 = torch.linspace(0.2, 2.0, 4, dtype=torch.float64)[:, None]
    c2 = torch.linspace(3.0, 0.5, 4, dtype=torch.float64)[:, None]
    lhs = AlignedMTL()(c1 * jac + c2 * jac).direction
    rhs = AlignedMTL()(c1 * jac).direction + AlignedMTL()(c2 * jac).direction
    assert not torch.allclose(lhs, rhs, rtol=1e-3)


@pytest.mark.parametrize("seed", range(5))
def test_permutation_equivariant_and_preference_aware(seed):
    rng = np.random.default_rng(seed)
    jac = random_jacobian(4, 6, rank=3 if seed % 2 else 4, seed=seed)
    pref = rng.random(4) + 0.1
    base = AlignedMTL()(jac, preference=pref)
    perm = rng.permutation(4)
    out = AlignedMTL()(jac[perm], preference=pref[perm])
    # The eigensolver sees G permuted and orders its operations differently (d = 6): weights_tol
    # relative to |w|₁ = 1; d = Jᵀα then moves by at most that times max_i Σ_k |g_k,i|.
    tol = weights_tol(6, 4)
    torch.testing.assert_close(out.weights, base.weights[perm], rtol=tol, atol=tol)
    atol = tol * float(jac.abs().sum(dim=0).max())
    torch.testing.assert_close(out.direction, base.direction, rtol=tol, atol=atol)
    other = AlignedMTL()(jac, preference=pref[::-1].copy())
    assert not torch.allclose(other.direction, base.direction)


def test_median_is_the_lower_median_as_torchjd():
    jac = torch.diag(torch.tensor([4.0, 3.0, 2.0, 1.0], dtype=torch.float64))
    result = AlignedMTL(scale_mode="median")(jac)
    assert result.diagnostics["scale"] == pytest.approx(4.0)  # λ = 16, 9, 4, 1: lower median 4
    torch.testing.assert_close(result.direction, torch.full((4,), 0.5, dtype=torch.float64))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"scale_mode": "max"}, "scale_mode"),
        ({"rtol": -1e-3}, "rtol"),
        ({"rtol": 1.0}, "rtol"),
        ({"rtol": float("nan")}, "rtol"),
    ],
)
def test_bad_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AlignedMTL(**kwargs)


def test_repr_and_registry_name():
    assert repr(AlignedMTL()) == "AlignedMTL()"
    assert (
        repr(AlignedMTL(scale_mode="rmse", rtol=0.0)) == "AlignedMTL(scale_mode='rmse', rtol=0.0)"
    )
    assert AlignedMTL.name == "alignedmtl"
    assert AlignedMTL.properties == {"permutation_equivariant", "preference_aware"}
