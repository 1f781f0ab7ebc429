import numpy as np
import pytest
import torch

from moo_lenient.problems import PROTOCOLS, CAGradToy
from moo_lenient.toy_benchmark import escape_table, first_hit_step, run_toy, sweep_table


@pytest.mark.parametrize("scale", [1.0, 0.1])
def test_analytic_jacobian_matches_autograd(scale):
    toy = CAGradToy(scale)
    gen = torch.Generator().manual_seed(0)
    points = torch.cat(
        [
            torch.rand(300, 2, generator=gen, dtype=torch.float64) * 24 - 12,
            torch.tensor(
                [[0.0, 0.0], *[list(s) for p in PROTOCOLS.values() for s in p.starts]],
                dtype=torch.float64,
            ),
        ]
    )
    for p in points:
        x = p.clone().requires_grad_()
        f = toy(x)
        auto = torch.stack([torch.autograd.grad(f[k], x, retain_graph=True)[0] for k in range(2)])
        y = p.clone().requires_grad_()
        g = toy.with_analytic_jacobian(y)
        analytic = torch.stack(
            [torch.autograd.grad(g[k], y, retain_graph=True)[0] for k in range(2)]
        )
        torch.testing.assert_close(g, f, rtol=1e-13, atol=1e-13)
        torch.testing.assert_close(analytic, auto, rtol=1e-12, atol=1e-12)
    # the batched (tensor) path agrees with the point path
    values, jac = toy.jacobian(points)
    torch.testing.assert_close(values, toy(points))
    assert jac.shape == (len(points), 2, 2)


def test_known_values_and_front():
    toy = CAGradToy(1.0)
    x = torch.tensor([[0.0, 0.0], [-8.5, 7.5], [9.0, 9.0], [-8.5, -5.0]], dtype=torch.float64)
    np.testing.assert_allclose(
        toy(x).numpy(), [[0, 0], [6.55, 7.90], [7.94, 6.69], [4.06, -19.42]], atol=0.01
    )
    front = toy.pareto_front()
    assert front.shape == (4001, 2)
    # the front is monotone: L1 falls and L2 rises with x1
    assert np.all(np.diff(front[:, 0]) < 0) and np.all(np.diff(front[:, 1]) > 0)
    np.testing.assert_allclose(toy.ideal(), [-19.99, -19.99], atol=0.01)
    np.testing.assert_allclose(toy.nadir(), [-0.40, -0.40], atol=0.01)
    assert toy.nearest_on_front(front[2000])[0] == 0.0
    assert toy.tchebycheff_target_x1(np.array([0.5, 0.5])) == pytest.approx(0.0, abs=1e-9)
    # w1 (7 - x1)^2 = w2 (7 + x1)^2 on the front: x1 = -3.5 for w = (0.1, 0.9)
    assert toy.tchebycheff_target_x1(np.array([0.1, 0.9])) == pytest.approx(-3.5, abs=0.01)


def test_first_hit_step():
    toy = CAGradToy(1.0)
    front = toy.pareto_front()
    losses = np.array([[5.0, 5.0], [0.0, 0.0], front[100] + 0.01, front[5]])
    assert first_hit_step(toy, losses) == 2
    assert first_hit_step(toy, losses[:2]) is None


def test_reduced_toy_benchmark():
    """A reduced run of benchmarks/toy.py: the easy CAGrad-protocol start, 8k of 100k steps.

    From (-8.5, -5) every method reaches the front; MGDA stops at the first Pareto point it
    touches, near f2's end (x1 = -7), while LS and PLC with the reference keep travelling
    along the front towards their targets at x1 = 0 (the full table shows where they end).
    """
    runs = [run_toy(m, "cagrad", (-8.5, -5.0), steps=8000) for m in ("ls", "mgda", "plc-ref")]
    ls, mgda, plc = runs
    assert all(r.reached and r.first_hit is not None for r in runs)
    assert mgda.nearest_x1 < -6.5
    assert -3.0 < ls.nearest_x1 < 0.0 and -3.0 < plc.nearest_x1 < 0.0
    table = escape_table(runs, "cagrad")
    assert "| LS (uniform weights) |" in table and "reached" in table
    sweep = sweep_table(
        [
            run_toy("plc-ref", "nash", (0.0, 0.0), preference=(w, 1 - w), steps=200)
            for w in (0.3, 0.7)
        ]
    )
    assert "w1 = 0.3" in sweep and "target" in sweep


@pytest.mark.slow
def test_plc_reaches_the_front_from_all_eight_starts_with_and_without_reference():
    """The full protocols (100k and 35k steps): about 15 minutes on one core."""
    for method in ("plc", "plc-ref"):
        for name, proto in PROTOCOLS.items():
            for start in proto.starts:
                run = run_toy(method, name, start)
                assert run.reached, (method, name, start, run.distance)
                if method == "plc-ref":
                    assert abs(run.nearest_x1) <= 0.3


@pytest.mark.slow
def test_constant_temperature_reproduces_the_spec_sweep():
    """The spec's no-reference sweep (x1 = -5.79, -2.47, 0.32, 2.48, 5.79 for w1 = 0.1 .. 0.9)
    was measured with a numpy reference before annealing became the default; PLC with
    mu_start=None reproduces it through the public optimizer (about 3 minutes)."""
    spec = (-5.79, -2.47, 0.32, 2.48, 5.79)
    for w1, expected in zip((0.1, 0.3, 0.5, 0.7, 0.9), spec, strict=True):
        run = run_toy("plc-mu-const", "nash", (0.0, 0.0), preference=(w1, 1 - w1))
        assert run.reached and abs(run.nearest_x1 - expected) <= 0.05, (w1, run.nearest_x1)


def test_batched_toy_runs_equal_one_optimizer_per_start():
    """benchmarks/toy.py --engine: every start at once through the engine, the same runs."""
    from moo_lenient.toy_benchmark import run_toy_batched

    batched = run_toy_batched(["upgrad", "mgda"], "nash", steps=300)
    starts = list(PROTOCOLS["nash"].starts)
    assert [(r.method, r.start) for r in batched] == [
        (m, s) for m in ("upgrad", "mgda") for s in starts
    ]
    for run in batched:
        single = run_toy(run.method, "nash", run.start, steps=300)
        np.testing.assert_allclose(run.final_x, single.final_x, rtol=0, atol=1e-10)
        np.testing.assert_allclose(run.final_losses, single.final_losses, rtol=0, atol=1e-9)
        assert run.first_hit == single.first_hit and run.target_x1 == single.target_x1
