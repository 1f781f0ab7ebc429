import math

import numpy as np
import pytest
import torch

from moo_lenient import MultiObjectiveOptimizer
from moo_lenient.problems import PROTOCOLS, CAGradToy
from moo_lenient.toy_benchmark import escape_table, first_hit_step, run_toy, sweep_table
from tests.tolerances import rtol, trajectory_atol


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
        # Python's libm (the point path) vs torch's kernels, ordered differently: tanh, a_i, the
        # logs, q_i, the products and sums of at most 4 terms (about 6 stages); absolute,
        # relative to the formulas' largest terms (q's squares / 10 <= 40 on this box).
        tol = rtol(4, steps=6)
        torch.testing.assert_close(g, f, rtol=tol, atol=tol * 40)
        # The Jacobian's dh_i = 1 / a_i inherits a_i's cancellation: a1 = 0.5 (-x1 - 7) - t by
        # (|0.5 (x1 + 7)| + |t|) / |a1|, a2 likewise; its terms reach 1 / |a_i| (within the
        # largest entry).
        x1, t = float(p[0]), math.tanh(-float(p[1]))
        a1, a2 = 0.5 * (-x1 - 7) - t, 0.5 * (-x1 + 3) + t + 2
        cond = max(
            1.0,
            (abs(0.5 * (x1 + 7)) + abs(t)) / abs(a1),
            (abs(0.5 * (x1 - 3)) + abs(t) + 2) / abs(a2),
        )
        tol = rtol(4, steps=6, cond=cond)
        scale = 40 + float(auto.abs().max())
        torch.testing.assert_close(analytic, auto, rtol=tol, atol=tol * scale)
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
    from moo_lenient.toy_benchmark import VARIANTS, run_toy_batched

    steps, methods = 300, ("upgrad", "mgda")
    batched = run_toy_batched(list(methods), "nash", steps=steps)
    starts = list(PROTOCOLS["nash"].starts)
    assert [(r.method, r.start) for r in batched] == [(m, s) for m in methods for s in starts]
    toy = CAGradToy(PROTOCOLS["nash"].scale)
    losses = {}

    def run(perturb):  # run_toy's loop for every method and start: the reference and probes
        ends = []
        for method in methods:
            for start in starts:
                x = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
                opt = MultiObjectiveOptimizer(
                    torch.optim.Adam([x], lr=1e-3),
                    method=VARIANTS[method][1](toy, steps),
                    preference=[0.5, 0.5],
                )
                path = np.empty((steps + 1, 2))
                for t in range(steps):
                    values = toy.with_analytic_jacobian(x)
                    path[t] = values.detach().numpy()
                    opt.step(values if perturb is None else perturb(list(values)))
                with torch.no_grad():
                    path[steps] = toy(x).numpy()
                if perturb is None:
                    losses[method, start] = path
                ends.append(np.concatenate([x.detach().numpy(), path[steps]]))
        return np.stack(ends)  # (runs, 4): final x, then final losses

    reference = run(None)
    # The engine differentiates the toy with autograd, run_toy with its analytic Jacobian, and
    # orders the optimizer's update differently (batched): rounding-sized differences in every
    # step's gradients (2-term sums: K = 2, n = 2), which 300 Adam steps can amplify;
    # trajectory_atol measures that on the reference itself (probes=2: each probe reruns the
    # 10 runs, about 5 s).
    atol = trajectory_atol(run, reference, n_terms=2, steps=steps, probes=2)
    target = toy.tchebycheff_target_x1(np.array([0.5, 0.5]))
    for i, run_ in enumerate(batched):
        np.testing.assert_allclose(run_.final_x, reference[i, :2], rtol=0, atol=atol)
        np.testing.assert_allclose(run_.final_losses, reference[i, 2:], rtol=0, atol=atol)
        assert run_.first_hit == first_hit_step(toy, losses[run_.method, run_.start])
        assert run_.target_x1 == target
    # The reference loop is run_toy's (the same operations: bit-identical).
    for method in methods:
        single = run_toy(method, "nash", starts[0], steps=steps)
        i = methods.index(method) * len(starts)
        assert single.final_x == tuple(reference[i, :2])
        assert single.final_losses == tuple(reference[i, 2:])
