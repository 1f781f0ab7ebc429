"""UPGrad: closed forms, the projection's KKT conditions, non-conflict, TorchJD agreement."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torchjd._linalg import QuadprogProjector
from torchjd.aggregation import UPGrad as TorchJDUPGrad
from torchjd.aggregation import UPGradWeighting

from moo_lenient.methods.pcgrad import PCGrad
from moo_lenient.methods.upgrad import UPGrad
from tests.conftest import random_jacobian
from tests.tolerances import rtol

F64 = torch.float64
# random_jacobian's singular values lie in [0.5, 1.5]: a full-rank G = J Jᵀ has cond(G) <= 9,
# the factor by which a K x K solve on G amplifies the rounding of G's entries.
COND_G = 9.0
# Rank-deficient shapes (k, d, rank), including K > d; (5, 3, 3) and (5, 7, 2) have gradients
# that positively span their subspace, where the exact projection is 0 and needs large weights.
DEFICIENT = [(3, 7, 1), (3, 7, 2), (5, 7, 1), (5, 7, 2), (5, 3, 3), (5, 9, 4)]
SCALES = [1e-6, 1e-3, 1.0, 1e3, 1e6]


def random_preference(k: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1000 + seed)
    w = torch.rand(k, generator=gen, dtype=F64) + 0.05
    return w / w.sum()


def projection_weights(gram: torch.Tensor, k: int) -> list[torch.Tensor]:
    """v^(k): UPGrad with the preference e_k is the single projection of g_k."""
    eye = torch.eye(gram.shape[0], dtype=F64)
    return [UPGrad().weights(gram, preference=eye[i]) for i in range(k)]


def torchjd_weights(gram, pref, norm_eps=0.0, reg_eps=0.0):
    projector = QuadprogProjector(norm_eps=norm_eps, reg_eps=reg_eps)
    return UPGradWeighting(pref_vector=pref, projector=projector)(gram).to(F64)


# (3) Closed forms ----------------------------------------------------------------------------
def test_golden_values():
    # g1 = (1, 0), g2 = (-1, 1), <g1, g2> = -1: π(g1) = g1 + g2/2 = (1/2, 1/2) and
    # π(g2) = g2 + g1 = (0, 1); d = (π(g1) + π(g2)) / 2 = (1/4, 3/4) = 1·g1 + 3/4·g2.
    jac = torch.tensor([[1.0, 0.0], [-1.0, 1.0]], dtype=F64)
    result = UPGrad()(jac)
    torch.testing.assert_close(result.weights, torch.tensor([1.0, 0.75], dtype=F64))
    torch.testing.assert_close(result.direction, torch.tensor([0.25, 0.75], dtype=F64))
    assert result.diagnostics["num_projected"] == 2
    assert result.diagnostics["min_inner_product"] == pytest.approx(0.25, abs=1e-15)
    assert result.diagnostics["direction_sq_norm"] == pytest.approx(0.625, abs=1e-15)


def test_two_objectives_closed_form():
    # π(g1) = g1 - min(0, <g1,g2>)/|g2|² g2 (projection onto the half-space <g2, x> >= 0, which
    # satisfies <g1, x> = |g1|² - <g1,g2>²/|g2|² >= 0 by Cauchy-Schwarz), and symmetrically.
    for seed in range(20):
        jac = random_jacobian(2, 5, seed=seed)
        w = random_preference(2, seed)
        g = (jac @ jac.T).numpy()
        lift = max(0.0, -g[0, 1])
        v1 = np.array([1.0, lift / g[1, 1]])
        v2 = np.array([lift / g[0, 0], 1.0])
        expected = torch.from_numpy(w[0].item() * v1 + w[1].item() * v2)
        # Our active-set solve on G / max diag vs the closed form: G's dot products of d = 5
        # terms, then a 2 x 2 solve (cond(G) <= 9); normwise, relative to the largest weight.
        tol = rtol(5, cond=COND_G)
        torch.testing.assert_close(
            UPGrad()(jac, preference=w).weights,
            expected,
            rtol=tol,
            atol=tol * float(expected.abs().max()),
        )


def test_two_objectives_equal_half_of_pcgrad():
    # For K = 2 PCGrad's single projection is onto the half-space, i.e. onto the dual cone, and
    # PCGrad sums (K w_k = 1 for the uniform preference) where UPGrad averages.
    for seed in range(10):
        jac = random_jacobian(2, 6, seed=seed)
        torch.testing.assert_close(UPGrad()(jac).direction, PCGrad()(jac).direction / 2)


def test_single_objective_zero_identical_and_opposite_gradients():
    g = torch.tensor([1.0, -2.0, 0.5], dtype=F64)
    one = UPGrad()(g[None])
    assert torch.equal(one.weights, torch.ones(1, dtype=F64))
    assert torch.equal(one.direction, g)

    zero = UPGrad()(torch.zeros(2, 3, dtype=F64), preference=[0.3, 0.7])
    torch.testing.assert_close(zero.weights, torch.tensor([0.3, 0.7], dtype=F64))
    assert torch.equal(zero.direction, torch.zeros(3, dtype=F64))
    assert zero.diagnostics["num_projected"] == 0

    # A zero gradient constrains nothing (<0, x> = 0) and its own projection is 0.
    with_zero = UPGrad()(torch.stack([g, torch.zeros(3, dtype=F64)]), preference=[0.3, 0.7])
    torch.testing.assert_close(with_zero.direction, 0.3 * g)

    same = UPGrad()(torch.stack([g, g, g]), preference=[0.2, 0.3, 0.5])
    torch.testing.assert_close(same.weights, torch.tensor([0.2, 0.3, 0.5], dtype=F64))
    torch.testing.assert_close(same.direction, g)
    assert same.diagnostics["num_projected"] == 0

    # g and -g: the dual cone is the hyperplane g^⊥, both projections are 0.
    opposite = UPGrad()(torch.stack([g, -g]), preference=[0.3, 0.7])
    assert float(opposite.direction.norm()) <= 1e-15 * float(g.norm())
    assert opposite.diagnostics["num_projected"] == 2


def test_zero_preference_drops_the_projection_but_keeps_the_constraint():
    jac = torch.tensor([[1.0, 0.0], [-2.0, 1.0]], dtype=F64)
    # Preference (1, 0): d = π(g1) = g1 - <g1,g2>/|g2|² g2 = g1 + (2/5) g2, on the boundary of
    # the half-space <g2, x> >= 0: g2 keeps constraining the direction at zero preference.
    result = UPGrad()(jac, preference=[1.0, 0.0])
    torch.testing.assert_close(result.weights, torch.tensor([1.0, 0.4], dtype=F64))
    assert float(jac[1] @ result.direction) == pytest.approx(0.0, abs=1e-15)
    assert result.diagnostics["num_projected"] == 1


# (2) The optimality conditions of each projection -------------------------------------------
@pytest.mark.parametrize(("k", "d", "rank"), [(2, 5, 2), (3, 6, 3), (5, 8, 5), *DEFICIENT])
def test_projection_kkt_and_preference_weighting(k, d, rank):
    """v^(k) = argmin_{v >= e_k} vᵀGv iff v >= e_k, Gv >= 0 and (v - e_k)_i (Gv)_i = 0.

    Tolerances relative to the largest squared norm: the solver's dual tolerance is 1e-12 on
    the unit-scale Gramian (1e-13 after refinement); complementarity is met to round-off
    (measured <= 2e-15 (1 + max λ)²). The UPGrad weights are Σ_k w_k v^(k).
    """
    for seed, scale in itertools.product(range(4), [1e-6, 1.0, 1e6]):
        jac = random_jacobian(k, d, rank, seed=seed) * scale
        gram = jac @ jac.T
        g = gram.numpy()
        top = float(np.max(np.diag(g)))
        vs = projection_weights(gram, k)
        for i, v_t in enumerate(vs):
            v = v_t.numpy()
            lift = v - np.eye(k)[i]
            case = f"seed={seed} scale={scale} k={i}"
            assert lift.min() >= 0.0, case
            gv = g @ v
            assert gv.min() >= -1e-12 * top, case
            assert np.max(np.abs(lift * gv)) <= 1e-12 * top * (1.0 + lift.max()) ** 2, case
        w = random_preference(k, seed)
        expected = sum(w[i] * vs[i] for i in range(k))
        ours = UPGrad().weights(gram, preference=w)
        # The same lifts, summed in another order (w + Σ w_k λ_k vs Σ w_k (e_k + λ_k)): sums of
        # K + 1 non-negative products, so the bound holds entrywise.
        torch.testing.assert_close(ours, expected, rtol=rtol(k + 2), atol=0)


# Direct non-conflict check, including the case where the solver needed refinement -------------
@pytest.mark.parametrize(("k", "d", "rank"), [(3, 6, 3), (8, 4, 4), (10, 5, 5), *DEFICIENT])
def test_non_conflicting(k, d, rank):
    # <g_i, d> >= -1e-12 · max_k |g_k|²: the solver's tolerance on the unit-scale Gramian
    # (measured worst 2.5e-13 over ~3000 rank-deficient projections).
    for seed, scale in itertools.product(range(6), [1e-6, 1.0, 1e6]):
        jac = random_jacobian(k, d, rank, seed=seed) * scale
        result = UPGrad()(jac, preference=random_preference(k, seed))
        top = float((jac * jac).sum(dim=1).max())
        inner = jac @ result.direction
        assert float(inner.min()) >= -1e-12 * top, f"seed={seed} scale={scale}"
        assert result.diagnostics["min_inner_product"] >= -1e-12 * top


@pytest.mark.parametrize("scale", [1e-10, 1.0, 1e10])
def test_non_conflicting_where_the_solver_needs_refinement(scale):
    # 8 gradients positively spanning R^4: the exact projections are 0 and need weights ~ 10^3;
    # the plain active-set solve stops with <g_i, d> ~ -1e-9 · |g|², the refinement fixes it.
    jac = random_jacobian(8, 4, 4, seed=32) * scale
    top = float((jac * jac).sum(dim=1).max())
    for i in range(8):
        pref = torch.zeros(8, dtype=F64)
        pref[i] = 1.0
        result = UPGrad()(jac, preference=pref)
        assert float((jac @ result.direction).min()) >= -1e-12 * top
        assert float(result.direction.norm()) <= 1e-9 * top**0.5  # the projection is 0


# Scale invariance and linearity under scaling -------------------------------------------------
def test_weights_do_not_depend_on_the_scale():
    for seed in range(5):
        jac = random_jacobian(4, 7, seed=seed)
        pref = random_preference(4, seed)
        base = UPGrad()(jac, preference=pref).weights
        # J * scale rounds J's entries, G's dot products have d = 7 terms, G / max diag rounds
        # once more (n = 7 + 2), and the 4 x 4 solve amplifies by cond(G) <= 9; normwise.
        tol = rtol(7 + 2, cond=COND_G)
        for scale in [1e-10, 1e-6, 1e3, 1e10, 1e15]:
            torch.testing.assert_close(
                UPGrad()(jac * scale, preference=pref).weights,
                base,
                rtol=tol,
                atol=tol * float(base.abs().max()),
            )


def test_linear_under_positive_row_scaling():
    # The dual cone of diag(c) J is that of J for c > 0, so d(diag(c) J) = Σ_k w_k c_k π_J(g_k).
    for seed in range(5):
        k = 4
        jac = random_jacobian(k, 9, seed=seed)
        w = random_preference(k, seed)
        gen = torch.Generator().manual_seed(seed)
        c = torch.rand(k, generator=gen, dtype=F64) * 10 + 0.1
        projections = torch.stack([v @ jac for v in projection_weights(jac @ jac.T, k)])
        expected = (w * c) @ projections
        torch.testing.assert_close(UPGrad()(c[:, None] * jac, preference=w).direction, expected)


# (1) Agreement with TorchJD 0.18 -------------------------------------------------------------
@pytest.mark.parametrize("k", [2, 3, 5])
def test_agrees_with_torchjd_on_full_rank_jacobians(k):
    """Same problem, both exact: TorchJD with norm_eps=0 and reg_eps=0 (quadprog needs a
    positive-definite G, so full rank only; TorchJD divides G by its trace, we by its largest
    diagonal entry, which changes nothing but rounding). random_jacobian's singular values are
    in [0.5, 1.5] (cond(G) <= 9), so the weights agree to round-off: measured <= 6.1e-16 of the
    largest weight; tolerance 1e-12. TorchJD's pref_vector is used as given: ours is
    normalized to sum 1 and passed as is."""
    # Two exact active-set solvers (quadprog's dual method, our NNLS) on G / tr G and G / max
    # diag: dot products of d = k + 3 terms, at most K active-set steps, cond(G) <= 9;
    # normwise, relative to the largest weight.
    tol = rtol(k + 3, steps=k, cond=COND_G)
    for seed, scale in itertools.product(range(6), SCALES):
        jac = random_jacobian(k, k + 3, seed=seed) * scale
        gram = jac @ jac.T
        w = random_preference(k, seed)
        ours = UPGrad().weights(gram, preference=w)
        theirs = torchjd_weights(gram, w)
        torch.testing.assert_close(ours, theirs, rtol=0, atol=tol * float(ours.abs().max()))
        # TorchJD's default pref_vector (mean weighting 1/K) is our default uniform preference.
        uniform = UPGrad().weights(gram)
        torch.testing.assert_close(
            uniform,
            UPGradWeighting(projector=QuadprogProjector(norm_eps=0.0, reg_eps=0.0))(gram).to(F64),
            rtol=0,
            atol=tol * float(uniform.abs().max()),
        )


def test_direction_agrees_with_the_torchjd_aggregator():
    for seed in range(4):
        jac = random_jacobian(3, 8, seed=seed)
        w = random_preference(3, seed)
        aggregator = TorchJDUPGrad(
            pref_vector=w, projector=QuadprogProjector(norm_eps=0, reg_eps=0)
        )
        theirs = aggregator(jac)
        ours = UPGrad()(jac, preference=w)
        # As in the full-rank agreement (d = 8, K = 3 active-set steps, cond(G) <= 9), then
        # d = Σ_k w_k g_k: absolute, relative to the magnitude of the terms summed.
        scale = float((ours.weights.abs() @ jac.abs()).max())
        tol = rtol(8, steps=3, cond=COND_G)
        torch.testing.assert_close(ours.direction, theirs, rtol=0, atol=tol * scale)


def is_min_norm_against(jac, gram, u, v_ours, v_theirs):
    """d* = Jᵀv* is the min-norm point of the convex set {Jᵀv : v >= u}, so every feasible v has
    |Jᵀv - d*|² <= |Jᵀv|² - |d*|² (in particular |d*| <= |Jᵀv|). quadprog returns its v up to a
    constraint violation of ~1e-10 (v_i = u_i - 5e-11 seen), so the check is on the feasible
    max(v, u). Slack 1e-12 tr(G) for round-off (measured violations <= 4e-14 tr(G))."""
    d_ours = v_ours @ jac
    d_feasible = torch.maximum(v_theirs, u) @ jac
    dist = float((d_feasible - d_ours) @ (d_feasible - d_ours))
    gap = float(d_feasible @ d_feasible - d_ours @ d_ours)
    return dist <= gap + 1e-12 * float(gram.trace())


@pytest.mark.parametrize(("k", "d", "rank"), DEFICIENT)
def test_rank_deficient_agrees_with_torchjd_in_the_limit(k, d, rank):
    """Rank-deficient G: quadprog needs reg_eps > 0, so TorchJD solves a perturbed problem whose
    direction d(ε) moves linearly with ε (measured |d(ε) - d*| = 2.0e-8, 2.0e-6, 2.0e-4 times
    sqrt(max|g_k|²) for ε = 1e-12, 1e-10, 1e-8: TorchJD's regularization, not solver error).
    For a fixed active set d(ε) = d(0) + ε a + O(ε²), so the Richardson extrapolation
    2 d(ε) - d(2ε) removes the linear term: with ε = 1e-10 it matches our exact direction to
    4.4e-11 sqrt(max|g_k|²) (measured; quadprog's own round-off dominates below ε = 1e-10);
    tolerance 1e-9. Checked per projection (preference e_k), plus the rigorous min-norm
    inequality against TorchJD's point."""
    for seed, scale in itertools.product(range(4), SCALES):
        jac = random_jacobian(k, d, rank, seed=seed) * scale
        gram = jac @ jac.T
        root_top = float(gram.diagonal().max()) ** 0.5
        eye = torch.eye(k, dtype=F64)
        for i in range(k):
            ours = UPGrad().weights(gram, preference=eye[i])
            theirs = torchjd_weights(gram, eye[i], reg_eps=1e-10)
            theirs_2 = torchjd_weights(gram, eye[i], reg_eps=2e-10)
            extrapolated = (2 * theirs - theirs_2) @ jac
            case = f"seed={seed} scale={scale} k={i}"
            assert float((extrapolated - ours @ jac).norm()) <= 1e-9 * root_top, case
            assert is_min_norm_against(jac, gram, eye[i], ours, theirs), case


@pytest.mark.parametrize(("k", "d", "rank"), [(2, 5, 2), (5, 8, 5), *DEFICIENT])
def test_torchjd_defaults_within_the_regularization_bound(k, d, rank):
    """TorchJD's defaults (norm_eps = reg_eps = ε = 1e-4) perturb the projection: measured up to
    5.4e-4 of the largest weight on full-rank Jacobians and up to 0.66 sqrt(max|g_k|²) in the
    direction on rank-deficient ones (where the exact projection needs large weights, which
    the ε|v|² term penalizes). Rigorous bounds instead, at scales where tr G >= norm_eps (so
    that TorchJD projects at all): our v* is feasible for TorchJD's problem
    min_{v>=u} vᵀ(G/tr G + εI)v, so its optimum v_ε satisfies
    |d_ε|² - |d*|² <= ε tr(G) (|v*|² - |v_ε|²) (slack 1e-12 tr G; measured <= 2e-14 tr G);
    and d* is the min-norm point (is_min_norm_against)."""
    for seed, scale in itertools.product(range(4), [1.0, 1e3, 1e6]):
        jac = random_jacobian(k, d, rank, seed=seed) * scale
        gram = jac @ jac.T
        tr = float(gram.trace())
        eye = torch.eye(k, dtype=F64)
        for i in range(k):
            ours = UPGrad().weights(gram, preference=eye[i])
            theirs = UPGradWeighting(pref_vector=eye[i])(gram).to(F64)
            d_ours, d_theirs = ours @ jac, theirs @ jac
            gap = float(d_theirs @ d_theirs - d_ours @ d_ours)
            case = f"seed={seed} scale={scale} k={i}"
            assert gap <= 1e-4 * tr * float(ours @ ours - theirs @ theirs) + 1e-12 * tr, case
            assert is_min_norm_against(jac, gram, eye[i], ours, theirs), case


def test_torchjd_default_does_not_project_tiny_gradients():
    # Documented difference: TorchJD zeroes G when tr G < norm_eps = 1e-4 (an absolute
    # threshold), so for small gradients it returns the preference, unprojected, and conflicts.
    jac = torch.tensor([[1.0, 0.0], [-2.0, 1.0]], dtype=F64)
    small = jac * 1e-3
    theirs = UPGradWeighting()(small @ small.T).to(F64)
    torch.testing.assert_close(theirs, torch.tensor([0.5, 0.5], dtype=F64))
    assert float((small @ (theirs @ small)).min()) < 0
    ours = UPGrad()(small)
    # G(small) = 1e-6 G(jac) up to rounding (n = 2 terms, then the division by max diag),
    # amplified by the solve: cond(G) = (3 + √8)² ≈ 34.
    tol = rtol(2, steps=2, cond=34)
    torch.testing.assert_close(ours.weights, UPGrad()(jac).weights, rtol=tol, atol=0)
    assert float((small @ ours.direction).min()) >= 0


# (4) Construction and input errors -----------------------------------------------------------
def test_construction_repr_and_bad_preference():
    method = UPGrad()
    assert repr(method) == "UPGrad()"
    assert method.name == "upgrad"
    assert method.properties == {
        "non_conflicting",
        "permutation_equivariant",
        "linear_under_scaling",
        "preference_aware",
    }
    with pytest.raises(TypeError):
        UPGrad(1e-4)  # type: ignore[call-arg]  # no hyperparameters
    jac = random_jacobian(2, 3)
    with pytest.raises(ValueError, match="preference"):
        method(jac, preference=[1.0, -1.0])
    with pytest.raises(ValueError, match="preference"):
        method(jac, preference=[1.0, 1.0, 1.0])
