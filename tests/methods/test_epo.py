"""EPO: the non-uniformity and adjustments, the LP's constraints and optimality (checked against
an independent vertex enumeration), the modes, special cases, and convergence to the ray.

TorchJD 0.18 has no EPO, so the paper's definitions are checked directly.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from moo_lenient import MultiObjectiveOptimizer
from moo_lenient._qp import min_norm_simplex
from moo_lenient.methods.epo import EPO, non_uniformity
from tests.conftest import random_jacobian
from tests.tolerances import rtol

# HiGHS runs with feasibility tolerances 1e-10 on the unit-scale Gramian (|C_ij| <= 1); the
# weights are then clipped at 0 and renormalized, which moves C @ beta by at most about the
# same amount. 1e-9 leaves a factor 10 for that.
FEAS_TOL = 1e-9


# Independent statement of the paper's quantities -------------------------------------------------
def reference_program(gram, pref, losses, eps=1e-4, relax=False):
    """(mode, C, objective, rows A, rhs b, restriction) with A @ beta >= b, from the
    definitions in the EPO docstring, all objectives with a positive preference."""
    c = gram / np.max(np.diag(gram))
    m = len(pref)
    rl = pref * losses
    l_hat = rl / rl.sum()
    mu = float(np.sum([p * np.log(m * p) for p in l_hat if p > 0]))
    a = pref * (np.log(m * l_hat) - mu)
    ca = c @ a
    if mu > eps:
        in_j = ca > 1e-12 * np.abs(a).sum()
        worst = rl >= rl.max() * (1 - 1e-12)
        rows, rhs = [], []
        for j in range(m):
            if worst[j] or not in_j.any():
                rows.append(c[j]), rhs.append(0.0)
            elif not in_j[j]:
                rows.append(c[j]), rhs.append(ca[j])
        return "balance", c, ca, np.array(rows).reshape(-1, m), np.array(rhs), None
    restriction = None if relax else min(ca.max(), 0.0)
    return "descent", c, c.sum(1), c, np.zeros(m), restriction


def best_vertex(objective, rows, rhs):
    """max objective @ beta over {beta >= 0, sum beta = 1, rows @ beta >= rhs} by enumerating
    the vertices (K - 1 active inequalities and the equality): an exact check of the LP."""
    m = objective.size
    ineq = np.vstack([np.eye(m), rows])
    lo = np.concatenate([np.zeros(m), rhs])
    best = -np.inf
    for active in itertools.combinations(range(ineq.shape[0]), m - 1):
        system = np.vstack([ineq[list(active)], np.ones((1, m))])
        if abs(np.linalg.det(system)) < 1e-12:
            continue
        beta = np.linalg.solve(system, np.append(lo[list(active)], 1.0))
        if np.all(ineq @ beta >= lo - 1e-10):
            best = max(best, float(objective @ beta))
    return best


def random_case(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.choice([2, 3, 5]))
    d = int(rng.integers(1, 8))
    rank = int(rng.integers(1, min(k, d) + 1))
    scale = 10.0 ** float(rng.uniform(-6, 6))
    jac = random_jacobian(k, d, rank, seed=seed) * scale
    pref = rng.uniform(0.1, 1.0, k)
    pref /= pref.sum()
    if seed % 3 == 0:  # near the ray: descent mode
        losses = (1 / pref) * (1 + rng.uniform(-1e-3, 1e-3, k)) * 10.0 ** float(rng.uniform(-3, 3))
    else:
        losses = rng.uniform(0.05, 3.0, k)
    return jac, pref, losses


# (1) μ and a -------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_non_uniformity_is_the_kl_divergence_and_a_its_scaled_gradient(seed):
    rng = np.random.default_rng(seed)
    k = 2 + seed
    r = rng.uniform(0.1, 1.0, k)
    f = torch.tensor(rng.uniform(0.1, 3.0, k), dtype=torch.float64, requires_grad=True)
    rt = torch.from_numpy(r)
    l_hat = rt * f / (rt * f).sum()
    kl = torch.sum(l_hat * torch.log(l_hat * k))  # KL(l_hat || uniform)
    (grad,) = torch.autograd.grad(kl, f)
    mu, a = non_uniformity(r, f.detach().numpy())
    # numpy vs torch: k logs and a k-term sum (2 stages) whose terms l̂ log(k l̂) can cancel;
    # absolute, relative to the terms' magnitude Σ l̂ (1 + |log(k l̂)|) (the 1: a rounding of
    # k l̂ moves its log by u absolutely).
    logs = np.log(k * l_hat.detach().numpy())
    tol = rtol(k, steps=2)
    terms = float(np.sum(l_hat.detach().numpy() * (1 + np.abs(logs))))
    assert mu == pytest.approx(float(kl.detach()), rel=0, abs=tol * terms)
    # a = (Σ r f) ∂μ/∂f: the first-order change of μ along a step is -η βᵀCa / Σ r f.
    # The formula r (log(k l̂) - μ) vs autograd through l̂ (k-term sums of r_j (log(k l̂_j) + 1)
    # terms that cancel, the logs, the product by Σ r f: 3 stages); absolute, relative to the
    # terms' magnitude r (1 + |log(k l̂)| + μ).
    tol = rtol(k, steps=3)
    scale = float(np.max(r * (1 + np.abs(logs) + mu)))
    np.testing.assert_allclose(
        a, float((rt * f).sum().detach()) * grad.numpy(), rtol=tol, atol=tol * scale
    )


def test_non_uniformity_edge_cases():
    # on the ray: zero; a zero value: finite (log floored), 0 log 0 = 0 in μ
    mu, a = non_uniformity(np.array([0.25, 0.75]), np.array([3.0, 1.0]))
    assert mu == pytest.approx(0.0, abs=1e-15) and np.all(np.abs(a) < 1e-15)
    mu, a = non_uniformity(np.array([0.5, 0.5]), np.array([1.0, 0.0]))
    assert mu == pytest.approx(np.log(2.0), rel=1e-12)
    assert np.all(np.isfinite(a)) and a[1] < -10 and a[0] == pytest.approx(0.0, abs=1e-15)
    assert non_uniformity(np.array([0.5, 0.5]), np.zeros(2)) == (0.0, pytest.approx([0.0, 0.0]))


# (2) The LP: constraints and optimality ----------------------------------------------------------
@pytest.mark.parametrize("relax", [False, True])
@pytest.mark.parametrize("seed", range(24))
def test_weights_satisfy_the_program_and_are_optimal(seed, relax):
    jac, pref, losses = random_case(seed)
    result = EPO(relax=relax)(jac, preference=pref, losses=losses)
    beta = result.weights.numpy()
    gram = (jac @ jac.T).numpy()
    mode, c, objective, rows, rhs, restriction = reference_program(gram, pref, losses, relax=relax)
    assert result.diagnostics["mode"] == mode
    # simplex
    assert np.all(beta >= 0) and beta.sum() == pytest.approx(1.0, abs=1e-12)
    # the sign conditions on the directional derivatives (C beta)_j = <g_j, d> / max_k |g_k|²
    assert np.all(rows @ beta >= rhs - FEAS_TOL), (rows @ beta, rhs)
    if mode == "descent":
        assert np.all(c @ beta >= -FEAS_TOL)  # no objective increases to first order
        ca = c @ non_uniformity(pref, losses)[1]
        if restriction is None:
            assert result.diagnostics["relaxed"]
        else:
            restricted = np.vstack([rows, ca]), np.append(rhs, restriction)
            if result.diagnostics["relaxed"]:  # only where the restricted program is infeasible
                assert best_vertex(objective, *restricted) == -np.inf
            else:
                assert beta @ ca >= restriction - FEAS_TOL
                rows, rhs = restricted
    optimum = best_vertex(objective, rows, rhs)
    assert float(objective @ beta) == pytest.approx(optimum, abs=1e-8)
    scale = float(np.max(np.diag(gram)))
    assert result.diagnostics["lp_objective"] == pytest.approx(optimum * scale, abs=1e-8 * scale)


def test_balance_mode_decreases_the_non_uniformity_and_protects_the_worst():
    jac = random_jacobian(3, 6, seed=4)
    pref = np.array([0.2, 0.3, 0.5])
    losses = np.array([3.0, 1.0, 0.5])  # r f = (0.6, 0.3, 0.25): objective 0 is furthest behind
    result = EPO()(jac, preference=pref, losses=losses)
    assert result.diagnostics["mode"] == "balance"
    a = result.diagnostics["adjustments"].numpy()
    gram = (jac @ jac.T).numpy()
    inner = gram @ result.weights.numpy()  # <g_j, d>
    assert inner[0] >= -1e-12  # the worst objective does not increase
    # μ decreases to first order (the optimum is at least that of the MGDA weights, >= 0)
    assert a @ inner > 0
    eta = 1e-6
    after = losses - eta * inner
    assert non_uniformity(pref, after)[0] < non_uniformity(pref, losses)[0]


# (3) Modes and special cases ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pref", "losses"),
    [
        ([1.0, 1.0, 1.0], [2.0, 2.0, 2.0]),  # uniform preference, balanced values
        ([0.2, 0.3, 0.5], [7.5, 5.0, 3.0]),  # r f = 1.5 for every objective: on the ray
        ([1.0, 3.0], [3.0, 1.0]),
    ],
)
def test_on_the_preference_ray_is_descent_mode(pref, losses):
    k = len(pref)
    jac = random_jacobian(k, 5, seed=k)
    result = EPO()(jac, preference=pref, losses=losses)
    assert result.diagnostics["mode"] == "descent"
    assert result.diagnostics["non_uniformity"] == pytest.approx(0.0, abs=1e-15)
    inner = jac @ result.direction
    assert torch.all(inner >= -1e-12 * jac.norm(dim=1) ** 2)


def test_the_threshold_separates_the_modes():
    jac = random_jacobian(2, 4, seed=1)
    losses = [1.0, 1.02]  # μ ≈ 2 (0.01/2)² ≈ 5e-5
    mu = non_uniformity(np.array([0.5, 0.5]), np.array(losses))[0]
    assert 1e-5 < mu < 1e-4
    assert EPO()(jac, losses=losses).diagnostics["mode"] == "descent"
    assert EPO(eps=1e-5)(jac, losses=losses).diagnostics["mode"] == "balance"


def test_single_objective_zero_gramian_and_zero_preference():
    g = random_jacobian(1, 4, seed=0)
    one = EPO()(g, losses=[2.0])
    assert one.weights.tolist() == [1.0]
    torch.testing.assert_close(one.direction, g[0])
    zero = EPO()(torch.zeros(3, 4, dtype=torch.float64), losses=[1.0, 2.0, 3.0])
    torch.testing.assert_close(zero.weights, torch.full((3,), 1 / 3, dtype=torch.float64))
    assert torch.equal(zero.direction, torch.zeros(4, dtype=torch.float64))
    assert zero.diagnostics["solver"] == "none"
    jac = random_jacobian(3, 5, seed=2)
    # a zero preference: that objective is not a player (weight 0), EPO runs on the others
    part = EPO()(jac, preference=[0.0, 0.4, 0.6], losses=[9.0, 1.0, 2.0])
    sub = EPO()(jac[1:], preference=[0.4, 0.6], losses=[1.0, 2.0])
    assert float(part.weights[0]) == 0.0
    # The 2 x 2 block of G from a 3 x 5 and a 2 x 5 product (rounded differently) through the
    # vertex enumeration, whose own tolerances dominate rounding: vertices within 1e-12 of the
    # optimum are averaged after rounding to 12 decimals (moo_lenient.methods.epo.vertex_lp).
    torch.testing.assert_close(part.weights[1:], sub.weights, rtol=1e-12, atol=1e-12)
    only = EPO()(jac, preference=[0.0, 1.0, 0.0], losses=[9.0, 1.0, 2.0])
    assert only.weights.tolist() == [0.0, 1.0, 0.0]


def test_identical_and_opposite_gradients_closed_forms():
    g = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    same = EPO()(torch.stack([g, g]), preference=[0.3, 0.7], losses=[2.0, 1.0])
    torch.testing.assert_close(same.direction, g)  # any simplex weights give g
    # Opposite gradients, objective 0 behind (r f = (0.8, 0.2)): J = J* = {0}, the program is
    # max (a0 - a1)(b0 - b1) s.t. b0 - b1 >= 0 and b1 - b0 >= -(a0 - a1): b0 - b1 = min(1, a0 - a1)
    opp = torch.stack([g, -g])
    result = EPO()(opp, losses=[1.6, 0.4])
    a = result.diagnostics["adjustments"].numpy()
    assert result.diagnostics["mode"] == "balance"
    shift = min(1.0, a[0] - a[1])
    torch.testing.assert_close(
        result.weights, torch.tensor([(1 + shift) / 2, (1 - shift) / 2], dtype=torch.float64)
    )
    # on the ray the only non-increasing simplex point is (1/2, 1/2): d = 0, Pareto-stationary
    on_ray = EPO()(opp, losses=[1.0, 1.0])
    torch.testing.assert_close(on_ray.weights, torch.tensor([0.5, 0.5], dtype=torch.float64))
    assert float(on_ray.direction.norm()) < 1e-9


@pytest.mark.parametrize("seed", range(6))
def test_scale_invariant_and_permutation_equivariant(seed):
    jac, pref, losses = random_case(seed + 100)
    base = EPO()(jac, preference=pref, losses=losses)
    # Solver tolerances, not rounding, bound these (measured ~1e-16): the vertex enumeration
    # accepts vertex systems down to |det| = 1e-12 (their conditioning bounds a vertex's
    # sensitivity to rounding only by ~1e12 u), tests feasibility to LP_TOL = 1e-10 and
    # averages the vertices within 1e-12 of the optimum, rounded to 12 decimals.
    for scale in [1e-6, 1e-3, 1e3, 1e6, 1e15]:
        torch.testing.assert_close(
            EPO()(jac * scale, preference=pref, losses=losses).weights,
            base.weights,
            rtol=1e-7,
            atol=1e-8,
        )
    k = jac.shape[0]
    norm = float(jac.norm(dim=1).max())
    for perm in itertools.islice(itertools.permutations(range(k)), 1, 6):
        p = list(perm)
        out = EPO()(jac[p], preference=pref[p], losses=losses[p])
        torch.testing.assert_close(out.direction, base.direction, rtol=0, atol=1e-9 * norm)


def test_preference_changes_the_direction():
    jac = random_jacobian(2, 4, seed=11)
    a = EPO()(jac, preference=[0.8, 0.2], losses=[1.0, 1.0]).direction
    b = EPO()(jac, preference=[0.2, 0.8], losses=[1.0, 1.0]).direction
    assert not torch.allclose(a, b)


def test_mgda_weights_are_feasible_in_balance_mode():
    # the reason the program is always feasible (the fallback's weights)
    for seed in range(10):
        jac, pref, losses = random_case(3 * seed + 1)
        gram = (jac @ jac.T).numpy()
        mode, c, _, rows, rhs, _ = reference_program(gram, pref, losses)
        assert mode == "balance"
        beta = min_norm_simplex(c)
        assert np.all(rows @ beta >= rhs - 1e-10)


# (4) Behaviour: gradient descent reaches the front where r_1 f_1 = r_2 f_2 -----------------------
ANCHORS = np.array([[1.0, 0.0, 0.5], [-1.0, 1.0, -0.5]])


# Starts whose projection on the line through the minimizers falls between them. (From a start
# beyond one minimizer the gradients stay positively correlated all the way to it; EPO's
# direction lies in the cone of the gradients, so it cannot make that objective ascend and may
# end at that end of the front: a limitation of the method, see docs/methods/epo.md.)
STARTS = [[1.5, 3.5, 0.0], [-1.0, -1.5, 1.0]]


@pytest.mark.parametrize("start", STARTS)
@pytest.mark.parametrize("pref", [[0.5, 0.5], [0.2, 0.8], [0.8, 0.2], [0.05, 0.95]])
def test_descent_reaches_the_exact_pareto_optimal_point_of_the_ray(pref, start):
    # f_k(x) = ||x - a_k||²: the front is the segment [a_1, a_2]
    r = np.array(pref)
    method = EPO(eps=1e-6)
    x = np.array(start)
    for _ in range(60):
        f = ((x - ANCHORS) ** 2).sum(1)
        jac = 2.0 * (x - ANCHORS)
        weights, _ = method.solve(jac @ jac.T, r, f)
        x = x - 0.1 * (weights @ jac)
    f = ((x - ANCHORS) ** 2).sum(1)
    seg = ANCHORS[1] - ANCHORS[0]
    t = float(np.clip((x - ANCHORS[0]) @ seg / (seg @ seg), 0.0, 1.0))
    assert np.linalg.norm(ANCHORS[0] + t * seg - x) < 1e-4  # on the front
    # μ <= ε = 1e-6 means |l̂_1 - 1/2| <= sqrt(ε/2) ≈ 7.1e-4 (μ ≈ 2 δ² for K = 2), i.e.
    # r_1 f_1 / (r_2 f_2) within 1 ± 2.9e-3; 5e-3 leaves room for the last step.
    assert r[0] * f[0] / (r[1] * f[1]) == pytest.approx(1.0, abs=5e-3)


def test_optimizer_runs_epo_by_instance():
    torch.manual_seed(0)
    x = torch.nn.Parameter(torch.tensor(STARTS[0], dtype=torch.float64))
    anchors = torch.from_numpy(ANCHORS)
    opt = MultiObjectiveOptimizer(torch.optim.SGD([x], lr=0.1), method=EPO(), preference=[1, 3])
    for _ in range(40):
        info = opt.step([((x - anchors[0]) ** 2).sum(), ((x - anchors[1]) ** 2).sum()])
    f = info.values.numpy()
    assert info.diagnostics["mode"] == "descent"
    assert 1 * f[0] / (3 * f[1]) == pytest.approx(1.0, abs=0.03)  # ε = 1e-4: 1 ± 0.029


# (5) Bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(eps=0.0), "eps must be a positive finite number"),
        (dict(eps=-1.0), "eps must be a positive finite number"),
        (dict(eps=float("nan")), "eps must be a positive finite number"),
        (dict(eps=float("inf")), "eps must be a positive finite number"),
        (dict(relax="yes"), "relax must be a bool"),
    ],
)
def test_bad_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EPO(**kwargs)


def test_values_are_required_and_non_negative():
    jac = random_jacobian(2, 3, seed=0)
    with pytest.raises(ValueError, match="losses="):
        EPO()(jac)
    with pytest.raises(ValueError, match="losses="):
        EPO().weights(jac @ jac.T)
    with pytest.raises(ValueError, match=r"at least 0 .*objective\(s\) \[1\]"):
        EPO()(jac, losses=[1.0, -0.5])


def test_min_losses_shifts_the_ray():
    """EPO(min_losses=m) on f equals EPO() on f - m (negative losses allowed above m)."""
    jac = random_jacobian(3, 5, seed=3)
    gram = jac @ jac.T
    pref = np.array([0.2, 0.3, 0.5])
    low = np.array([-2.0, 0.5, -0.25])
    f = np.array([-1.0, 1.5, 0.75])
    w_shift, d_shift = EPO(min_losses=low).solve(gram, pref, f)
    w_plain, d_plain = EPO().solve(gram, pref, f - low)
    # Same operations (the method subtracts min_losses as here): bit-identical in practice.
    np.testing.assert_allclose(w_shift, w_plain, rtol=0, atol=1e-12)
    assert d_shift["non_uniformity"] == pytest.approx(d_plain["non_uniformity"], abs=1e-15)
    with pytest.raises(ValueError, match=r"at least min_losses .*objective\(s\) \[0\]"):
        EPO(min_losses=low).weights(gram, pref, np.array([-3.0, 1.5, 0.75]))
    with pytest.raises(ValueError, match="min_losses has 2 entries but there are 3"):
        EPO(min_losses=[0.0, 0.0]).weights(gram, pref, f)
    with pytest.raises(ValueError, match="min_losses"):
        EPO(min_losses=[0.0, float("nan")])


def test_repr_and_registry_name():
    assert repr(EPO()) == "EPO()"
    assert repr(EPO(eps=1e-3, relax=True)) == "EPO(eps=0.001, relax=True)"
    assert repr(EPO(min_losses=[0, -1])) == "EPO(min_losses=[0.0, -1.0])"
    assert EPO.name == "epo"
    assert EPO().state_dict() == {}


@pytest.mark.parametrize("seed", range(40))
def test_vertex_enumeration_equals_highs(seed):
    """The small-K path (vertex enumeration) reaches HiGHS's optimal value and is feasible."""
    from scipy.optimize import linprog

    from moo_lenient.methods.epo import vertex_lp

    rng = np.random.default_rng(seed)
    m = int(rng.choice([2, 3, 4, 5]))
    jac = random_jacobian(m, int(rng.integers(1, 7)), seed=seed)
    c = (jac @ jac.T).numpy()
    c /= np.abs(c).max()
    objective = rng.normal(size=m)
    rows = c[rng.permutation(m)[: int(rng.integers(1, m + 1))]]
    rhs = np.minimum(rows @ np.full(m, 1.0 / m), 0.0) - rng.uniform(0, 0.1, len(rows))
    beta = vertex_lp(objective, rows, rhs)
    ref = linprog(
        -objective,
        A_ub=-rows,
        b_ub=-rhs,
        A_eq=np.ones((1, m)),
        b_eq=[1.0],
        bounds=[(0, None)] * m,
        method="highs",
    )
    assert ref.status == 0 and beta is not None
    assert objective @ beta == pytest.approx(-ref.fun, abs=1e-9)
    assert np.all(beta >= 0) and beta.sum() == pytest.approx(1.0)
    assert np.all(rows @ beta >= rhs - 1e-9)


def test_more_than_five_objectives_use_highs_and_ties_give_the_centroid():
    jac = random_jacobian(7, 9, seed=5)
    pref = np.full(7, 1 / 7)
    _, diag = EPO().solve((jac @ jac.T).numpy(), pref, np.linspace(0.5, 2.0, 7))
    assert diag["solver"] == "highs"
    _, diag = EPO().solve((jac[:4] @ jac[:4].T).numpy(), pref[:4] * 7 / 4, np.ones(4))
    assert diag["solver"] in ("vertices", "none")
    # identical gradients: every vertex of the simplex is optimal -> the centroid
    g = np.ones((3, 3))
    w, diag = EPO().solve(g, np.array([0.2, 0.3, 0.5]), np.array([1.0, 2.0, 3.0]))
    assert diag["solver"] == "vertices"
    np.testing.assert_allclose(w, np.full(3, 1 / 3), atol=1e-12)
