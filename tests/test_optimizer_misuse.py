"""Misuse that used to pass silently: each is now a clear error, a warning, or a supported path.

- a loss not attached to the graph beside attached ones (MGDA put all weight on it: no step);
- ``features=`` (or ``subset_params``) the losses do not depend on (MGDA became LS silently);
- ``torch.amp.GradScaler`` with float16 (the step of value-dependent methods shrank by S);
- a non-uniform preference given to a method that ignores it.
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch

from moo_lenient import MultiObjectiveOptimizer, PreferenceIgnoredWarning, available
from moo_lenient.methods import get

# ----------------------------------------------------------------------------- a small model


class Net(torch.nn.Module):
    """A shared trunk and one output per objective (K = 3)."""

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.trunk = torch.nn.Linear(6, 16)
        self.head = torch.nn.Linear(16, 3)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        z = torch.tanh(self.trunk(x))
        out = self.head(z)
        return z, [out[:, k] for k in range(out.shape[1])]


def batch(step: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(10 + step)
    return torch.randn(32, 6, generator=gen), torch.randn(32, 3, generator=gen)


def losses_of(net: Net, step: int = 0) -> tuple[torch.Tensor, list[torch.Tensor]]:
    x, y = batch(step)
    z, outs = net(x)
    return z, [((o.float() - y[:, k]) ** 2).mean() for k, o in enumerate(outs)]


def snapshot(net: Net, opt: MultiObjectiveOptimizer):
    return (
        [p.detach().clone() for p in net.parameters()],
        [None if p.grad is None else p.grad.clone() for p in net.parameters()],
        copy.deepcopy(opt.state_dict()),
    )


def assert_unchanged(net: Net, opt: MultiObjectiveOptimizer, before) -> None:
    params, grads, state = before
    for p, q in zip(net.parameters(), params, strict=True):
        assert torch.equal(p, q)
    for p, g in zip(net.parameters(), grads, strict=True):
        assert (p.grad is None and g is None) or torch.equal(p.grad, g)
    assert str(opt.state_dict()) == str(state)


# ----------------------------------------------------------------------------- detached losses


@pytest.mark.parametrize("mode", ["params", "params_batched", "gramian", "features", "subset"])
@pytest.mark.parametrize("how", ["detach", "no_grad", "constant"])
def test_a_detached_loss_beside_attached_ones_is_named(mode, how):
    net = Net()
    kw = {"subset_params": list(net.trunk.parameters())} if mode == "subset" else {}
    opt = MultiObjectiveOptimizer(
        torch.optim.SGD(net.parameters(), lr=0.1), "mgda", jacobian_mode=mode, **kw
    )
    z, losses = losses_of(net)
    if how == "detach":
        losses[1] = losses[1].detach()
    elif how == "no_grad":
        with torch.no_grad():
            losses[1] = losses_of(net)[1][1]
    else:
        losses[1] = torch.tensor(0.5)
    feats = {"features": z} if mode == "features" else {}
    before = snapshot(net, opt)
    with pytest.raises(ValueError, match=r"objective\(s\) \[1\] is not attached"):
        opt.step(losses, **feats)
    assert_unchanged(net, opt, before)


def test_an_attached_loss_with_a_zero_gradient_is_legitimate():
    """Attached but with zero gradient (here 0 * loss): accepted, as before. MGDA's min-norm
    point is then the zero row, so the shared parameters get a zero step."""
    net = Net()
    opt = MultiObjectiveOptimizer(torch.optim.SGD(net.parameters(), lr=0.1), "mgda")
    _, losses = losses_of(net)
    losses[2] = 0.0 * losses[2]
    info = opt.step(losses)
    assert not info.skipped
    assert info.grad_norms[2] == 0.0
    assert all(p.grad is not None and not p.grad.any() for p in net.parameters())


# ----------------------------------------------------------------------------- features / subset


def test_features_the_losses_do_not_depend_on_are_refused():
    net = Net()
    opt = MultiObjectiveOptimizer(
        torch.optim.SGD(net.parameters(), lr=0.1), "mgda", jacobian_mode="features"
    )
    _, losses = losses_of(net)
    unrelated = torch.tanh(net.trunk(torch.randn(4, 6)))  # another forward pass's output
    before = snapshot(net, opt)
    with pytest.raises(ValueError, match=r"objective\(s\) \[0, 1, 2\] does not depend on features"):
        opt.step(losses, features=unrelated)
    assert_unchanged(net, opt, before)


def test_features_one_objective_does_not_reach_are_refused_naming_it():
    net = Net()
    opt = MultiObjectiveOptimizer(
        torch.optim.SGD(net.parameters(), lr=0.1), "mgda", jacobian_mode="features"
    )
    z, losses = losses_of(net)
    losses[2] = (net.head.bias**2).sum()  # a loss on the head alone: no path from z
    with pytest.raises(ValueError, match=r"objective\(s\) \[2\] does not depend on features"):
        opt.step(losses, features=z)


def test_subset_params_an_objective_does_not_reach_are_refused_naming_it():
    net = Net()
    opt = MultiObjectiveOptimizer(
        torch.optim.SGD(net.parameters(), lr=0.1),
        "mgda",
        jacobian_mode="subset",
        subset_params=list(net.trunk.parameters()),
    )
    _, losses = losses_of(net)
    losses[0] = (net.head.weight**2).sum()  # never reaches the trunk
    before = snapshot(net, opt)
    with pytest.raises(ValueError, match=r"objective\(s\) \[0\] does not depend on any of"):
        opt.step(losses)
    assert_unchanged(net, opt, before)


# ----------------------------------------------------------------------------- preference


PREFERENCE_FREE = [n for n in available() if "preference_aware" not in get(n).properties]


def test_the_preference_free_methods_are_the_expected_ones():
    assert set(PREFERENCE_FREE) == {"mgda", "imtlg", "famo"}


@pytest.mark.parametrize("name", PREFERENCE_FREE)
def test_a_non_uniform_preference_for_a_method_that_ignores_it_warns_once(name):
    net = Net()
    with pytest.warns(PreferenceIgnoredWarning, match=type(get(name)).__name__):
        opt = MultiObjectiveOptimizer(
            torch.optim.SGD(net.parameters(), lr=0.1), name, preference=[0.6, 0.3, 0.1]
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error", PreferenceIgnoredWarning)  # once per optimizer
        opt.step(losses_of(net, 0)[1], preference=[0.1, 0.1, 0.8])
        opt.step(losses_of(net, 1)[1])


def test_a_per_step_preference_warns_once_too():
    net = Net()
    opt = MultiObjectiveOptimizer(torch.optim.SGD(net.parameters(), lr=0.1), "mgda")
    with pytest.warns(PreferenceIgnoredWarning, match="MGDA"):
        opt.step(losses_of(net, 0)[1], preference=[0.2, 0.3, 0.5])
    with warnings.catch_warnings():
        warnings.simplefilter("error", PreferenceIgnoredWarning)
        opt.step(losses_of(net, 1)[1], preference=[0.5, 0.3, 0.2])
        opt.preference = [0.9, 0.05, 0.05]


@pytest.mark.parametrize("name", ["mgda", "ls", "plc", "epo"])
def test_no_warning_for_a_uniform_preference_or_a_method_that_uses_it(name):
    net = Net()
    preference = [1.0, 1.0, 1.0] if name == "mgda" else [0.6, 0.3, 0.1]
    with warnings.catch_warnings():
        warnings.simplefilter("error", PreferenceIgnoredWarning)
        opt = MultiObjectiveOptimizer(
            torch.optim.SGD(net.parameters(), lr=0.1),
            name,
            preference=preference,
            total_steps=10,
        )
        opt.step(losses_of(net)[1])


# ----------------------------------------------------------------------------- GradScaler


def _method(name: str):
    return get(name, seed=0) if name == "pcgrad" else get(name)


def _fp16_weights(name: str, scaler: torch.amp.GradScaler | None, steps: int = 3):
    """The weights of ``steps`` steps: float32 without a scaler, float16 autocast with one."""
    net = Net()
    opt = MultiObjectiveOptimizer(
        torch.optim.SGD(net.parameters(), lr=0.05),
        _method(name),
        total_steps=steps,
        grad_scaler=scaler,
    )
    out = []
    for t in range(steps):
        with torch.autocast("cpu", dtype=torch.float16, enabled=scaler is not None):
            _, losses = losses_of(net, t)
        info = opt.step(losses)
        assert not info.skipped
        out.append(info.weights)
    return torch.stack(out), opt


@pytest.mark.parametrize("name", available())
def test_float16_with_the_scaler_gives_the_float32_weights(name):
    """Every registered method sees unscaled rows and values: its weights under float16
    autocast with the scaler are within 1e-2 (relative to the largest weight) of float32's.
    float16's own rounding (u = 4.9e-4) is what separates them, not the scale (2^10: this
    model's gradients are O(1), so the default 2^16 overflows float16 and backs off first)."""
    ref, _ = _fp16_weights(name, None)
    got, opt = _fp16_weights(name, torch.amp.GradScaler("cpu", init_scale=2.0**10))
    assert opt.step_count == 3 and opt.skipped_steps == 0
    torch.testing.assert_close(got, ref, rtol=1e-2, atol=1e-2 * float(ref.abs().max()))


def test_overflow_skips_the_step_backs_the_scale_off_and_changes_nothing_else():
    net = Net()
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**40)  # float16's max is 65504
    opt = MultiObjectiveOptimizer(
        torch.optim.SGD(net.parameters(), lr=0.05), "plc", total_steps=20, grad_scaler=scaler
    )
    before = snapshot(net, opt)
    with torch.autocast("cpu", dtype=torch.float16):
        _, losses = losses_of(net)
    info = opt.step(losses)
    assert info.skipped and "overflow" in info.diagnostics["reason"]
    assert scaler.get_scale() == 2.0**39
    params, _, state = before
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), params, strict=True))
    assert opt.method.state_dict().keys() == state["method"].keys()
    assert str(opt.method.state_dict()) == str(state["method"])
    # the scale halves until the gradients fit, then steps are taken
    taken = 0
    for t in range(40):
        with torch.autocast("cpu", dtype=torch.float16):
            _, losses = losses_of(net, t)
        taken += not opt.step(losses).skipped
    assert taken > 0 and scaler.get_scale() <= 2.0**16


def test_a_disabled_scaler_is_the_plain_float32_path_bit_for_bit():
    ref, _ = _fp16_weights("plc", None)
    net = Net()
    opt = MultiObjectiveOptimizer(
        torch.optim.SGD(net.parameters(), lr=0.05),
        "plc",
        total_steps=3,
        grad_scaler=torch.amp.GradScaler("cpu", enabled=False),
    )
    got = torch.stack([opt.step(losses_of(net, t)[1]).weights for t in range(3)])
    assert torch.equal(got, ref)  # same operations: a disabled scaler does nothing


def test_the_scaler_state_is_checkpointed_and_resumed():
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10, growth_interval=2)
    _, opt = _fp16_weights("mgda", scaler)
    state = opt.state_dict()
    assert state["grad_scaler"]["scale"] == 2.0**11  # 3 clean steps, growth every 2
    assert state["grad_scaler"]["_growth_tracker"] == 1
    scaler = torch.amp.GradScaler("cpu")
    twin = MultiObjectiveOptimizer(
        torch.optim.SGD(Net().parameters(), lr=0.05), "mgda", grad_scaler=scaler
    )
    twin.load_state_dict(state)
    assert scaler.state_dict() == state["grad_scaler"]


def test_accumulated_micro_batches_with_the_scaler_equal_one_batch():
    def run(split: bool) -> torch.Tensor:
        net = Net()
        opt = MultiObjectiveOptimizer(
            torch.optim.SGD(net.parameters(), lr=0.05),
            "upgrad",
            grad_scaler=torch.amp.GradScaler("cpu", init_scale=2.0**10),
        )
        x, y = batch()
        parts = [(x[:16], y[:16]), (x[16:], y[16:])] if split else [(x, y)]
        for xs, ys in parts:
            with torch.autocast("cpu", dtype=torch.float16):
                _, outs = net(xs)
                losses = [((o.float() - ys[:, k]) ** 2).sum() / len(x) for k, o in enumerate(outs)]
            opt.backward(losses)
        return opt.step().weights

    # float16 forward passes over different batch shapes round differently: float16's
    # unit roundoff (4.9e-4) times a few accumulations, not float32's
    torch.testing.assert_close(run(True), run(False), rtol=1e-2, atol=1e-3)


@pytest.mark.parametrize("mode", ["gramian", "features", "subset"])
def test_the_scaler_is_refused_where_the_weighted_backward_is_not_scaled(mode):
    net = Net()
    kw = {"subset_params": list(net.trunk.parameters())} if mode == "subset" else {}
    with pytest.raises(ValueError, match="grad_scaler is supported with jacobian_mode 'params'"):
        MultiObjectiveOptimizer(
            torch.optim.SGD(net.parameters(), lr=0.1),
            jacobian_mode=mode,
            grad_scaler=torch.amp.GradScaler("cpu"),
            **kw,
        )


def test_a_scaler_that_is_not_a_grad_scaler_is_refused():
    with pytest.raises(TypeError, match=r"torch\.amp\.GradScaler"):
        MultiObjectiveOptimizer(torch.optim.SGD(Net().parameters(), lr=0.1), grad_scaler=object())
