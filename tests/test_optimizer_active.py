"""Objectives that sit out a step (``active=``), ``aggregate()`` and the step's Gramian."""

import numpy as np
import pytest
import torch

from moo_lenient import MultiObjectiveOptimizer
from moo_lenient.methods import available, get

J = torch.tensor([[1.0, 0.0, 2.0], [-1.0, 1.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
W = np.array([0.5, 0.3, 0.2])
VALUES = np.array([1.0, 2.0, 0.5])


@pytest.mark.parametrize("name", [m for m in available() if m != "plc"])
def test_stateless_methods_solve_the_active_sub_problem(name):
    active = np.array([True, True, False])
    res = get(name).aggregate_active(J, W, VALUES, active)
    sub = get(name).aggregate(J[:2], W[:2] / W[:2].sum(), VALUES[:2])
    torch.testing.assert_close(res.weights[:2], sub.weights)
    assert res.weights[2] == 0.0
    torch.testing.assert_close(res.direction, sub.direction)
    assert res.diagnostics["active"].tolist() == active.tolist()


def test_plc_zeroes_the_preference_of_inactive_objectives():
    active = np.array([True, True, False])
    a, b = get("plc", horizon=10), get("plc", horizon=10)
    res = a.aggregate_active(J, W, VALUES, active)
    ref = b.aggregate(J, np.array([0.625, 0.375, 0.0]), VALUES)
    torch.testing.assert_close(res.weights, ref.weights)
    assert res.weights[2] == 0.0
    assert a.state_dict()["t"] == 1  # the state advanced, K-sized


@pytest.mark.parametrize("name", available())
def test_nothing_active_gives_a_zero_direction(name):
    res = get(name).aggregate_active(J, W, VALUES, np.zeros(3, dtype=bool))
    assert torch.equal(res.direction, torch.zeros(3, dtype=torch.float64))
    assert torch.equal(res.weights, torch.zeros(3, dtype=torch.float64))


def test_mgda_with_a_zero_gradient_stalls_unless_dropped():
    kept = get("mgda").aggregate_active(J, W, None, np.ones(3, dtype=bool))
    assert float(kept.direction.norm()) == pytest.approx(0.0, abs=1e-12)
    dropped = get("mgda").aggregate_active(J, W, None, np.array([True, True, False]))
    assert float(dropped.direction.norm()) > 0.1


def _setup(method="mgda"):
    torch.manual_seed(0)
    x = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))
    opt = MultiObjectiveOptimizer(torch.optim.SGD([x], lr=0.1), method=method, total_steps=5)
    return x, opt


def _losses(x):
    return [(x**2).sum(), (x - 1.0).pow(2).sum(), x.sum() * 0.0]


def test_optimizer_active_and_step_info():
    x, opt = _setup()
    before = x.detach().clone()
    info = opt.step(_losses(x), active=[True, True, False])
    assert not torch.equal(x.detach(), before)
    assert info.active.tolist() == [True, True, False] and info.weights[2] == 0.0
    g = torch.stack([2 * before, 2 * (before - 1.0), torch.zeros(3)]).double()
    torch.testing.assert_close(info.gramian, g @ g.T)
    torch.testing.assert_close(info.grad_norms, g.norm(dim=1))
    cos = info.cosines
    assert cos[2].abs().sum() == 0.0  # a zero gradient has cosine 0 with everything
    torch.testing.assert_close(cos[0, 1], (g[0] @ g[1]) / (g[0].norm() * g[1].norm()))


def test_aggregate_writes_grad_without_stepping():
    x, opt = _setup("ls")
    before = x.detach().clone()
    info = opt.aggregate(_losses(x))
    assert torch.equal(x.detach(), before)  # not stepped
    expected = (2 * before + 2 * (before - 1.0)) / 3  # uniform preference over 3
    torch.testing.assert_close(x.grad, expected)
    assert info.step == 0 and opt.step_count == 1


@pytest.mark.parametrize("active", [[True, False], [1, 0, 1], "yes", [True, None, False]])
def test_bad_active_changes_nothing(active):
    x, opt = _setup()
    before = x.detach().clone()
    with pytest.raises(ValueError, match="active must be 3 booleans"):
        opt.step(_losses(x), active=active)
    assert torch.equal(x.detach(), before) and x.grad is None and opt.step_count == 0
