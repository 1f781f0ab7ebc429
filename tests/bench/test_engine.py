"""The batched engine: the same steps as the optimizer, bounds, and the stochastic form."""

import numpy as np
import pytest
import torch

from moo_lenient import MultiObjectiveOptimizer
from moo_lenient.bench.engine import batch_jacobian, box_aware, run_batch
from moo_lenient.methods import MGDA, PLC, PCGrad
from moo_lenient.problems import ZDT1
from moo_lenient.problems.barrier import Barrier
from tests.tolerances import rtol, trajectory_atol

FACTORIES = {
    "plc": lambda: PLC(horizon=150, ideal=[0.0, 0.0], nadir=[2.0, 2.0]),
    "plc-noref": lambda: PLC(horizon=150),
    "mgda": MGDA,
    "pcgrad": lambda: PCGrad(seed=3),
}


# every run gets its preference, MGDA's too (it ignores it by design, and warns once)
@pytest.mark.filterwarnings("ignore::moo_lenient.PreferenceIgnoredWarning")
@pytest.mark.parametrize("name", list(FACTORIES))
def test_batched_runs_equal_one_optimizer_per_run(name):
    problem = Barrier(2)  # the box is never reached from these starts in 150 steps
    starts = problem.initial(3, torch.Generator().manual_seed(0))
    prefs = np.array([[0.2, 0.8], [0.5, 0.5], [0.9, 0.1]])
    batched = run_batch(problem, FACTORIES[name], prefs, starts, 150, 1e-2)

    def run(perturb):  # one optimizer per run: the reference, and (perturbed) its probes
        ends = []
        for b in range(3):
            x = torch.nn.Parameter(starts[b].clone())
            opt = MultiObjectiveOptimizer(
                torch.optim.Adam([x], lr=1e-2), method=FACTORIES[name](), preference=prefs[b]
            )
            for _ in range(150):
                losses = list(problem(x))
                opt.step(losses if perturb is None else perturb(losses))
            ends.append(x.detach().numpy())
        return np.stack(ends)

    reference = run(None)
    # The engine orders the Gramian, the weighted sum and the Adam update differently from the
    # optimizer (batched einsum vs one run): rounding differences (sums of n = K = 2 terms per
    # step) that 150 steps near Pareto-stationary points amplify; trajectory_atol measures that
    # amplification on the reference run itself (with PCGrad's seeded projections the same).
    atol = trajectory_atol(run, reference, n_terms=2, steps=150)
    np.testing.assert_allclose(batched.final_x, reference, rtol=0, atol=atol)


def test_batch_jacobian_rows_are_per_run_gradients():
    problem = ZDT1(4)
    x = torch.rand(3, 4, dtype=torch.float64, requires_grad=True)
    jac = batch_jacobian(problem(x), x)
    # Batched (vectorized) vs one-row backward passes: g's 3-term sum, then f1 / g, the square
    # root and the products of ZDT1's gradient (about 6 stages; its entries are 1, 0 or sums of
    # terms of one sign, so the bound holds entrywise), where only h = 1 - √(f1 / g) cancels,
    # by 1 / h.
    f1, g = x[:, 0].detach(), 1 + 9 * x[:, 1:].detach().sum(-1) / 3
    tol = rtol(3, steps=6, cond=float((1 / (1 - (f1 / g).sqrt())).max()))
    for b in range(3):
        xb = x[b].detach().requires_grad_(True)
        for k in range(2):
            (g,) = torch.autograd.grad(problem(xb)[k], xb)
            torch.testing.assert_close(jac[b, k], g, rtol=tol, atol=0)


def test_box_aware_zeroes_only_coordinates_every_objective_pushes_out():
    lower, upper = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    x = torch.tensor([[0.0, 1.0, 0.5]], dtype=torch.float64)
    jac = torch.tensor(
        [[[2.0, -1.0, 3.0], [1.0, -2.0, 4.0]]],  # both push out at x1 = 0 and x2 = 1
        dtype=torch.float64,
    )
    out = box_aware(jac, x, lower, upper)
    torch.testing.assert_close(out[0, :, :2], torch.zeros(2, 2, dtype=torch.float64))
    torch.testing.assert_close(out[0, :, 2], jac[0, :, 2])  # interior: untouched
    split = jac.clone()
    split[0, 1, 0] = -1.0  # one objective pulls x1 inward: the column stays
    torch.testing.assert_close(box_aware(split, x, lower, upper)[0, :, 0], split[0, :, 0])
    assert box_aware(jac, x, None, None) is jac


def test_projection_keeps_runs_in_the_box():
    problem = ZDT1(5)
    starts = problem.initial(4, torch.Generator().manual_seed(0))
    prefs = np.full((4, 2), 0.5)
    result = run_batch(problem, lambda: PLC(horizon=200), prefs, starts, 200, 5e-2)
    assert np.all(result.final_x >= 0) and np.all(result.final_x <= 1)
    assert np.all(np.isfinite(result.final_values))
    assert np.all(result.final_x[:, 1:] < 1e-3)  # g -> 1: the Pareto set's x_2.. = 0


def test_stochastic_form_is_seeded_and_noisy():
    problem = Barrier(2)
    starts = problem.initial(2, torch.Generator().manual_seed(0))
    prefs = np.full((2, 2), 0.5)

    def run(seed, stochastic=True):
        gen = torch.Generator().manual_seed(seed)
        return run_batch(problem, MGDA, prefs, starts, 30, 1e-2, stochastic, gen).final_x

    np.testing.assert_array_equal(run(1), run(1))
    assert not np.allclose(run(1), run(2))
    assert not np.allclose(run(1), run(1, stochastic=False))
    with pytest.raises(ValueError, match="Generator"):
        run_batch(problem, MGDA, prefs, starts, 3, 1e-2, stochastic=True)


def test_trajectory_and_step_shares():
    problem = Barrier(2)
    starts = problem.initial(2, torch.Generator().manual_seed(0))
    prefs = np.full((2, 2), 0.5)
    result = run_batch(problem, lambda: PLC(horizon=20), prefs, starts, 20, 1e-2, record_every=5)
    assert result.trajectory.shape == (5, 2, 2)  # steps 0, 5, 10, 15 and the end
    np.testing.assert_array_equal(result.trajectory[0], starts.numpy())
    np.testing.assert_array_equal(result.trajectory[-1], result.final_x)
    for share in result.step_shares.values():
        assert share.shape == (2,) and np.all((share >= 0) & (share <= 1))


def test_bad_starts_shape():
    with pytest.raises(ValueError, match="starts must be"):
        run_batch(Barrier(2), MGDA, np.full((2, 2), 0.5), torch.zeros(3, 2), 1, 1e-2)
