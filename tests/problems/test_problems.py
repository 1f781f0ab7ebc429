"""Problems with known fronts: parity with pymoo where pymoo defines them, and their fronts."""

import numpy as np
import pytest
import torch
from pymoo.problems import get_problem
from pymoo.util.ref_dirs import get_reference_directions

from moo_lenient.metrics import igd
from moo_lenient.problems import DTLZ2, VLMOP2, ZDT1, ZDT2, ZDT3, FonsecaFleming
from moo_lenient.problems.base import non_dominated, simplex_lattice
from tests.tolerances import rtol

PYMOO = [
    (ZDT1(), "zdt1", {}),
    (ZDT2(), "zdt2", {}),
    (ZDT3(), "zdt3", {}),
    (DTLZ2(3), "dtlz2", {"n_var": 12, "n_obj": 3}),
    (DTLZ2(5), "dtlz2", {"n_var": 14, "n_obj": 5}),
]


@pytest.mark.parametrize(("ours", "name", "kwargs"), PYMOO, ids=[p[0].name for p in PYMOO])
def test_values_match_pymoo(ours, name, kwargs):
    theirs = get_problem(name, **kwargs)
    assert ours.num_variables == theirs.n_var and ours.num_objectives == theirs.n_obj
    np.testing.assert_array_equal(ours.lower.numpy(), theirs.xl)
    np.testing.assert_array_equal(ours.upper.numpy(), theirs.xu)
    x = np.random.default_rng(0).uniform(theirs.xl, theirs.xu, size=(500, theirs.n_var))
    x[:5, 1:] = 0.0  # points on the Pareto set too (g = 1 for ZDT)
    # torch vs numpy formulas: g's sums of up to 29 terms, then ratios, roots, sines / cosines
    # and products (about 4 stages); ZDT3's sin(10π f1) turns its argument's rounding into an
    # absolute error 10π u (cond), and its f2 = g (1 - √r - r sin) can cancel: absolute,
    # relative to the values' magnitude too.
    expected = theirs.evaluate(x)
    tol = rtol(30, steps=4, cond=10 * np.pi)
    np.testing.assert_allclose(
        ours(torch.from_numpy(x)).numpy(),
        expected,
        rtol=tol,
        atol=tol * float(np.abs(expected).max()),
    )


@pytest.mark.parametrize(("ours", "name", "kwargs"), PYMOO, ids=[p[0].name for p in PYMOO])
def test_fronts_match_pymoo(ours, name, kwargs):
    theirs_problem = get_problem(name, **kwargs)
    if ours.num_objectives > 3:  # pymoo needs reference directions beyond 3 objectives
        dirs = get_reference_directions("das-dennis", ours.num_objectives, n_partitions=5)
        theirs = theirs_problem.pareto_front(dirs)
    else:
        theirs = theirs_problem.pareto_front()
    front = ours.pareto_front(2000)
    # our dense front covers pymoo's (the mean distance from each of pymoo's points to ours is
    # small against the front's unit extent; ~2000 lattice points are sparse in 5-D) ...
    assert igd(front, theirs) < (0.015 if ours.num_objectives <= 3 else 0.1)
    if name == "dtlz2":  # ... and both lie on the unit sphere's positive part
        for pf in (front, theirs):
            np.testing.assert_allclose(np.linalg.norm(pf, axis=1), 1.0, atol=1e-12)
            assert pf.min() >= -1e-12
    else:  # ... and pymoo's covers ours
        assert igd(theirs, front) < 0.015


@pytest.mark.parametrize(
    "problem",
    [ZDT1(5), ZDT2(5), ZDT3(5), DTLZ2(3, k=3), FonsecaFleming(), VLMOP2()],
    ids=lambda p: p.name,
)
def test_front_is_attained_and_non_dominated_by_samples(problem):
    front = problem.pareto_front(1000)
    lower, upper = problem.bounds()
    x = lower + (upper - lower) * torch.rand(5000, problem.num_variables, dtype=torch.float64)
    f = problem(x).numpy()
    # no random feasible point strictly dominates a front point
    for p in front[:: max(1, len(front) // 50)]:
        assert not np.any(np.all(f < p - 1e-9, axis=1))


def test_fonseca_fleming_front_is_reached_on_its_pareto_set():
    problem = FonsecaFleming(num_variables=3)
    c = 1 / np.sqrt(3)
    s = torch.linspace(-c, c, 7, dtype=torch.float64)
    values = problem(s[:, None].expand(7, 3)).numpy()
    front = problem.pareto_front(7)
    # 1 - exp(-Σ_i (x_i - c)²) (torch, 3 terms) vs 1 - exp(-k (s - c)²) (numpy): differences,
    # squares, the sum, exp and the cancelling 1 - · (4 stages); absolute (values in [0, 1)).
    np.testing.assert_allclose(values, front, rtol=0, atol=rtol(3, steps=4))


def test_gradients_flow_and_bad_shapes_are_refused():
    x = torch.full((3, 30), 0.5, dtype=torch.float64, requires_grad=True)
    ZDT1()(x).sum().backward()
    assert torch.isfinite(x.grad).all()
    with pytest.raises(ValueError, match="takes 30 variables"):
        ZDT1()(torch.zeros(2, 5))


@pytest.mark.parametrize("m", [2, 3])
def test_non_dominated_filter_matches_brute_force(m):
    rng = np.random.default_rng(m)
    points = rng.random((400, m))
    fast = non_dominated(points)
    brute = [p for p in points if not np.any(np.all(points <= p, 1) & np.any(points < p, 1))]
    assert {tuple(p) for p in fast} == {tuple(p) for p in brute}


def test_simplex_lattice():
    points = simplex_lattice(3, 4)
    assert len(points) == 15  # C(4 + 2, 2)
    np.testing.assert_allclose(points.sum(axis=1), 1.0)
    assert len({tuple(p) for p in points}) == 15 and points.min() >= 0
