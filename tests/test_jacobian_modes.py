"""The Jacobian modes: the exact ones equal ``params``, the approximations keep their invariants.

Exact modes (params_batched, gramian) are checked against ``params`` on a small multi-task
network (shared trunk, one head per objective, a regularizer), for several methods, with
gradient accumulation and under ``torch.autocast``; the features and subset modes are
checked for what they promise: the weights come from the named representation or parameter
subset, and ``.grad`` is the gradient of the weighted loss over all parameters.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from moo_lenient import MultiObjectiveOptimizer
from moo_lenient.jacobian import (
    BatchedGradientWarning,
    blockwise_gramian,
    gramian,
    objective_gradients,
    parameter_blocks,
    representation_gramian,
    weighted_gradients,
)
from moo_lenient.methods import get
from tests.tolerances import rtol

# The modes are compared with the same non-uniform preference for every method; MGDA and FAMO
# ignore it by design (they warn once, PreferenceIgnoredWarning), which is not what this tests.
pytestmark = pytest.mark.filterwarnings("ignore::moo_lenient.PreferenceIgnoredWarning")

K = 3
METHODS = ("ls", "mgda", "plc", "upgrad", "pcgrad", "famo")


class MultiTask(torch.nn.Module):
    def __init__(self, k: int = K, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.trunk = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh())
        self.heads = torch.nn.ModuleList(torch.nn.Linear(8, 1) for _ in range(k))

    def forward(self, x):
        z = self.trunk(x)
        return z, [head(z).squeeze(-1) for head in self.heads]


def batch(n: int = 12, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 5, generator=g), torch.randn(n, K, generator=g)


def losses_of(model, x, y):
    z, outs = model(x)
    return z, [((o - y[:, k]) ** 2).mean() + 0.1 for k, o in enumerate(outs)]


def make(mode: str, method: str, model, heads_apart: bool = True, **kwargs):
    params = list(model.parameters())
    opt = MultiObjectiveOptimizer(
        torch.optim.SGD(params, lr=0.05),
        method=get(method),
        preference=[0.5, 0.3, 0.2],
        total_steps=10,
        shared_params=list(model.trunk.parameters()) if heads_apart else None,
        jacobian_mode=mode,
        **kwargs,
    )
    return opt


def run(mode: str, method: str, steps: int = 3, micro: int = 1, autocast: bool = False, **kw):
    model = MultiTask()
    opt = make(mode, method, model, **kw)
    infos = []
    for t in range(steps):
        x, y = batch(seed=t)
        for xs, ys in zip(x.chunk(micro), y.chunk(micro), strict=True):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                _, losses = losses_of(model, xs, ys)
                reg = 1e-3 * sum((p**2).sum() for p in model.trunk.parameters())
            opt.backward([loss / micro for loss in losses], regularizer=reg / micro)
        infos.append(opt.step())
    return model, infos


def assert_same_models(a, b, rtol=1e-5, atol=1e-6):
    for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=rtol, atol=atol, msg=name)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mode", ["params_batched", "gramian"])
def test_exact_modes_equal_params_mode(mode, method):
    kw = {"gramian_block_numel": 20} if mode == "gramian" else {}  # several blocks
    ref_model, ref = run("params", method)
    model, infos = run(mode, method, **kw)
    assert_same_models(model, ref_model)
    # float32 Gramians of the 75 parameters' gradients, formed per parameter, batched or block
    # by block (another order), after up to 3 SGD steps whose parameters differ by rounding;
    # the off-diagonal entries can cancel: absolute, relative to the largest diagonal entry.
    tol = rtol(75, steps=3, dtype=torch.float32)
    for a, b in zip(infos, ref, strict=True):
        torch.testing.assert_close(a.weights, b.weights, rtol=1e-5, atol=1e-7)
        atol = tol * float(b.gramian.diagonal().max())
        torch.testing.assert_close(a.gramian, b.gramian, rtol=tol, atol=atol)


@pytest.mark.parametrize("mode", ["params", "params_batched", "gramian"])
def test_accumulation_equals_the_whole_batch(mode):
    whole, _ = run("params", "plc", micro=1)
    accumulated, infos = run(mode, "plc", micro=3, gramian_block_numel=30)
    assert all(info.microbatches == 3 for info in infos)
    assert_same_models(accumulated, whole)


@pytest.mark.parametrize("mode", ["params_batched", "gramian", "subset", "features"])
def test_autocast_bfloat16_matches_params_mode_under_autocast(mode):
    """Under CPU autocast the exact modes equal ``params`` (bfloat16 rounding tolerance); the
    approximations run, stay finite and solve in float64."""
    ref_model, _ = run("params", "mgda", autocast=True)
    if mode in ("subset", "features"):
        model, infos = _approx_run(mode, autocast=True)
        assert all(info.gramian.dtype == torch.float64 for info in infos)
        assert all(torch.isfinite(p).all() for p in model.parameters())
        return
    model, infos = run(mode, "mgda", autocast=True, gramian_block_numel=30)
    assert all(info.gramian.dtype == torch.float64 for info in infos)
    assert_same_models(model, ref_model, rtol=2e-2, atol=2e-3)


def _approx_run(mode: str, autocast: bool = False, micro: int = 1, steps: int = 2):
    model = MultiTask()
    kw = {"subset_params": list(model.trunk.parameters())} if mode == "subset" else {}
    opt = make(mode, "mgda", model, heads_apart=False, **kw)
    infos = []
    for t in range(steps):
        x, y = batch(seed=t)
        for xs, ys in zip(x.chunk(micro), y.chunk(micro), strict=True):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                z, losses = losses_of(model, xs, ys)
            feats = {"features": z} if mode == "features" else {}
            opt.backward([loss / micro for loss in losses], **feats)
        infos.append(opt.step())
    return model, infos


def test_features_mode_weights_come_from_the_representation_and_one_weighted_backward():
    model = MultiTask()
    opt = make("features", "mgda", model, heads_apart=False)
    x, y = batch()
    z, losses = losses_of(model, x, y)
    rows = [torch.autograd.grad(f, z, retain_graph=True)[0].reshape(-1) for f in losses]
    jz = torch.stack(rows).double()
    expected_w = get("mgda").weights(jz @ jz.T, [0.5, 0.3, 0.2], [f.item() for f in losses])
    params = list(model.parameters())
    weighted = sum(w * f for w, f in zip(expected_w.tolist(), losses, strict=True))
    expected_grads = torch.autograd.grad(weighted, params, retain_graph=True)
    info = opt.aggregate(losses, features=z)
    # The mode takes the same gradients, casts them to float64 and multiplies as here: the same
    # operations (bit-identical in practice).
    torch.testing.assert_close(info.weights, expected_w, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(info.gramian, jz @ jz.T, rtol=1e-10, atol=1e-12)
    for p, g in zip(params, expected_grads, strict=True):
        torch.testing.assert_close(p.grad, g, rtol=1e-6, atol=1e-7)


def test_features_mode_accumulation_equals_the_concatenated_batch():
    """The micro-batches' representations are different variables: their Gramians add, so
    accumulating equals one batch whose features are the concatenation."""
    whole, _ = _approx_run("features", micro=1)
    accumulated, _ = _approx_run("features", micro=3)
    assert_same_models(accumulated, whole)


def test_subset_mode_weights_come_from_the_subset_and_update_every_parameter():
    model = MultiTask()
    subset = list(model.trunk[0].parameters())
    opt = make("subset", "upgrad", model, heads_apart=False, subset_params=subset)
    x, y = batch()
    _, losses = losses_of(model, x, y)
    jac = objective_gradients(losses, subset, retain_graph=True).shared  # float32, as the mode
    expected_w = get("upgrad").weights(gramian(jac), [0.5, 0.3, 0.2])
    params = list(model.parameters())
    weighted = sum(w * f for w, f in zip(expected_w.tolist(), losses, strict=True))
    expected_grads = torch.autograd.grad(weighted, params, retain_graph=True)
    info = opt.aggregate(losses)
    # the mode's own route (objective_gradients, gramian, the method): the same operations
    torch.testing.assert_close(info.weights, expected_w, rtol=1e-10, atol=1e-12)
    for p, g in zip(params, expected_grads, strict=True):  # heads too: the full backward
        torch.testing.assert_close(p.grad, g, rtol=1e-6, atol=1e-7)
    whole, _ = _approx_run("subset", micro=1)
    accumulated, _ = _approx_run("subset", micro=3)
    assert_same_models(accumulated, whole)


class NoVmap(torch.autograd.Function):
    """A custom autograd function whose backward reads a value (``.item()``), which vmap
    cannot batch: the batched backward fails on it."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * 2.0

    @staticmethod
    def backward(ctx, grad):
        return grad * 2.0 + 0.0 * float(grad.abs().max())


def test_params_batched_falls_back_with_one_warning_and_same_result():
    def go(mode):
        torch.manual_seed(0)
        w = torch.nn.Parameter(torch.randn(4))
        opt = MultiObjectiveOptimizer(torch.optim.SGD([w], lr=0.1), "mgda", jacobian_mode=mode)
        infos = []
        for _ in range(3):
            h = NoVmap.apply(w)
            infos.append(opt.step([(h**2).sum(), (h - 1.0).abs().sum()]))
        return w.detach(), infos

    ref, _ = go("params")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got, _ = go("params_batched")
    fallbacks = [w for w in caught if issubclass(w.category, BatchedGradientWarning)]
    assert len(fallbacks) == 1 and "falling back" in str(fallbacks[0].message)
    torch.testing.assert_close(got, ref, rtol=0, atol=0)


def test_blockwise_gramian_and_weighted_gradients_equal_the_jacobian_forms():
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(s)) for s in ((3, 4), (7,), (2, 2), (5,))]
    x = torch.randn(4)
    losses = [
        (params[0] @ x).pow(2).sum() + params[1].sin().sum(),
        (params[0].sum() * params[2]).pow(2).sum(),
        params[3].exp().sum() + params[1].sum() * params[2].sum(),
    ]
    jac = objective_gradients(losses, params, retain_graph=True).shared.double()
    assert [len(b) for b in parameter_blocks(params, 9)] == [1, 1, 2]
    # float32 dot products over the blocks (at most the 28 parameters) vs float64 ones of the
    # same float32 gradients; off-diagonal entries can cancel: absolute, relative to the
    # largest diagonal entry.
    tol = rtol(28, dtype=torch.float32)
    expected = jac @ jac.T
    atol = tol * float(expected.diagonal().max())
    for block in (1, 8, 10**6):
        gram, reached = blockwise_gramian(losses, params, block)
        torch.testing.assert_close(gram, expected, rtol=tol, atol=atol)
        assert reached == [True] * 4
    w = [0.2, 0.5, 0.3]
    shared_grads, _, _ = weighted_gradients(losses, w, params)
    flat = torch.cat([g.reshape(-1) for g in shared_grads]).double()
    # One float32 backward of Σ w_k f_k (its sums: 4 terms, the K = 3 weighted terms; 2
    # stages) vs the float64 combination of the separate float32 gradients; absolute,
    # relative to the terms' magnitude Σ_k |w_k| |g_k,i|.
    weights = torch.tensor(w, dtype=torch.float64)
    tol = rtol(4, steps=2, dtype=torch.float32)
    atol = tol * float((weights @ jac.abs()).max())
    torch.testing.assert_close(flat, weights @ jac, rtol=tol, atol=atol)


def test_representation_gramian_names_a_non_finite_objective():
    z = torch.randn(4, requires_grad=True)
    losses = [(z**2).sum(), (z * float("inf")).sum()]
    with pytest.raises(ValueError, match=r"objective\(s\) \[1\] is not finite"):
        representation_gramian(losses, [z])


def test_gramian_mode_non_finite_gradient_changes_nothing():
    model = MultiTask()
    opt = make("gramian", "plc", model)
    before = [p.detach().clone() for p in model.parameters()]
    state = opt.state_dict()
    x, y = batch()
    _, losses = losses_of(model, x, y)
    bad = losses[1] * 0.0 + (model.trunk[0].weight * float("nan")).sum()
    with pytest.raises(ValueError, match=r"objective\(s\) \[1\]"):
        opt.step([losses[0], bad, losses[2]])
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))
    assert all(p.grad is None for p in model.parameters())
    assert opt.state_dict()["method"] == state["method"]


def test_mode_arguments_are_checked():
    model = MultiTask()
    params = list(model.parameters())
    inner = torch.optim.SGD(params, lr=0.1)
    with pytest.raises(ValueError, match="jacobian_mode must be one of"):
        MultiObjectiveOptimizer(inner, jacobian_mode="vmap")
    with pytest.raises(ValueError, match="needs subset_params"):
        MultiObjectiveOptimizer(inner, jacobian_mode="subset")
    with pytest.raises(ValueError, match="subset_params goes with"):
        MultiObjectiveOptimizer(inner, subset_params=params[:1])
    with pytest.raises(ValueError, match="subset_params must be"):
        MultiObjectiveOptimizer(inner, jacobian_mode="subset", subset_params=[torch.zeros(2)])
    with pytest.raises(ValueError, match="gramian_block_numel"):
        MultiObjectiveOptimizer(inner, jacobian_mode="gramian", gramian_block_numel=0)
    x, y = batch()
    z, losses = losses_of(model, x, y)
    opt = MultiObjectiveOptimizer(inner, jacobian_mode="features")
    with pytest.raises(ValueError, match="needs features="):
        opt.step(losses)
    with pytest.raises(ValueError, match="requires grad"):
        opt.step(losses, features=z.detach())
    with pytest.raises(ValueError, match="features= goes with"):
        MultiObjectiveOptimizer(inner).step(losses, features=z)
    with pytest.raises(RuntimeError, match="distributed=True"):
        MultiObjectiveOptimizer(inner, distributed=True).step(losses)
    assert all(p.grad is None for p in params)


def test_k_equals_one_in_every_mode():
    for mode in ("params", "params_batched", "gramian", "features", "subset"):
        torch.manual_seed(0)
        w = torch.nn.Parameter(torch.randn(3))
        kw = {"subset_params": [w]} if mode == "subset" else {}
        opt = MultiObjectiveOptimizer(
            torch.optim.SGD([w], lr=0.1), "mgda", jacobian_mode=mode, **kw
        )
        h = w * 1.0
        feats = {"features": h} if mode == "features" else {}
        info = opt.step([(h**2).sum()], **feats)
        assert info.weights.tolist() == [1.0], mode
        torch.manual_seed(0)
        start = torch.randn(3)
        torch.testing.assert_close(w.detach(), 0.8 * start, msg=mode)  # w - 0.1 * 2w
