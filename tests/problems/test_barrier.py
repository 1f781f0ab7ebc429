"""The ridge-barrier problem: its exact front, its ridge, and the trap it sets."""

import numpy as np
import pytest
import torch

from moo_lenient.bench.engine import run_batch
from moo_lenient.methods import MGDA, LinearScalarization
from moo_lenient.problems.barrier import HEIGHT, START_X1, WIDTH, Barrier, ridge
from tests.tolerances import rtol


@pytest.mark.parametrize("m", [2, 3])
def test_front_is_the_image_of_the_pareto_set(m):
    problem = Barrier(m)
    front = problem.pareto_front(500)
    assert front.shape[1] == m
    # points of the Pareto set {x1 = 1, rest in conv(v)} evaluate onto the front formula
    lam = np.random.default_rng(0).dirichlet(np.ones(m), size=200)
    u = lam @ problem.vertices
    x = torch.from_numpy(np.concatenate([np.ones((200, 1)), u], axis=1))
    f = problem(x).numpy()
    expected = 0.5 * ((u[:, None, :] - problem.vertices[None]) ** 2).sum(-1)
    # torch's m-term sum (the x1 term is 0) vs numpy's m - 1 terms, after the differences and
    # squares (2 stages); non-negative terms (the ridge is exactly 0 at x1 = 1): entrywise.
    np.testing.assert_allclose(f, expected, rtol=rtol(m, steps=2), atol=0)
    np.testing.assert_array_equal(problem.ideal(), np.zeros(m))
    np.testing.assert_allclose(problem.nadir(), np.full(m, 2.0 if m == 2 else 1.5))
    # no feasible random point strictly dominates a front point
    low, high = problem.bounds()
    xs = low + (high - low) * torch.rand(20000, m, dtype=torch.float64)
    fs = problem(xs).numpy()
    for p in front[::10]:
        assert not np.any(np.all(fs < p - 1e-9, axis=1))


def test_two_objective_front_formula():
    f = Barrier(2).pareto_front(101)
    np.testing.assert_allclose(np.sqrt(2 * f[:, 0]) + np.sqrt(2 * f[:, 1]), 2.0, atol=1e-12)


def test_ridge_is_compact_and_twice_differentiable():
    x = torch.tensor([-WIDTH, WIDTH, 1.0, -1.5, 0.0], dtype=torch.float64, requires_grad=True)
    b = ridge(x)
    np.testing.assert_allclose(b.detach().numpy(), [0, 0, 0, 0, HEIGHT], atol=1e-15)
    (g,) = torch.autograd.grad(b.sum(), x, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(g.detach().numpy()[:4], 0.0, atol=1e-15)
    np.testing.assert_allclose(h.numpy()[:4], 0.0, atol=1e-12)


def test_starts_left_of_the_ridge():
    x = Barrier(3).initial(50, torch.Generator().manual_seed(0))
    assert x.shape == (50, 3) and x.dtype == torch.float64
    assert torch.all(x[:, 0] == START_X1)
    assert torch.all(x[:, 1:].abs() <= 1)


def test_mgda_is_trapped_left_of_the_ridge_and_a_heavy_f2_weight_crosses():
    problem = Barrier(2)
    starts = problem.initial(4, torch.Generator().manual_seed(1))
    prefs = np.array([[0.5, 0.5]] * 4)
    rigid = run_batch(problem, MGDA, prefs, starts, 1500, 1e-2)
    assert np.all(rigid.final_x[:, 0] < 0)  # stuck on the ridge's slope
    assert np.all(rigid.final_values[:, 0] > 1.0)  # far from the front (ideal 0, nadir 2)
    light_f1 = np.array([[0.05, 0.95]] * 4)
    crossing = run_batch(problem, LinearScalarization, light_f1, starts, 1500, 1e-2)
    assert np.all(crossing.final_x[:, 0] > 0.9)  # over the ridge, next to the Pareto set


def test_bad_objective_count():
    with pytest.raises(ValueError, match="2 or 3 objectives"):
        Barrier(4)
