"""MultiObjectiveOptimizer.observe and Method.observe: the post-step values hook (FAMO)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from moo_lenient import MGDA, LinearScalarization, MultiObjectiveOptimizer
from moo_lenient.methods.base import Method
from moo_lenient.methods.famo import FAMO


def data(n=128, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=gen, dtype=torch.float64)
    y = torch.stack([x[:, :3].sum(1), 3.0 * (x[:, 3] - x[:, 5])], 1)
    return x, y


def model_(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(6, 12), torch.nn.Tanh(), torch.nn.Linear(12, 2)
    ).double()


def losses_of(model, x, y):
    out = model(x)
    return [((out[:, k] - y[:, k]) ** 2).mean() for k in range(2)]


def train(opt, model, x, y, steps, observe=True):
    weights = []
    for step in range(steps):
        batch = slice(step % 4 * 32, (step % 4 + 1) * 32)
        info = opt.step(losses_of(model, x[batch], y[batch]))
        weights.append(info.weights)
        if observe:
            with torch.no_grad():
                after = losses_of(model, x[batch], y[batch])
            opt.observe([loss.item() for loss in after])
    return weights


def test_observe_forwards_the_post_step_values_to_the_method():
    x, y = data()
    model = model_()
    opt = MultiObjectiveOptimizer(torch.optim.SGD(model.parameters(), lr=0.05), method=FAMO())
    twin = FAMO()
    for step in range(5):
        batch = slice(step * 16, (step + 1) * 16)
        losses = losses_of(model, x[batch], y[batch])
        info = opt.step(losses)
        expected = twin(torch.eye(2, dtype=torch.float64), losses=info.values)
        # FAMO's weights and logits depend on the values only: the same operations as the twin
        torch.testing.assert_close(info.weights, expected.weights, rtol=1e-15, atol=0)
        assert info.diagnostics["updated"] is False  # observe() updated the logits already
        with torch.no_grad():
            after = np.array([loss.item() for loss in losses_of(model, x[batch], y[batch])])
        opt.observe(after)
        twin.observe(after)
        torch.testing.assert_close(opt.method.logits, twin.logits, rtol=1e-15, atol=0)
    assert not torch.equal(twin.logits, torch.zeros(2, dtype=torch.float64))


def test_famo_with_observe_trains_both_objectives():
    x, y = data()
    model = model_()
    opt = MultiObjectiveOptimizer(torch.optim.Adam(model.parameters(), lr=1e-2), method=FAMO())
    with torch.no_grad():
        before = torch.stack(losses_of(model, x, y))
    train(opt, model, x, y, 150)
    with torch.no_grad():
        after = torch.stack(losses_of(model, x, y))
    assert (after < 0.5 * before).all(), (before, after)


def test_without_observe_famo_uses_the_next_steps_values():
    x, y = data()
    model = model_()
    opt = MultiObjectiveOptimizer(torch.optim.SGD(model.parameters(), lr=0.05), method=FAMO())
    previous = None
    for step in range(4):
        batch = slice(step * 16, (step + 1) * 16)
        info = opt.step(losses_of(model, x[batch], y[batch]))
        assert info.diagnostics["updated"] is (previous is not None)
        if previous is not None:
            expected = np.log(previous + 1e-8) - np.log(info.values.numpy() + 1e-8)
            np.testing.assert_allclose(info.diagnostics["log_loss_decrease"].numpy(), expected)
        previous = info.values.numpy()


@pytest.mark.parametrize(
    "as_",
    [
        lambda v: v.tolist(),
        lambda v: np.array(v),
        lambda v: torch.tensor(v),
        lambda v: [torch.tensor(a) for a in v],
    ],
)
def test_observe_accepts_numbers_arrays_and_tensors(as_):
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0], dtype=torch.float64))
    opt = MultiObjectiveOptimizer(torch.optim.SGD([w], lr=0.1), method=FAMO(optimizer="sgd"))
    opt.step([(w**2).sum(), (w - 3).abs().sum()])
    opt.observe(as_(np.array([4.0, 3.0])))
    twin = FAMO(optimizer="sgd")
    twin(torch.eye(2, dtype=torch.float64), losses=[5.0, 3.0])
    twin.observe(np.array([4.0, 3.0]))
    torch.testing.assert_close(opt.method.logits, twin.logits)


def test_stateless_methods_ignore_observe():
    x, y = data()
    runs = []
    for observe in (False, True):
        model = model_()
        opt = MultiObjectiveOptimizer(torch.optim.SGD(model.parameters(), lr=0.05), method=MGDA())
        runs.append(train(opt, model, x, y, 5, observe=observe))
        assert opt.method.state_dict() == {}
    for a, b in zip(*runs, strict=True):
        assert torch.equal(a, b)
    assert Method.observe(LinearScalarization(), np.ones(2)) is None  # the documented no-op


def test_observe_before_the_first_step_raises():
    w = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    opt = MultiObjectiveOptimizer(torch.optim.SGD([w], lr=0.1), method=FAMO())
    with pytest.raises(RuntimeError, match=r"call step\(\) first"):
        opt.observe([1.0, 1.0])


def snapshot(opt, model):
    return (
        copy.deepcopy(opt.method.state_dict()),
        [p.detach().clone() for p in model.parameters()],
        opt.step_count,
    )


def assert_unchanged(before, after):
    (state_a, params_a, step_a), (state_b, params_b, step_b) = before, after
    assert step_a == step_b
    for a, b in zip(params_a, params_b, strict=True):
        assert torch.equal(a, b)
    assert state_a.keys() == state_b.keys()
    for key, value in state_a.items():
        other = state_b[key]
        assert torch.equal(value, other) if isinstance(value, torch.Tensor) else value == other


@pytest.mark.parametrize(
    ("values", "error", "match"),
    [
        ([1.0], ValueError, "values has 1 entries but there are 2 objectives"),
        ([1.0, float("nan")], ValueError, r"values of objective\(s\) \[1\] is not finite"),
        ([float("inf"), 1.0], ValueError, r"values of objective\(s\) \[0\] is not finite"),
        ([[1.0, 2.0]], ValueError, "values must be 1-D"),
        (["a", "b"], TypeError, "values must be a sequence of numbers"),
        ([-1.0, 1.0], ValueError, "must be at least 0"),  # refused by FAMO itself
    ],
)
def test_bad_values_raise_before_anything_changes(values, error, match):
    x, y = data()
    model = model_()
    opt = MultiObjectiveOptimizer(torch.optim.SGD(model.parameters(), lr=0.05), method=FAMO())
    train(opt, model, x, y, 3)
    opt.step(losses_of(model, x[:32], y[:32]))  # a step awaiting its post-step values
    before = snapshot(opt, model)
    assert before[0]["pending"] is not None
    with pytest.raises(error, match=match):
        opt.observe(values)
    assert_unchanged(before, snapshot(opt, model))
    opt.observe([0.5, 0.5])  # still awaiting
    assert opt.method.state_dict()["pending"] is None


def test_a_failing_observe_restores_the_method_state():
    class Fragile(Method):
        name = "fragile"

        def __init__(self):
            self.seen = 0

        def _solve(self, gramian, preference, losses):
            return np.full(gramian.shape[0], 1.0 / gramian.shape[0]), {}

        def observe(self, values):
            self.seen += 1  # mutates, then fails
            raise ArithmeticError("boom")

        def state_dict(self):
            return {"seen": self.seen}

        def load_state_dict(self, state):
            self.seen = state["seen"]

    w = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    opt = MultiObjectiveOptimizer(torch.optim.SGD([w], lr=0.1), method=Fragile())
    opt.step([(w**2).sum(), w.sum()])
    with pytest.raises(ArithmeticError, match="boom"):
        opt.observe([1.0, 2.0])
    assert opt.method.seen == 0


def test_resume_with_observe_is_exact():
    x, y = data()
    reference_model = model_()
    ref = MultiObjectiveOptimizer(
        torch.optim.Adam(reference_model.parameters(), lr=1e-2), method=FAMO()
    )
    reference = train(ref, reference_model, x, y, 10)

    model = model_()
    opt = MultiObjectiveOptimizer(torch.optim.Adam(model.parameters(), lr=1e-2), method=FAMO())
    train(opt, model, x, y, 4)
    state = copy.deepcopy(opt.state_dict())
    params = copy.deepcopy(model.state_dict())

    model2 = model_(seed=1)
    model2.load_state_dict(params)
    opt2 = MultiObjectiveOptimizer(torch.optim.Adam(model2.parameters(), lr=1e-2), method=FAMO())
    opt2.load_state_dict(state)
    resumed = []
    for step in range(4, 10):
        batch = slice(step % 4 * 32, (step % 4 + 1) * 32)
        resumed.append(opt2.step(losses_of(model2, x[batch], y[batch])).weights)
        with torch.no_grad():
            opt2.observe([loss.item() for loss in losses_of(model2, x[batch], y[batch])])
    for a, b in zip(reference[4:], resumed, strict=True):
        assert torch.equal(a, b)
