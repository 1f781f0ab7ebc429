import math

import numpy as np
import pytest
import torch
from torchjd.aggregation import CAGradWeighting

from moo_lenient.methods import MGDA
from moo_lenient.methods.cagrad import CAGrad
from tests.conftest import random_jacobian
from tests.tolerances import rtol


def worst(jac: torch.Tensor, d: torch.Tensor) -> float:
    """The primal objective min_k <g_k, d>."""
    return float((jac @ d).min())


def dual_value(jac: torch.Tensor, pref: torch.Tensor, w: torch.Tensor, c: float) -> float:
    """F(w) = <g_w, g0> + c ||g0|| ||g_w||: an upper bound on min_k <g_k, d> over the ball."""
    g0, gw = pref @ jac, w @ jac
    return float(gw @ g0 + c * g0.norm() * gw.norm())


def check_optimal(jac, pref, result, c):
    """Feasibility and the zero-duality-gap certificate of the CAGrad solution.

    For every w in the simplex and every d with ||d - g0|| <= c||g0||,
    min_k <g_k, d> <= <g_w, d> <= F(w); so a feasible d and a w with min_k <g_k, d> = F(w) are
    both optimal. Returns (d, value, scale).
    """
    g0 = pref @ jac
    d = result.direction
    radius = c * float(g0.norm())
    scale = float((jac @ jac.T).diagonal().max())
    assert float((d - g0).norm()) <= radius * (1 + 1e-9) + 1e-15 * math.sqrt(scale)
    y = result.weights - pref
    assert float(y.min()) >= -1e-12 * float(y.abs().max())  # d = g0 + Jᵀy with y >= 0
    value = worst(jac, d)
    stationary = result.diagnostics["pareto_stationary"]
    on_sphere = radius > 0 and abs(float((d - g0).norm()) - radius) <= 1e-10 * radius
    if not stationary and radius > 0:
        # Ball active: CAGrad always moves to the boundary when 0 is not in the hull.
        assert on_sphere
    if on_sphere:
        w = y / y.sum()
        assert abs(dual_value(jac, pref, w, c) - value) <= 1e-10 * scale
    elif radius > 0:
        # Inside the ball only when 0 is in the hull and the ball reaches {Jd >= 0}: then
        # value 0 is optimal (min_k <g_k, d> <= <Σ α_k g_k, d> = 0 for the hull point 0).
        assert stationary
        assert value >= -1e-12 * scale
        alpha = MGDA()(jac).weights
        assert float((alpha @ jac).norm()) <= 1e-6 * math.sqrt(scale)
    return d, value, scale


def cases():
    """(k, d, rank) with K in {2, 3, 5}: full rank (rank None) and rank-deficient."""
    for k in (2, 3, 5):
        for d, rank in ((k, None), (k + 4, None), (k + 3, k - 1), (k + 1, 1)):
            yield k, d, rank


@pytest.mark.parametrize(("k", "d", "rank"), list(cases()))
@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
@pytest.mark.parametrize("seed", range(2))
def test_agrees_with_torchjd(k, d, rank, scale, seed):
    """TorchJD solves the same dual with cvxpy/CLARABEL (interior point, ~1e-8 accuracy in F);
    near the minimizer F is flat to second order, so its g_w, hence d, is accurate to about
    sqrt(1e-8) ~ 1e-4 (measured: up to 6e-5 relative on 180 cases). Ours is exact (zero duality
    gap to round-off). So we check, rigorously:

    * both directions are feasible and ours is at least as good: v(d_T) <= v(d*), with
      v(d) = min_k <g_k, d>;
    * TorchJD's direction is no farther from ours than its suboptimality allows: for feasible
      d, ||d - d*||² <= 2 sqrt(φ) <ĝ_w, d* - d> <= 2 t (v(d*) - v(d)), t = sqrt(φ) / ||g_w*||;

    and, empirically, ||d_T - d*|| <= 2e-4 ||d*|| (3x the largest difference measured).

    ``norm_eps=0``: TorchJD's default 1e-4 is compared with trace(G), an absolute threshold that
    zeroes its update for gradients this small (scale 1e-6); with 0 it is scale-free. Rank-one
    and some rank-deficient Jacobians have 0 in the hull, where TorchJD's formula divides by
    ||g_w*|| ~ 0: those are checked by the certificate only.
    """
    c = 0.4
    jac = random_jacobian(k, d, rank, seed=100 * k + 10 * d + seed) * scale
    pref = torch.full((k,), 1 / k, dtype=torch.float64)
    ours = CAGrad(c)(jac)
    d_ours, v_ours, top = check_optimal(jac, pref, ours, c)
    if ours.diagnostics["pareto_stationary"]:
        return
    theirs = CAGradWeighting(c=c, norm_eps=0.0)(jac @ jac.T).to(torch.float64)
    d_theirs = theirs @ jac
    g0 = pref @ jac
    radius = c * float(g0.norm())
    assert float((d_theirs - g0).norm()) <= radius * (1 + 1e-9)
    v_theirs = worst(jac, d_theirs)
    assert v_theirs <= v_ours + 1e-12 * top
    t = ours.diagnostics["conflict_weight"]
    gap_sq = float((d_theirs - d_ours).norm() ** 2)
    assert gap_sq <= 2 * t * (v_ours - v_theirs) + 1e-12 * top
    torch.testing.assert_close(d_ours, d_theirs, rtol=0, atol=2e-4 * float(d_ours.norm()))
    if rank is None:  # unique weights
        torch.testing.assert_close(ours.weights, theirs, rtol=0, atol=3e-4 * float(theirs.max()))


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("kind", ["random", "zero_row", "negative_combination"])
def test_optimality_certificate_and_random_feasible_points(seed, kind):
    """Random Jacobians (any rank), and Pareto-stationary ones (0 in the hull): with a zero
    gradient (the ball often reaches {Jd >= 0}: value 0, d inside the ball) or with a gradient
    -Σ a_k g_k (value < 0 usually, d on the sphere)."""
    rng = np.random.default_rng(seed)
    k, d = int(rng.integers(1, 8)), int(rng.integers(1, 10))
    rank = int(rng.integers(1, min(k, d) + 1))
    jac = random_jacobian(k, d, rank, seed=seed) * 10.0 ** rng.uniform(-4, 4)
    if kind == "zero_row":
        jac = torch.cat([jac, torch.zeros(1, d, dtype=torch.float64)])
    elif kind == "negative_combination":
        jac = torch.cat([jac, -(torch.from_numpy(rng.random(k) + 0.1) @ jac)[None]])
    k = jac.shape[0]
    pref = torch.from_numpy(rng.random(k) + 0.05)
    pref = pref / pref.sum()
    c = float(rng.choice([0.05, 0.4, 0.9]))
    result = CAGrad(c)(jac, preference=pref)
    _, value, top = check_optimal(jac, pref, result, c)
    # The paper's primal: d* maximizes min_k <g_k, d> over the ball ||d - g0|| <= c||g0||.
    g0 = pref @ jac
    radius = c * float(g0.norm())
    u = torch.from_numpy(rng.standard_normal((4000, d)))
    u = u / u.norm(dim=1, keepdim=True)
    r = torch.from_numpy(rng.random((4000, 1))) ** (1 / d)
    r[:2000] = 1.0  # half on the sphere, where the optimum lies
    points = g0 + radius * r * u
    assert float((points @ jac.T).min(dim=1).values.max()) <= value + 1e-12 * top
    # The same weights w, min_k <g_k, Σ_j w_j g_j> two ways: (G / top) w · top (dot products
    # of d, then K terms) vs J (Jᵀ w) (K, then d terms), plus the scaling by top; absolute,
    # relative to the terms' magnitude |g_k| |d| <= top Σ|w| (the value can be ~0).
    tol = rtol(d + k, steps=2)
    torch.testing.assert_close(
        torch.tensor(result.diagnostics["min_inner_product"], dtype=torch.float64),
        torch.tensor(value, dtype=torch.float64),
        rtol=0,
        atol=tol * top * float(result.weights.abs().sum()),
    )


def two_objective_closed_form(jac, pref, c):
    """K = 2: minimize F(w g1 + (1-w) g2) over w in [0, 1] in closed form.

    With δ = g1 - g2, A = |δ|², B = <δ, g2>, C = |g2|² and κ = -<δ, g0> / sqrt(φ), the
    stationarity condition <δ, g_w> / |g_w| = κ gives
    A w + B = κ sqrt((A C - B²) / (A - κ²)) when κ² < A; otherwise F is monotone on [0, 1].
    Returns the weights and the formula's amplification of rounding: A C - B² cancels by
    A C / (A C - B²) (= 1/sin² of the angle between δ and g2), A - κ² by A / (A - κ²).
    """
    g1, g2 = jac
    g0 = pref @ jac
    sqrt_phi = c * float(g0.norm())
    delta = g1 - g2
    a, b, cc = float(delta @ delta), float(delta @ g2), float(g2 @ g2)
    kappa = -float(delta @ g0) / sqrt_phi
    cond = a * cc / (a * cc - b * b)
    if kappa**2 < a:
        w = (-b + kappa * math.sqrt((a * cc - b * b) / (a - kappa**2))) / a
        w = min(max(w, 0.0), 1.0)
        cond *= max(1.0, a / (a - kappa**2))
    else:
        w = 1.0 if kappa > 0 else 0.0
    gw = w * g1 + (1 - w) * g2
    t = sqrt_phi / float(gw.norm())
    return pref + t * torch.tensor([w, 1 - w], dtype=torch.float64), cond


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("c", [0.1, 0.4, 0.9])
def test_two_objectives_closed_form(seed, c):
    rng = np.random.default_rng(seed)
    jac = random_jacobian(2, 4, seed=seed) * torch.from_numpy(rng.uniform(0.2, 5.0, (2, 1)))
    pref = torch.tensor([0.5, 0.5] if seed < 6 else [0.8, 0.2], dtype=torch.float64)
    expected, cond = two_objective_closed_form(jac, pref, c)
    # Both exact, ordered differently: the closed form vs our bordered solve on the support and
    # the quadratic's root (3 stages of d = 4-term dot products), amplified by the formula's
    # cancellations (cond <= 17 here).
    torch.testing.assert_close(
        CAGrad(c)(jac, preference=pref).weights,
        expected,
        rtol=rtol(4, steps=3, cond=cond),
        atol=0,
    )


def test_symmetric_golden_values():
    # g1 = (1, 2), g2 = (-1, 2): g0 = (0, 2), g_w* = g0 by symmetry, so t = c and
    # d = (1 + c) g0 = (0, 2.8) with weights (1 + c) / 2 each; min_k <g_k, d> = 5.6.
    jac = torch.tensor([[1.0, 2.0], [-1.0, 2.0]], dtype=torch.float64)
    result = CAGrad(0.4)(jac)
    torch.testing.assert_close(result.weights, torch.tensor([0.7, 0.7], dtype=torch.float64))
    torch.testing.assert_close(result.direction, torch.tensor([0.0, 2.8], dtype=torch.float64))
    diag = result.diagnostics
    assert diag["radius"] == pytest.approx(0.8) and diag["deviation"] == pytest.approx(0.8)
    assert diag["min_inner_product"] == pytest.approx(5.6)
    assert diag["conflict_weight"] == pytest.approx(0.4)
    assert diag["pareto_stationary"] is False


def test_single_objective_and_identical_gradients():
    g = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    single = CAGrad(0.4)(g[None])
    torch.testing.assert_close(single.weights, torch.tensor([1.4], dtype=torch.float64))
    same = CAGrad(0.4)(torch.stack([g, g, g]))
    torch.testing.assert_close(same.direction, 1.4 * g)
    assert float(same.weights.sum()) == pytest.approx(1.4)


def test_opposite_gradients():
    g = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    jac = torch.stack([g, -g])
    # Uniform: g0 = 0, the ball is {0}.
    uniform = CAGrad(0.4)(jac)
    assert torch.equal(uniform.direction, torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(uniform.weights, torch.tensor([0.5, 0.5], dtype=torch.float64))
    # Preference (0.8, 0.2): g0 = 0.6 g; the best worst case moves back along -g by the full
    # radius 0.6 c |g|: d = 0.6 (1 - c) g, weights (0.8, 0.2 + 0.6 c).
    skewed = CAGrad(0.4)(jac, preference=[0.8, 0.2])
    torch.testing.assert_close(skewed.direction, 0.36 * g)
    torch.testing.assert_close(skewed.weights, torch.tensor([0.8, 0.44], dtype=torch.float64))
    assert skewed.diagnostics["pareto_stationary"] is True


def test_pareto_stationary_takes_the_optimum_closest_to_g0():
    # 0 is in the hull (g1 = -g2), so min_k <g_k, d> <= 0 everywhere. The ball around
    # g0 = (0, 1/3) meets the cone {d1 = 0, d2 >= 0} at g0 itself: every point of that segment
    # is optimal, and we return g0 (weights = preference). TorchJD (norm_eps 1e-4) returns 0.
    jac = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    result = CAGrad(0.4)(jac)
    torch.testing.assert_close(result.direction, torch.tensor([0.0, 1 / 3], dtype=torch.float64))
    torch.testing.assert_close(result.weights, torch.full((3,), 1 / 3, dtype=torch.float64))
    assert result.diagnostics["pareto_stationary"] is True
    assert result.diagnostics["min_inner_product"] == 0.0
    assert torch.equal(CAGradWeighting(c=0.4)(jac @ jac.T), torch.zeros(3, dtype=torch.float64))
    # g0 = (-1/3, 1/3) is at distance 1/3 from the cone {d1 = 0, d2 >= 0}; the radius is
    # c sqrt(2) / 3. With c = 0.9 the ball reaches the cone: d = (0, 1/3), value 0.
    jac = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [-1.0, 1.0]], dtype=torch.float64)
    result = CAGrad(0.9)(jac)
    torch.testing.assert_close(result.direction, torch.tensor([0.0, 1 / 3], dtype=torch.float64))
    assert result.diagnostics["min_inner_product"] == pytest.approx(0.0, abs=1e-15)
    # With c = 0.4 it does not: the best is to get as close to d1 = 0 as the ball allows.
    result = CAGrad(0.4)(jac)
    d1 = -1 / 3 + 0.4 * math.sqrt(2) / 3
    torch.testing.assert_close(result.direction, torch.tensor([d1, 1 / 3], dtype=torch.float64))
    assert result.diagnostics["min_inner_product"] == pytest.approx(d1)


def test_zero_gradients():
    g = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    zero = torch.zeros(3, dtype=torch.float64)
    # A zero gradient makes every direction Pareto-stationary (value 0); g0 = g/2 has
    # <g, g0> > 0, so g0 itself is optimal.
    result = CAGrad(0.4)(torch.stack([g, zero]))
    torch.testing.assert_close(result.direction, 0.5 * g)
    assert result.diagnostics["pareto_stationary"] is True
    all_zero = CAGrad(0.4)(torch.zeros(3, 5, dtype=torch.float64))
    assert torch.equal(all_zero.direction, torch.zeros(5, dtype=torch.float64))
    assert torch.isfinite(all_zero.weights).all()


def test_c_zero_is_linear_scalarization():
    jac = random_jacobian(4, 6, seed=3)
    pref = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    result = CAGrad(0.0)(jac, preference=pref)
    # c = 0: the weights are the preference, renormalized on input by its 4-term sum.
    torch.testing.assert_close(result.weights, pref, rtol=rtol(4), atol=0)


@pytest.mark.parametrize("scale", [0.0, 1e-10, 1e-6, 1e-3, 1e3, 1e6, 1e10, 1e15])
def test_scale_invariance(scale):
    jac = random_jacobian(4, 7, seed=3)
    pref = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    result = CAGrad()(jac * scale, preference=pref)
    assert torch.isfinite(result.weights).all()
    if scale == 0.0:
        assert torch.equal(result.direction, torch.zeros(7, dtype=torch.float64))
    else:
        base = CAGrad()(jac, preference=pref).weights
        # J * scale and G / max diag round G's d = 7-term dot products differently; the
        # bordered solve and the quadratic's root (3 stages) amplify that by cond(G) <= 9
        # (random_jacobian's singular values lie in [0.5, 1.5]); normwise.
        tol = rtol(7 + 2, steps=3, cond=9)
        torch.testing.assert_close(
            result.weights, base, rtol=tol, atol=tol * float(base.abs().max())
        )


def test_torchjd_default_norm_eps_zeroes_small_gradients():
    # Documented difference: TorchJD compares trace(G) with norm_eps = 1e-4 (absolute).
    jac = random_jacobian(3, 5, seed=1) * 1e-3
    gram = jac @ jac.T
    assert torch.equal(CAGradWeighting(c=0.4)(gram), torch.zeros(3, dtype=torch.float64))
    # G * 1e6 and G / max diag: two roundings of each entry, through the 3 solver stages and
    # cond(G) <= 9 (full rank, singular values of J in [0.5, 1.5] times 1e-3); normwise.
    base = CAGrad().weights(gram)
    tol = rtol(2, steps=3, cond=9)
    torch.testing.assert_close(
        base, CAGrad().weights(gram * 1e6), rtol=tol, atol=tol * float(base.abs().max())
    )


def test_preference_weights_the_average_and_permutations_permute():
    jac = random_jacobian(3, 5, seed=4)
    uniform = CAGrad()(jac)
    torch.testing.assert_close(CAGrad()(jac, preference=[2.0, 2.0, 2.0]).weights, uniform.weights)
    a = CAGrad()(jac, preference=[0.8, 0.1, 0.1]).direction
    b = CAGrad()(jac, preference=[0.1, 0.1, 0.8]).direction
    assert not torch.allclose(a, b)
    pref = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    base = CAGrad()(jac, preference=pref)
    perm = torch.tensor([2, 0, 1])
    out = CAGrad()(jac[perm], preference=pref[perm])
    torch.testing.assert_close(out.weights, base.weights[perm])
    torch.testing.assert_close(out.direction, base.direction)


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan"), float("inf")])
def test_bad_c_raises(bad):
    with pytest.raises(ValueError, match=r"^c must"):
        CAGrad(c=bad)


def test_repr_and_name():
    assert repr(CAGrad()) == "CAGrad()"
    assert repr(CAGrad(c=0.2)) == "CAGrad(c=0.2)"
    assert CAGrad.name == "cagrad"
