"""DualProj: closed forms, the projection's KKT conditions, non-conflict, TorchJD agreement."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torchjd._linalg import QuadprogProjector
from torchjd.aggregation import DualProj as TorchJDDualProj
from torchjd.aggregation import DualProjWeighting

from moo_lenient.methods.dualproj import DualProj
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


def torchjd_weights(gram, pref, norm_eps=0.0, reg_eps=0.0):
    projector = QuadprogProjector(norm_eps=norm_eps, reg_eps=reg_eps)
    return DualProjWeighting(pref_vector=pref, projector=projector)(gram).to(F64)


# (3) Closed forms ----------------------------------------------------------------------------
def test_golden_values():
    # g1 = (1, 0), g2 = (-2, 1): m = (g1 + g2)/2 = (-1/2, 1/2), <g1, m> = -1/2 < 0, <g2, m> = 3/2.
    # Projecting onto <g1, x> >= 0: λ1 = 1/2 / |g1|² = 1/2, d = m + g1/2 = (0, 1/2),
    # weights (1/2 + 1/2, 1/2); <g2, d> = 1/2 >= 0.
    jac = torch.tensor([[1.0, 0.0], [-2.0, 1.0]], dtype=F64)
    result = DualProj()(jac)
    torch.testing.assert_close(result.weights, torch.tensor([1.0, 0.5], dtype=F64))
    torch.testing.assert_close(result.direction, torch.tensor([0.0, 0.5], dtype=F64))
    assert result.diagnostics["num_active"] == 1
    assert result.diagnostics["min_inner_product"] == pytest.approx(0.0, abs=1e-15)
    assert result.diagnostics["direction_sq_norm"] == pytest.approx(0.25, abs=1e-15)


def test_two_objectives_closed_form():
    # At most one constraint is violated (both would give |m|² < 0), and the projection onto
    # that half-space satisfies the other: λ_i = max(0, -<g_i, m>) / |g_i|².
    for seed in range(20):
        jac = random_jacobian(2, 5, seed=seed)
        w = random_preference(2, seed).numpy()
        g = (jac @ jac.T).numpy()
        gm = g @ w
        expected = w + np.maximum(0.0, -gm) / np.diag(g)
        # Our active-set solve on G / max diag vs the closed form: G's dot products of d = 5
        # terms, then a 2 x 2 solve (cond(G) <= 9); normwise, relative to the largest weight.
        tol = rtol(5, cond=COND_G)
        torch.testing.assert_close(
            DualProj()(jac, preference=w).weights,
            torch.from_numpy(expected),
            rtol=tol,
            atol=tol * float(np.abs(expected).max()),
        )


def test_no_conflict_gives_the_weighted_mean():
    # Gradients with pairwise non-negative inner products: the mean is in the cone, d = mean;
    # UPGrad agrees there (every g_k is its own projection).
    gen = torch.Generator().manual_seed(0)
    jac = torch.rand(4, 6, generator=gen, dtype=F64)  # positive entries: <g_i, g_j> > 0
    w = random_preference(4, 0)
    result = DualProj()(jac, preference=w)
    # The preference is renormalized on input, hence round-off and not equality: w was
    # already w / Σw, and is divided again by its 4-term sum (two normalizations).
    torch.testing.assert_close(result.weights, w, rtol=rtol(4, steps=2), atol=0)
    assert result.diagnostics["num_active"] == 0
    torch.testing.assert_close(result.direction, UPGrad()(jac, preference=w).direction)


def test_single_objective_zero_identical_and_opposite_gradients():
    g = torch.tensor([1.0, -2.0, 0.5], dtype=F64)
    one = DualProj()(g[None])
    assert torch.equal(one.weights, torch.ones(1, dtype=F64))
    assert torch.equal(one.direction, g)

    zero = DualProj()(torch.zeros(2, 3, dtype=F64), preference=[0.3, 0.7])
    torch.testing.assert_close(zero.weights, torch.tensor([0.3, 0.7], dtype=F64))
    assert torch.equal(zero.direction, torch.zeros(3, dtype=F64))
    assert zero.diagnostics["num_active"] == 0

    with_zero = DualProj()(torch.stack([g, torch.zeros(3, dtype=F64)]), preference=[0.3, 0.7])
    torch.testing.assert_close(with_zero.direction, 0.3 * g)

    same = DualProj()(torch.stack([g, g, g]), preference=[0.2, 0.3, 0.5])
    torch.testing.assert_close(same.weights, torch.tensor([0.2, 0.3, 0.5], dtype=F64))
    torch.testing.assert_close(same.direction, g)

    # g and -g: the cone is g^⊥ and the mean (w1 - w2) g projects to 0.
    opposite = DualProj()(torch.stack([g, -g]), preference=[0.3, 0.7])
    assert float(opposite.direction.norm()) <= 1e-15 * float(g.norm())
    assert opposite.diagnostics["num_active"] == 1


def test_not_linear_under_scaling():
    # Why the class does not claim linear_under_scaling: the projection of Σ_k w_k c_k g_k is not
    # linear in c. J = [(1, 0), (-2, 1)], uniform preference:
    #   c = (1, 1): d = (0, 1/2) (test_golden_values);
    #   c = (3, 1): m = (1/2, 1/2) conflicts with g2 (<(-2, 1), m> = -1/2), λ2 = (1/2)/5,
    #               d = m + (1/10)(-2, 1) = (3/10, 6/10);
    #   c = (4, 2): m = (0, 1) conflicts with neither, d = (0, 1) != (3/10, 11/10).
    jac = torch.tensor([[1.0, 0.0], [-2.0, 1.0]], dtype=F64)
    c1, c2 = torch.tensor([1.0, 1.0], dtype=F64), torch.tensor([3.0, 1.0], dtype=F64)
    d1 = DualProj()(c1[:, None] * jac).direction
    d2 = DualProj()(c2[:, None] * jac).direction
    d12 = DualProj()((c1 + c2)[:, None] * jac).direction
    torch.testing.assert_close(d1, torch.tensor([0.0, 0.5], dtype=F64))
    torch.testing.assert_close(d2, torch.tensor([0.3, 0.6], dtype=F64))
    torch.testing.assert_close(d12, torch.tensor([0.0, 1.0], dtype=F64))
    assert not torch.allclose(d12, d1 + d2)


# (2) Optimality conditions -------------------------------------------------------------------
@pytest.mark.parametrize(("k", "d", "rank"), [(2, 5, 2), (3, 6, 3), (5, 8, 5), *DEFICIENT])
def test_kkt(k, d, rank):
    """v* = argmin_{v >= w} vᵀGv iff v >= w, Gv >= 0 and (v - w)_i (Gv)_i = 0.

    Tolerances relative to the largest squared norm: the solver's dual tolerance is 1e-12 on
    the unit-scale Gramian; complementarity is met to round-off (measured <= 2e-15
    (1 + max λ)²).
    """
    for seed, scale in itertools.product(range(6), [1e-6, 1.0, 1e6]):
        jac = random_jacobian(k, d, rank, seed=seed) * scale
        gram = jac @ jac.T
        g = gram.numpy()
        top = float(np.max(np.diag(g)))
        w = random_preference(k, seed)
        v = DualProj().weights(gram, preference=w).numpy()
        lift = v - w.numpy()
        case = f"seed={seed} scale={scale}"
        assert lift.min() >= 0.0, case
        gv = g @ v
        assert gv.min() >= -1e-12 * top, case
        assert np.max(np.abs(lift * gv)) <= 1e-12 * top * (1.0 + lift.max()) ** 2, case


@pytest.mark.parametrize(("k", "d", "rank"), [(3, 6, 3), (8, 4, 4), (10, 5, 5), *DEFICIENT])
def test_non_conflicting(k, d, rank):
    # <g_i, d> >= -1e-12 · max_k |g_k|², the solver's tolerance on the unit-scale Gramian.
    for seed, scale in itertools.product(range(6), [1e-6, 1.0, 1e6]):
        jac = random_jacobian(k, d, rank, seed=seed) * scale
        result = DualProj()(jac, preference=random_preference(k, seed))
        top = float((jac * jac).sum(dim=1).max())
        assert float((jac @ result.direction).min()) >= -1e-12 * top, f"{seed=} {scale=}"
        assert result.diagnostics["min_inner_product"] >= -1e-12 * top


def test_weights_do_not_depend_on_the_scale():
    for seed in range(5):
        jac = random_jacobian(4, 7, seed=seed)
        pref = random_preference(4, seed)
        base = DualProj()(jac, preference=pref).weights
        # J * scale rounds J's entries, G's dot products have d = 7 terms, G / max diag rounds
        # once more (n = 7 + 2), and the 4 x 4 solve amplifies by cond(G) <= 9; normwise.
        tol = rtol(7 + 2, cond=COND_G)
        for scale in [1e-10, 1e-6, 1e3, 1e10, 1e15]:
            torch.testing.assert_close(
                DualProj()(jac * scale, preference=pref).weights,
                base,
                rtol=tol,
                atol=tol * float(base.abs().max()),
            )


# (1) Agreement with TorchJD 0.18 -------------------------------------------------------------
@pytest.mark.parametrize("k", [2, 3, 5])
def test_agrees_with_torchjd_on_full_rank_jacobians(k):
    """Same problem, both exact: TorchJD with norm_eps=0 and reg_eps=0 (quadprog needs a
    positive-definite G, so full rank only). random_jacobian's singular values are in
    [0.5, 1.5] (cond(G) <= 9), so the weights agree to round-off: measured <= 4.6e-16 of the
    largest weight; tolerance 1e-12. TorchJD's pref_vector is used as given (not normalized):
    ours, normalized to sum 1, is passed as is; its default (mean weighting 1/K) is our uniform
    preference."""
    # Two exact active-set solvers (quadprog's dual method, our NNLS) on G / tr G and G / max
    # diag: dot products of d = k + 3 terms, at most K active-set steps, cond(G) <= 9;
    # normwise, relative to the largest weight.
    tol = rtol(k + 3, steps=k, cond=COND_G)
    for seed, scale in itertools.product(range(6), SCALES):
        jac = random_jacobian(k, k + 3, seed=seed) * scale
        gram = jac @ jac.T
        w = random_preference(k, seed)
        ours = DualProj().weights(gram, preference=w)
        atol = tol * float(ours.abs().max())
        torch.testing.assert_close(ours, torchjd_weights(gram, w), rtol=0, atol=atol)
        uniform = DualProj().weights(gram)
        theirs = DualProjWeighting(projector=QuadprogProjector(norm_eps=0.0, reg_eps=0.0))(gram)
        atol = tol * float(uniform.abs().max())
        torch.testing.assert_close(uniform, theirs.to(F64), rtol=0, atol=atol)


def test_direction_agrees_with_the_torchjd_aggregator():
    for seed in range(4):
        jac = random_jacobian(3, 8, seed=seed)
        w = random_preference(3, seed)
        projector = QuadprogProjector(norm_eps=0, reg_eps=0)
        theirs = TorchJDDualProj(pref_vector=w, projector=projector)(jac)
        ours = DualProj()(jac, preference=w)
        # As in the full-rank agreement (d = 8, K = 3 active-set steps, cond(G) <= 9), then
        # d = Σ_k w_k g_k: absolute, relative to the magnitude of the terms summed.
        scale = float((ours.weights.abs() @ jac.abs()).max())
        tol = rtol(8, steps=3, cond=COND_G)
        torch.testing.assert_close(ours.direction, theirs, rtol=0, atol=tol * scale)


def is_min_norm_against(jac, gram, u, v_ours, v_theirs):
    """d* = Jᵀv* is the min-norm point of the convex set {Jᵀv : v >= u}, so every feasible v has
    |Jᵀv - d*|² <= |Jᵀv|² - |d*|² (in particular |d*| <= |Jᵀv|). quadprog returns its v up to a
    constraint violation of ~1e-10, so the check is on the feasible max(v, u). Slack
    1e-12 tr(G) for round-off (measured violations <= 4e-14 tr(G))."""
    d_ours = v_ours @ jac
    d_feasible = torch.maximum(v_theirs, u) @ jac
    dist = float((d_feasible - d_ours) @ (d_feasible - d_ours))
    gap = float(d_feasible @ d_feasible - d_ours @ d_ours)
    return dist <= gap + 1e-12 * float(gram.trace())


@pytest.mark.parametrize(("k", "d", "rank"), DEFICIENT)
def test_rank_deficient_agrees_with_torchjd_in_the_limit(k, d, rank):
    """Rank-deficient G: quadprog needs reg_eps > 0, so TorchJD solves a perturbed problem whose
    direction d(ε) moves linearly with ε (TorchJD's regularization, not solver error). For a
    fixed active set d(ε) = d(0) + ε a + O(ε²), so the Richardson extrapolation 2 d(ε) - d(2ε)
    with ε = 1e-10 removes the linear term and matches our exact direction to 2.3e-11
    sqrt(max|g_k|²) (measured); tolerance 1e-9. Plus the rigorous
    min-norm inequality against TorchJD's point."""
    for seed, scale in itertools.product(range(6), SCALES):
        jac = random_jacobian(k, d, rank, seed=seed) * scale
        gram = jac @ jac.T
        root_top = float(gram.diagonal().max()) ** 0.5
        w = random_preference(k, seed)
        ours = DualProj().weights(gram, preference=w)
        theirs = torchjd_weights(gram, w, reg_eps=1e-10)
        extrapolated = (2 * theirs - torchjd_weights(gram, w, reg_eps=2e-10)) @ jac
        case = f"seed={seed} scale={scale}"
        assert float((extrapolated - ours @ jac).norm()) <= 1e-9 * root_top, case
        assert is_min_norm_against(jac, gram, w, ours, theirs), case


@pytest.mark.parametrize(("k", "d", "rank"), [(2, 5, 2), (5, 8, 5), *DEFICIENT])
def test_torchjd_defaults_within_the_regularization_bound(k, d, rank):
    """TorchJD's defaults (norm_eps = reg_eps = ε = 1e-4) perturb the projection: measured up to
    4.9e-4 of the largest weight on full-rank Jacobians and up to 0.29 sqrt(max|g_k|²) in the
    direction on rank-deficient ones. Rigorous bounds instead, at scales where
    tr G >= norm_eps: our v* is feasible for TorchJD's problem min_{v>=w} vᵀ(G/tr G + εI)v,
    so its optimum v_ε satisfies |d_ε|² - |d*|² <= ε tr(G) (|v*|² - |v_ε|²) (slack
    1e-12 tr G; measured <= 2e-14 tr G); and d* is the min-norm point."""
    for seed, scale in itertools.product(range(6), [1.0, 1e3, 1e6]):
        jac = random_jacobian(k, d, rank, seed=seed) * scale
        gram = jac @ jac.T
        tr = float(gram.trace())
        w = random_preference(k, seed)
        ours = DualProj().weights(gram, preference=w)
        theirs = DualProjWeighting(pref_vector=w)(gram).to(F64)
        d_ours, d_theirs = ours @ jac, theirs @ jac
        gap = float(d_theirs @ d_theirs - d_ours @ d_ours)
        case = f"seed={seed} scale={scale}"
        assert gap <= 1e-4 * tr * float(ours @ ours - theirs @ theirs) + 1e-12 * tr, case
        assert is_min_norm_against(jac, gram, w, ours, theirs), case


def test_torchjd_default_does_not_project_tiny_gradients():
    # Documented difference: TorchJD zeroes G when tr G < norm_eps = 1e-4 (an absolute
    # threshold), so for small gradients it returns the weighted mean, unprojected.
    jac = torch.tensor([[1.0, 0.0], [-2.0, 1.0]], dtype=F64)
    small = jac * 1e-3
    theirs = DualProjWeighting()(small @ small.T).to(F64)
    torch.testing.assert_close(theirs, torch.tensor([0.5, 0.5], dtype=F64))
    assert float((small @ (theirs @ small)).min()) < 0
    ours = DualProj()(small)
    torch.testing.assert_close(ours.weights, torch.tensor([1.0, 0.5], dtype=F64))
    assert float((small @ ours.direction).min()) >= 0


# (4) Construction and input errors -----------------------------------------------------------
def test_construction_repr_and_bad_preference():
    method = DualProj()
    assert repr(method) == "DualProj()"
    assert method.name == "dualproj"
    assert method.properties == {"non_conflicting", "permutation_equivariant", "preference_aware"}
    with pytest.raises(TypeError):
        DualProj(1e-4)  # type: ignore[call-arg]  # no hyperparameters
    jac = random_jacobian(2, 3)
    with pytest.raises(ValueError, match="preference"):
        method(jac, preference=[1.0, float("nan")])
    with pytest.raises(ValueError, match="preference"):
        method(jac, preference=[0.0, 0.0])
