"""on_nonfinite: "raise" names the culprit, "skip" changes nothing, "zero" leaves it out."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from moo_lenient import MultiObjectiveOptimizer
from moo_lenient._validation import NonFiniteError
from moo_lenient.methods import get

# The methods run with the same non-uniform preference; MGDA, IMTL-G and FAMO
# ignore it by design (they warn once, PreferenceIgnoredWarning), which is not what this tests.
pytestmark = pytest.mark.filterwarnings("ignore::moo_lenient.PreferenceIgnoredWarning")

MODES = ("params", "params_batched", "gramian", "features", "subset")


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.trunk = torch.nn.Linear(4, 5)
        self.heads = torch.nn.ModuleList(torch.nn.Linear(5, 1) for _ in range(3))

    def forward(self, x):
        z = torch.tanh(self.trunk(x))
        return z, [h(z).squeeze(-1) for h in self.heads]


def data(t: int):
    g = torch.Generator().manual_seed(t)
    return torch.randn(6, 4, generator=g), torch.randn(6, 3, generator=g)


def make(net, policy="raise", mode="params", method="plc"):
    kw = {"subset_params": list(net.trunk.parameters())} if mode == "subset" else {}
    return MultiObjectiveOptimizer(
        torch.optim.Adam(net.parameters(), lr=0.05),
        get(method),
        preference=[0.5, 0.3, 0.2],
        total_steps=10,
        jacobian_mode=mode,
        on_nonfinite=policy,
        **kw,
    )


def losses_for(net, t, poison=None, where="loss"):
    """Losses of batch t; objective ``poison`` gets a NaN loss, or a NaN gradient only."""
    x, y = data(t)
    z, outs = net(x)
    losses = [((o - y[:, k]) ** 2).mean() for k, o in enumerate(outs)]
    if poison is not None:
        if where == "loss":
            losses[poison] = losses[poison] * float("nan")
        else:  # finite value, NaN gradient: sqrt'(0) = inf, times 0 -> NaN
            losses[poison] = losses[poison] + 0.0 * torch.sqrt(z.sum() * 0.0)
    return z, losses


def step(opt, net, t, mode, **kw):
    z, losses = losses_for(net, t, **kw)
    feats = {"features": z} if mode == "features" else {}
    return opt.step(losses, **feats)


def snapshot(net, opt):
    return (
        [p.detach().clone() for p in net.parameters()],
        [None if p.grad is None else p.grad.clone() for p in net.parameters()],
        copy.deepcopy(opt.state_dict()),
    )


def same(a, b):
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a if k != "skipped_steps")
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@pytest.mark.parametrize("where", ["loss", "gradient"])
def test_raise_names_the_objective_and_what_was_not_finite(where):
    net = Net()
    opt = make(net)
    step(opt, net, 0, "params")
    before = snapshot(net, opt)
    with pytest.raises(NonFiniteError, match=rf"{where} of objective\(s\) \[1\]"):
        step(opt, net, 1, "params", poison=1, where=where)
    assert same(snapshot(net, opt), before)
    assert issubclass(NonFiniteError, ValueError)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("where", ["loss", "gradient"])
def test_skip_leaves_everything_bit_identical_and_the_run_continues_as_if_absent(mode, where):
    net, ref_net = Net(), Net()
    opt, ref = make(net, "skip", mode), make(ref_net, "skip", mode)
    step(opt, net, 0, mode)
    step(ref, ref_net, 0, mode)
    before = snapshot(net, opt)
    info = step(opt, net, 1, mode, poison=2, where=where)
    assert info.skipped and info.diagnostics["skipped"] and "2]" in info.diagnostics["reason"]
    assert opt.skipped_steps == 1 and info.diagnostics["skipped_steps"] == 1
    assert info.weights.tolist() == [0.0, 0.0, 0.0]
    assert same(snapshot(net, opt), before)
    for t in (2, 3):
        step(opt, net, t, mode)
        step(ref, ref_net, t, mode)
    for p, q in zip(net.parameters(), ref_net.parameters(), strict=True):
        assert torch.equal(p, q)
    assert opt.state_dict()["skipped_steps"] == 1 and opt.step_count == ref.step_count


def test_skip_with_accumulation_drops_the_whole_step():
    net = Net()
    opt = make(net, "skip")
    step(opt, net, 0, "params")
    before = snapshot(net, opt)
    _, good = losses_for(net, 1)
    _, bad = losses_for(net, 2, poison=0)
    opt.backward(good)
    opt.backward(bad)
    _, good2 = losses_for(net, 3)
    opt.backward(good2)
    info = opt.step()
    assert info.skipped and info.microbatches == 3
    assert same(snapshot(net, opt), before)
    _, bad = losses_for(net, 2, poison=1)  # the first micro-batch bad, then a good one
    opt.backward(bad)
    _, good = losses_for(net, 3)
    opt.backward(good)
    assert opt.step().skipped and opt.skipped_steps == 2
    assert same(snapshot(net, opt), before)
    step(opt, net, 4, "params")  # the next step starts from a clean accumulator
    assert opt.step_count == 2


@pytest.mark.parametrize("mode", ["params", "params_batched", "features", "subset"])
@pytest.mark.parametrize("where", ["loss", "gradient"])
def test_zero_leaves_the_objective_out_of_this_step_only(mode, where):
    """The step equals one with that objective inactive, priced at its last finite value."""
    net, ref_net = Net(), Net()
    opt = make(net, "zero", mode, method="mgda")
    ref = make(ref_net, "zero", mode, method="mgda")
    info0 = step(opt, net, 0, mode)
    step(ref, ref_net, 0, mode)
    head1 = [p.detach().clone() for p in net.heads[1].parameters()]
    info = step(opt, net, 1, mode, poison=1, where=where)
    if mode == "params_batched" and where == "gradient":
        # One batched backward: the zero cotangents of the other objectives times the inf
        # local derivative are NaN, so every row is non-finite and the step is skipped.
        assert info.skipped and "[0, 1, 2]" in info.diagnostics["reason"]
        return
    z, losses = losses_for(ref_net, 1)
    feats = {"features": z} if mode == "features" else {}
    values = [losses[0].item(), info0.values[1].item(), losses[2].item()]
    expected = ref.step(losses, active=[True, False, True], values=values, **feats)
    assert not info.skipped and info.diagnostics["nonfinite"] == [1]
    assert info.active.tolist() == [True, False, True] and info.weights[1] == 0.0
    torch.testing.assert_close(info.weights, expected.weights)
    assert info.values[1] == info0.values[1]
    # head 1 is reached by objective 1 only: no gradient, so Adam leaves it as it was
    for p, before in zip(net.heads[1].parameters(), head1, strict=True):
        assert p.grad is None and torch.equal(p, before)
    kept = [*net.trunk.parameters(), *net.heads[0].parameters(), *net.heads[2].parameters()]
    ref_kept = [
        *ref_net.trunk.parameters(),
        *ref_net.heads[0].parameters(),
        *ref_net.heads[2].parameters(),
    ]
    for p, q in zip(kept, ref_kept, strict=True):
        torch.testing.assert_close(p, q)
    assert all(torch.isfinite(p).all() for p in net.parameters())


def test_zero_skips_when_nothing_is_left():
    net = Net()
    opt = make(net, "zero")
    info = step(opt, net, 0, "params", poison=0)  # no earlier value to price it with
    assert info.skipped and opt.skipped_steps == 1 and opt.step_count == 0
    step(opt, net, 1, "params")
    x, _ = data(2)
    _, outs = net(x)
    nan_all = [o.sum() * float("nan") for o in outs]
    assert opt.step(nan_all).skipped and opt.skipped_steps == 2


def test_zero_drops_a_non_finite_regularizer():
    net, ref_net = Net(), Net()
    opt, ref = make(net, "zero", method="ls"), make(ref_net, "zero", method="ls")
    _, losses = losses_for(net, 0)
    opt.step(losses, regularizer=net.trunk.weight.sum() * float("inf"))
    _, ref_losses = losses_for(ref_net, 0)
    ref.step(ref_losses)
    for p, q in zip(net.parameters(), ref_net.parameters(), strict=True):
        assert torch.equal(p, q)


def test_skipped_count_survives_a_state_dict_round_trip():
    net = Net()
    opt = make(net, "skip")
    step(opt, net, 0, "params")
    step(opt, net, 1, "params", poison=0)
    state = opt.state_dict()
    other = make(Net(), "skip")
    other.load_state_dict(state)
    assert other.skipped_steps == 1
    np.testing.assert_array_equal(other.state_dict()["last_values"], state["last_values"])


def test_bad_policy_is_refused():
    net = Net()
    with pytest.raises(ValueError, match="on_nonfinite must be one of"):
        make(net, "ignore")
