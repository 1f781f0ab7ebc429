"""MultiObjectiveOptimizer: training, accumulation, resume, parameter handling, bad input."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import torch

from moo_lenient import MGDA, PLC, LinearScalarization, MultiObjectiveOptimizer, PCGrad, available
from tests.tolerances import trajectory_atol

METHODS = {
    "ls": LinearScalarization,
    "mgda": MGDA,
    "pcgrad": lambda: PCGrad(seed=0),
    "plc": lambda: PLC(horizon=200),
    "plc-reference": lambda: PLC(horizon=200, ideal=[0.0, 0.0], nadir=[5.0, 5.0]),
}
INNER = {
    "sgd": lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.9),
    "adam": lambda params: torch.optim.Adam(params, lr=1e-2),
}


def two_task_data(n=256, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=gen, dtype=torch.float64)
    y = torch.stack([x[:, :4].sum(1), x[:, 2] - 2 * x[:, 5]], 1)
    return x, y


def make_model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2)
    ).double()


def losses_of(model, x, y):
    out = model(x)
    return [((out[:, 0] - y[:, 0]) ** 2).mean(), ((out[:, 1] - y[:, 1]) ** 2).mean()]


def params_of(model):
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("inner", list(INNER))
def test_every_method_lowers_both_losses(method, inner):
    x, y = two_task_data()
    model = make_model()
    opt = MultiObjectiveOptimizer(INNER[inner](model.parameters()), method=METHODS[method]())
    with torch.no_grad():
        before = torch.stack(losses_of(model, x, y))
    for step in range(200):
        batch = slice(step % 8 * 32, (step % 8 + 1) * 32)
        info = opt.step(losses_of(model, x[batch], y[batch]))
        assert info.step == step and info.weights.shape == (2,)
    with torch.no_grad():
        after = torch.stack(losses_of(model, x, y))
    assert (after < 0.5 * before).all(), (before, after)


def test_step_writes_weighted_gradient_and_calls_the_inner_optimizer():
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0], dtype=torch.float64))
    opt = MultiObjectiveOptimizer(
        torch.optim.SGD([w], lr=0.1), method=LinearScalarization(), preference=[3, 1]
    )
    f1, f2 = (w**2).sum(), w[0] * 5
    info = opt.step([f1, f2])
    expected_grad = 0.75 * torch.tensor([2.0, 4.0]) + 0.25 * torch.tensor([5.0, 0.0])
    torch.testing.assert_close(w.grad, expected_grad.double())
    torch.testing.assert_close(
        w.detach(), torch.tensor([1.0, 2.0]).double() - 0.1 * expected_grad.double()
    )
    torch.testing.assert_close(info.values, torch.tensor([5.0, 5.0], dtype=torch.float64))
    torch.testing.assert_close(info.preference, torch.tensor([0.75, 0.25], dtype=torch.float64))


@pytest.mark.parametrize("method", list(METHODS))
def test_resume_from_state_dict_is_exact(method):
    x, y = two_task_data()

    def batches():
        for step in range(40):
            batch = slice(step % 8 * 32, (step % 8 + 1) * 32)
            yield x[batch], y[batch]

    model = make_model()
    opt = MultiObjectiveOptimizer(torch.optim.Adam(model.parameters(), lr=1e-2), METHODS[method]())
    checkpoint = None
    for i, (xb, yb) in enumerate(batches()):
        if i == 20:
            buffer = io.BytesIO()
            torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buffer)
            checkpoint = buffer.getvalue()
        opt.step(losses_of(model, xb, yb))
    uninterrupted = params_of(model)

    state = torch.load(io.BytesIO(checkpoint), weights_only=True)
    resumed = make_model(seed=123)
    resumed.load_state_dict(state["model"])
    opt2 = MultiObjectiveOptimizer(
        torch.optim.Adam(resumed.parameters(), lr=1e-2), METHODS[method]()
    )
    opt2.load_state_dict(state["opt"])
    assert opt2.step_count == 20
    for i, (xb, yb) in enumerate(batches()):
        if i >= 20:
            opt2.step(losses_of(resumed, xb, yb))
    for a, b in zip(uninterrupted, params_of(resumed), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("method", list(METHODS))
def test_accumulation_over_micro_batches_equals_one_large_batch(method):
    x, y = two_task_data(n=64)
    infos = []

    def run(perturb):  # one large batch per step: the reference, and its probes
        big = make_model()
        opt_big = MultiObjectiveOptimizer(
            torch.optim.Adam(big.parameters(), lr=1e-2), METHODS[method]()
        )
        for _ in range(3):
            losses = losses_of(big, x, y)
            info = opt_big.step(losses if perturb is None else perturb(losses))
            if perturb is None:
                infos.append(info)
        return torch.cat([p.detach().reshape(-1) for p in big.parameters()]).numpy()

    reference = run(None)
    small = make_model()
    opt_small = MultiObjectiveOptimizer(
        torch.optim.Adam(small.parameters(), lr=1e-2), METHODS[method]()
    )
    for info_big in infos:
        for chunk in range(4):
            part = slice(chunk * 16, (chunk + 1) * 16)
            opt_small.backward([loss / 4 for loss in losses_of(small, x[part], y[part])])
        info_small = opt_small.step()
        assert info_small.microbatches == 4 and opt_small.step_count == info_big.step + 1
        torch.testing.assert_close(info_small.values, info_big.values)
        torch.testing.assert_close(info_small.weights, info_big.weights)
    # Four means over 16 examples, divided by 4 and accumulated, vs one mean over 64 (sums of
    # 64 terms in another order), then 3 Adam steps, which normalize the gradients and can
    # amplify the difference: trajectory_atol measures that on the reference run.
    atol = trajectory_atol(run, reference, n_terms=64, steps=3)
    flat = torch.cat([p.detach().reshape(-1) for p in small.parameters()]).numpy()
    np.testing.assert_allclose(flat, reference, rtol=0, atol=atol)


def test_step_with_losses_is_backward_then_step():
    x, y = two_task_data(n=32)
    a, b = make_model(), make_model()
    opt_a = MultiObjectiveOptimizer(torch.optim.SGD(a.parameters(), lr=0.1), PLC(horizon=5))
    opt_b = MultiObjectiveOptimizer(torch.optim.SGD(b.parameters(), lr=0.1), PLC(horizon=5))
    for _ in range(3):
        ia = opt_a.step(losses_of(a, x, y), preference=[0.2, 0.8])
        opt_b.backward(losses_of(b, x, y))
        ib = opt_b.step(preference=[0.2, 0.8])
        assert torch.equal(ia.weights, ib.weights)
    for p, q in zip(params_of(a), params_of(b), strict=True):
        assert torch.equal(p, q)


def test_shared_params_heads_get_their_plain_gradient():
    torch.manual_seed(0)
    trunk = torch.nn.Linear(4, 6).double()
    head1, head2 = torch.nn.Linear(6, 1).double(), torch.nn.Linear(6, 1).double()
    params = [*trunk.parameters(), *head1.parameters(), *head2.parameters()]
    opt = MultiObjectiveOptimizer(
        torch.optim.SGD(params, lr=0.0), MGDA(), shared_params=trunk.parameters()
    )
    x = torch.randn(10, 4, dtype=torch.float64)
    h = torch.tanh(trunk(x))
    l1, l2 = head1(h).pow(2).mean(), (head2(h) - 1).pow(2).mean()
    g1_head = torch.autograd.grad(l1, list(head1.parameters()), retain_graph=True)
    g2_head = torch.autograd.grad(l2, list(head2.parameters()), retain_graph=True)
    j = torch.stack(
        [
            torch.cat(
                [
                    g.reshape(-1)
                    for g in torch.autograd.grad(loss, list(trunk.parameters()), retain_graph=True)
                ]
            )
            for loss in (l1, l2)
        ]
    )
    info = opt.step([l1, l2])
    for p, g in zip(head1.parameters(), g1_head, strict=True):
        torch.testing.assert_close(p.grad, g)
    for p, g in zip(head2.parameters(), g2_head, strict=True):
        torch.testing.assert_close(p.grad, g)
    trunk_grad = torch.cat([p.grad.reshape(-1) for p in trunk.parameters()])
    torch.testing.assert_close(trunk_grad, info.weights @ j)


def test_unreached_and_frozen_parameters():
    used = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
    unused = torch.nn.Parameter(torch.tensor([3.0]))
    frozen = torch.nn.Parameter(torch.tensor([4.0]), requires_grad=False)
    opt = MultiObjectiveOptimizer(torch.optim.Adam([used, unused, frozen], lr=0.1), PCGrad())
    only_first = used[0] ** 2 + frozen[0]  # objective 2 reaches nothing trainable but `used`
    info = opt.step([only_first, (used**2).sum()])
    assert unused.grad is None and torch.equal(unused.detach(), torch.tensor([3.0]))
    assert frozen.grad is None and torch.equal(frozen, torch.tensor([4.0]))
    assert torch.isfinite(info.weights).all()


def test_regularizer_gradient_is_added_once_after_aggregation():
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0], dtype=torch.float64))
    opt = MultiObjectiveOptimizer(torch.optim.SGD([w], lr=0.0), MGDA())
    f1, f2 = (w[0] - 3) ** 2, (w[1] + 1) ** 2
    info = opt.step([f1, f2], regularizer=0.5 * (w**2).sum())
    jac = torch.tensor([[-4.0, 0.0], [0.0, 6.0]], dtype=torch.float64)
    torch.testing.assert_close(w.grad, info.weights @ jac + w.detach())


def test_values_replace_the_loss_values_for_pricing():
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0], dtype=torch.float64))
    opt = MultiObjectiveOptimizer(torch.optim.SGD([w], lr=0.1), PLC(horizon=3))
    info = opt.step([w.sum(), -w.sum()], values=[7.0, -2.0])
    torch.testing.assert_close(info.values, torch.tensor([7.0, -2.0], dtype=torch.float64))
    opt.backward([w.sum(), -w.sum()])
    info = opt.step(values=[1.0, 2.0])
    torch.testing.assert_close(info.values, torch.tensor([1.0, 2.0], dtype=torch.float64))


def test_losses_as_a_1d_tensor_and_method_by_name():
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0], dtype=torch.float64))
    assert set(available()) >= {"ls", "mgda", "pcgrad", "plc"}
    opt = MultiObjectiveOptimizer(torch.optim.SGD([w], lr=0.1), method="mgda")
    info = opt.step(torch.stack([(w**2).sum(), (w - 1).pow(2).sum()]))
    assert isinstance(opt.method, MGDA) and info.weights.shape == (2,)


def test_total_steps_sets_the_plc_horizon():
    w = torch.nn.Parameter(torch.tensor([1.0]))
    method = PLC()
    MultiObjectiveOptimizer(torch.optim.SGD([w], lr=0.1), method, total_steps=500)
    assert method.horizon == 500
    with pytest.raises(ValueError, match="disagrees with the method's horizon"):
        MultiObjectiveOptimizer(torch.optim.SGD([w], lr=0.1), PLC(horizon=10), total_steps=500)


def test_zero_grad_discards_pending_micro_batches():
    w = torch.nn.Parameter(torch.tensor([1.0]))
    opt = MultiObjectiveOptimizer(torch.optim.SGD([w], lr=0.1), LinearScalarization())
    opt.backward([w.sum() * 2, w.sum()])
    opt.zero_grad()
    with pytest.raises(RuntimeError, match="needs a previous backward"):
        opt.step()


def test_param_groups_and_state_are_the_inner_optimizers():
    w = torch.nn.Parameter(torch.tensor([1.0]))
    inner = torch.optim.Adam([w], lr=0.1)
    opt = MultiObjectiveOptimizer(inner, LinearScalarization())
    assert opt.param_groups is inner.param_groups
    opt.param_groups[0]["lr"] = 0.5
    assert inner.param_groups[0]["lr"] == 0.5
    opt.step([w.sum(), 2 * w.sum()])
    assert opt.state is inner.state and len(opt.state) == 1


# Bad input: a clear error naming the problem, and nothing changed -----------------------------
def _fresh():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2).double()
    opt = MultiObjectiveOptimizer(
        torch.optim.Adam(model.parameters(), lr=0.1), PLC(horizon=10), preference=[0.5, 0.5]
    )
    x = torch.randn(4, 3, dtype=torch.float64)
    opt.step(list(model(x).pow(2).mean(0)))  # one good step: optimizer and method have state
    return model, opt, x


def _snapshot(model, opt):
    return (
        copy.deepcopy(model.state_dict()),
        [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        copy.deepcopy(opt.state_dict()),
    )


def _assert_same(a, b):
    (pa, ga, sa), (pb, gb, sb) = a, b
    for k in pa:
        assert torch.equal(pa[k], pb[k])
    for x, y in zip(ga, gb, strict=True):
        assert (x is None and y is None) or torch.equal(x, y)
    assert repr(sa) == repr(sb)


BAD_STEPS = [
    (
        "three losses for a 2-entry preference",
        lambda m, x: dict(losses=[*m(x).pow(2).mean(0), m(x).sum()]),
        ValueError,
        "got 3 losses but",
    ),
    (
        "wrong preference length",
        lambda m, x: dict(losses=list(m(x).pow(2).mean(0)), preference=[1, 1, 1]),
        ValueError,
        "preference has 3 entries but there are 2 objectives",
    ),
    (
        "non-scalar loss",
        lambda m, x: dict(losses=[m(x)[:, 0], m(x)[:, 1].mean()]),
        ValueError,
        "loss 0 is not a scalar",
    ),
    ("2-D losses tensor", lambda m, x: dict(losses=m(x)), ValueError, "must be 1-D"),
    (
        "NaN loss",
        lambda m, x: dict(losses=[m(x).sum() * float("nan"), m(x).sum()]),
        ValueError,
        r"loss of objective\(s\) \[0\] is not finite",
    ),
    (
        "infinite loss",
        lambda m, x: dict(losses=[m(x).sum(), m(x).sum() + float("inf")]),
        ValueError,
        r"loss of objective\(s\) \[1\] is not finite",
    ),
    (
        "non-finite gradient",
        lambda m, x: dict(losses=[m(x).sum(), (m(x).sum() * 0).abs().sqrt()]),
        ValueError,
        r"gradient of objective\(s\) \[1\] is not finite",
    ),
    (
        "negative preference",
        lambda m, x: dict(losses=list(m(x).pow(2).mean(0)), preference=[1.5, -0.5]),
        ValueError,
        "preference must be non-negative",
    ),
    (
        "NaN preference",
        lambda m, x: dict(losses=list(m(x).pow(2).mean(0)), preference=[float("nan"), 1]),
        ValueError,
        "preference must be finite",
    ),
    (
        "infinite preference",
        lambda m, x: dict(losses=list(m(x).pow(2).mean(0)), preference=[float("inf"), 1]),
        ValueError,
        "preference must be finite",
    ),
    (
        "all-zero preference",
        lambda m, x: dict(losses=list(m(x).pow(2).mean(0)), preference=[0, 0]),
        ValueError,
        "must not be all zero",
    ),
    ("empty losses", lambda m, x: dict(losses=[]), ValueError, "losses is empty"),
    (
        "detached losses",
        lambda m, x: dict(losses=[m(x).sum().detach(), m(x).mean().detach()]),
        ValueError,
        "no loss requires grad",
    ),
    (
        "non-tensor loss",
        lambda m, x: dict(losses=[1.0, m(x).sum()]),
        TypeError,
        "loss 0 is not a tensor",
    ),
    (
        "NaN values",
        lambda m, x: dict(losses=list(m(x).pow(2).mean(0)), values=[float("nan"), 1.0]),
        ValueError,
        "values of objective",
    ),
    (
        "values of the wrong length",
        lambda m, x: dict(losses=list(m(x).pow(2).mean(0)), values=[1.0]),
        ValueError,
        "values has 1 entries but there are 2 objectives",
    ),
    ("loss below PLC's lower bound is checked by PLC", None, None, None),
]


@pytest.mark.parametrize(
    ("case", "make", "error", "match"),
    [c for c in BAD_STEPS if c[1]],
    ids=[c[0] for c in BAD_STEPS if c[1]],
)
def test_bad_input_raises_and_changes_nothing(case, make, error, match):
    model, opt, x = _fresh()
    before = _snapshot(model, opt)
    with pytest.raises(error, match=match):
        opt.step(**make(model, x))
    _assert_same(before, _snapshot(model, opt))
    opt.step(list(model(x).pow(2).mean(0)))  # and the optimizer still works


def test_bad_micro_batch_leaves_the_accumulator_as_it_was():
    model, opt, x = _fresh()
    opt.backward(list(model(x).pow(2).mean(0)))
    with pytest.raises(ValueError, match="not finite"):
        opt.backward([model(x).sum() * float("nan"), model(x).sum()])
    info = opt.step()
    assert info.microbatches == 1


def test_method_failure_restores_method_state():
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.tensor([1.0, 1.0], dtype=torch.float64))
    method = PLC(horizon=10, lower_bound=[0.0, 0.0])
    opt = MultiObjectiveOptimizer(torch.optim.Adam([w], lr=0.1), method)
    opt.step([(w**2).sum(), (w - 2).pow(2).sum()])
    before = _snapshot(torch.nn.ParameterList([w]), opt)
    with pytest.raises(ValueError, match=r"objective 1 has value .* below its declared"):
        opt.step([(w**2).sum(), (w**2).sum() - 100])
    _assert_same(before, _snapshot(torch.nn.ParameterList([w]), opt))


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (
            lambda: MultiObjectiveOptimizer(
                torch.optim.SGD([torch.nn.Parameter(torch.ones(1), requires_grad=False)], lr=1)
            ),
            ValueError,
            "no trainable parameters",
        ),
        (
            lambda: MultiObjectiveOptimizer(torch.optim.LBFGS([torch.nn.Parameter(torch.ones(1))])),
            TypeError,
            "LBFGS is not supported",
        ),
        (lambda: MultiObjectiveOptimizer("adam"), TypeError, "must be a torch.optim.Optimizer"),
        (
            lambda: MultiObjectiveOptimizer(
                torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=1), method="nash"
            ),
            ValueError,
            "unknown method 'nash'",
        ),
        (
            lambda: MultiObjectiveOptimizer(
                torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=1), preference=[-1, 2]
            ),
            ValueError,
            "preference must be non-negative",
        ),
        (
            lambda: MultiObjectiveOptimizer(
                torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=1), total_steps=0
            ),
            ValueError,
            "total_steps must be a positive integer",
        ),
        (
            lambda: MultiObjectiveOptimizer(
                torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=1),
                shared_params=[torch.nn.Parameter(torch.ones(1))],
            ),
            ValueError,
            "not trainable parameters of the optimizer",
        ),
    ],
)
def test_bad_construction(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_empty_parameter_list_is_refused():
    # torch.optim refuses an empty list itself; our check covers all-frozen parameter lists.
    with pytest.raises(ValueError, match="empty parameter list"):
        MultiObjectiveOptimizer(torch.optim.SGD([], lr=1))


def test_step_without_losses_or_backward():
    w = torch.nn.Parameter(torch.tensor([1.0]))
    opt = MultiObjectiveOptimizer(torch.optim.SGD([w], lr=0.1), MGDA())
    with pytest.raises(RuntimeError, match="needs a previous backward"):
        opt.step()


def test_state_dict_of_another_method_or_k_is_refused():
    model, opt, _ = _fresh()
    state = opt.state_dict()
    other = MultiObjectiveOptimizer(torch.optim.Adam(model.parameters(), lr=0.1), MGDA())
    with pytest.raises(ValueError, match="state dict is for method 'plc'"):
        other.load_state_dict(state)
    three = MultiObjectiveOptimizer(
        torch.optim.Adam(model.parameters(), lr=0.1), PLC(horizon=10), preference=[1, 1, 1]
    )
    with pytest.raises(ValueError, match="state dict is for 2 objectives but the preference has 3"):
        three.load_state_dict(state)
    with pytest.raises(ValueError, match="missing"):
        opt.load_state_dict({"optimizer": {}})
