"""FAMO: the weights, the logit update against hand computations and torch's Adam, the
post-step values (observe, or the next call's), state, inactive objectives, bad input.

Agreement with TorchJD 0.18's ``torchjd.scalarization.FAMO`` (weights and logits with Adam),
then the paper's equations (hand computations, the SGD variant of Algorithm 1).
"""

from __future__ import annotations

import io
import itertools
import math

import numpy as np
import pytest
import torch
from torchjd.scalarization import FAMO as TorchJDFAMO

from moo_lenient.methods.famo import FAMO
from tests.conftest import random_jacobian
from tests.tolerances import rtol

JAC = random_jacobian(2, 4, seed=0)
JAC3 = random_jacobian(3, 5, seed=1)


def softmax(x):
    e = np.exp(np.asarray(x) - np.max(x))
    return e / e.sum()


def log_cond(before, after) -> float:
    """The cancellation of δ = log D - log D_after: a rounding u |log D| of either log is
    relative u max |log D| / max |δ| in the logits' gradient z ⊙ (δ - zᵀδ)."""
    logs = np.abs(np.concatenate([np.log(before), np.log(after)]))
    return max(1.0, float(logs.max()) / float(np.abs(np.log(before) - np.log(after)).max()))


def logit_atol(k: int, steps: int, lr: float, cond: float) -> float:
    """How far two float64 orderings of ``steps`` FAMO logit updates may drift apart
    (absolute): each step's gradient carries a relative error rtol(k, cond=cond) and moves the
    logits by at most ~3.2 lr (Adam: (1 - β1) / √(1 - β2); SGD's lr |gradient| is below that
    for these values), so the errors add up to 3.2 lr · steps · rtol(k, cond)."""
    return 3.2 * lr * max(steps, 1) * rtol(k, cond=cond)


# (0) Agreement with TorchJD 0.18 -----------------------------------------------------------------
@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("scale", [1e-6, 1e-3, 1.0, 1e3, 1e6])
@pytest.mark.parametrize("rank", ["full", "deficient"])
def test_agrees_with_torchjd_scalarization_famo(k, scale, rank):
    # TorchJD's FAMO: the scalar c Σ z_k log(f_k - b_k + 1e-8), whose gradient with respect to
    # the values is our weights, and update(values_after): one Adam(lr=0.025, weight_decay=1e-3)
    # step on the logits, as our default with observe(). Both run in float64 with the same
    # formulas in another order (numpy vs torch), so they agree to rounding (measured over these
    # cases: weights 5.7e-16 relative, logits 4.3e-17 absolute, directions 4.7e-14 relative to
    # their largest entry, where rank-1 Jacobians cancel). Tolerances: the logits after t
    # updates by logit_atol, with the cancellation of δ = log D - log D_after (log_cond, up to
    # ~1e2 where the values are ~1e±6); the weights then by that (the softmax turns an absolute
    # logit error into a relative one) plus the softmax's and c z / D's K-term sums, reciprocal
    # and products (n = K + 3, 2 stages);
    # d = Σ w_k g_k by that times Σ |w_k| |g_k,i| (rank-1 Jacobians cancel).
    rng = np.random.default_rng(k * 10 + int(np.log10(scale)) + (rank == "full"))
    jac = random_jacobian(k, 7, None if rank == "full" else 1, seed=k) * scale
    floor = rng.uniform(0.0, 0.5, k) * scale
    ours = FAMO(min_losses=floor)
    ref = TorchJDFAMO(k, min_losses=torch.from_numpy(floor)).double()
    f = floor + rng.uniform(0.5, 2.0, k) * scale
    cond, logit_tol = 1.0, 0.0
    for t in range(10):
        values = torch.tensor(f, requires_grad=True)
        (expected,) = torch.autograd.grad(ref(values), values)
        result = ours(jac, losses=f)
        tol = logit_tol + rtol(k + 3, steps=2)
        torch.testing.assert_close(result.weights, expected, rtol=tol, atol=0)
        direction = expected @ jac
        atol = tol * float((expected.abs() @ jac.abs()).max())
        torch.testing.assert_close(result.direction, direction, rtol=0, atol=atol)
        after = floor + (f - floor) * np.exp(-rng.uniform(-0.05, 0.2, k))
        ref.update(torch.from_numpy(after))
        ours.observe(after)
        cond = max(cond, log_cond(f - floor + 1e-8, after - floor + 1e-8))
        logit_tol = logit_atol(k, t + 1, 0.025, cond)
        logits = dict(ref.named_parameters())["_w"].detach()
        torch.testing.assert_close(ours.logits, logits, rtol=0, atol=logit_tol)
        f = after
    assert not torch.equal(ours.logits, torch.zeros(k, dtype=torch.float64))


# (1) The weights ---------------------------------------------------------------------------------
def test_first_weights_are_inverse_values_normalized():
    result = FAMO(eps=0.0)(JAC, losses=[1.0, 2.0])
    # z = (1/2, 1/2): w_k = c z_k / f_k, c = 1 / Σ z_k / f_k = 4/3
    torch.testing.assert_close(result.weights, torch.tensor([2 / 3, 1 / 3], dtype=torch.float64))
    assert result.diagnostics["c"] == pytest.approx(4 / 3, rel=1e-15)
    torch.testing.assert_close(result.direction, (2 * JAC[0] + JAC[1]) / 3)
    assert result.diagnostics["updated"] is False
    assert result.diagnostics["log_loss_decrease"] is None


@pytest.mark.parametrize("seed", range(5))
def test_weights_are_c_z_over_d_and_sum_to_one(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 7))
    method = FAMO(min_losses=rng.uniform(-1, 0, k))
    jac = random_jacobian(k, 6, seed=seed)
    for _ in range(6):
        f = rng.uniform(0.1, 5.0, k)
        result = method(jac, losses=f)
        z = result.diagnostics["task_weights"].numpy()
        xi = result.diagnostics["logits"].numpy()
        np.testing.assert_allclose(z, softmax(xi), rtol=1e-14)  # FAMO's own formula
        assert z.sum() == pytest.approx(1.0, abs=1e-14)
        shifted = f - method.min_losses + 1e-8
        c = 1.0 / np.sum(z / shifted)
        # c (z / D) vs (c z) / D: a k-term sum, its reciprocal, a product and a quotient in
        # another order, all terms positive: within γ_{k+3} each.
        np.testing.assert_allclose(result.weights.numpy(), c * z / shifted, rtol=rtol(k + 3))
        assert result.weights.sum().item() == pytest.approx(1.0, abs=1e-14)
        assert result.diagnostics["c"] == pytest.approx(c, rel=1e-13)


def test_the_direction_is_the_normalized_gradient_of_the_weighted_log_losses():
    # d = c Σ z_k ∇ log D_k: autograd of Σ z_k log f_k(θ), times c
    theta = torch.tensor([0.3, -1.2, 0.8], dtype=torch.float64, requires_grad=True)
    f = torch.stack([(theta**2).sum() + 0.5, ((theta - 1) ** 2).sum(), (theta[0] - 2) ** 2 + 1])
    jac = torch.stack([torch.autograd.grad(fk, theta, retain_graph=True)[0] for fk in f])
    method = FAMO(eps=0.0)
    method(jac, losses=f.detach() * 1.3)  # a first step, so that z is no longer uniform
    result = method(jac, losses=f.detach())
    z = result.diagnostics["task_weights"]
    (grad,) = torch.autograd.grad((z * f.log()).sum(), theta)
    # Σ_k w_k g_k vs autograd's accumulation of z_k / f_k ∇f_k and the product by c: K = 3 terms,
    # 2 stages; absolute, relative to the terms' magnitude Σ_k |w_k| |g_k,i|.
    tol = rtol(3, steps=2)
    atol = tol * float((result.weights.abs() @ jac.abs()).max())
    torch.testing.assert_close(
        result.direction, result.diagnostics["c"] * grad, rtol=tol, atol=atol
    )


# (2) The logit update: hand computations ---------------------------------------------------------
def test_sgd_update_matches_a_hand_computation_for_two_steps():
    beta, gamma = 0.5, 0.1
    method = FAMO(beta=beta, gamma=gamma, optimizer="sgd", eps=0.0)
    method(JAC, losses=[1.0, 2.0])
    method.observe(np.array([math.exp(-1), 2.0]))  # δ = (1, 0)
    # ∇ = z ⊙ (δ - zᵀδ) + γ ξ_0 = (1/2 · 1/2, 1/2 · (-1/2)) = (1/4, -1/4); ξ_1 = -β ∇
    xi1 = np.array([-0.125, 0.125])
    np.testing.assert_allclose(method.logits.numpy(), xi1, rtol=1e-15)
    result = method(JAC, losses=[math.exp(-1), 2.0])
    z1 = np.array([1.0, math.exp(0.25)]) / (1.0 + math.exp(0.25))
    # (1, e^{1/4}) / (1 + e^{1/4}) vs the softmax's (e^{-1/4}, 1) / (e^{-1/4} + 1): the
    # exponentials, a 2-term sum, a quotient (3 stages), rounded in another order.
    np.testing.assert_allclose(
        result.diagnostics["task_weights"].numpy(), z1, rtol=rtol(2, steps=3)
    )
    inv = z1 / np.array([math.exp(-1), 2.0])
    # ... then c z / D vs inv / Σ inv (2 more stages)
    np.testing.assert_allclose(result.weights.numpy(), inv / inv.sum(), rtol=rtol(2, steps=5))
    method.observe(np.array([math.exp(-1), 2.0 * math.exp(-1)]))  # δ = (0, 1)
    grad = np.array([z1[0] * (0.0 - z1[1]), z1[1] * (1.0 - z1[1])]) + gamma * xi1
    # ... then the gradient and the step (6 stages), whose terms ξ_1 and β ∇ cancel: absolute,
    # relative to their magnitude.
    tol = rtol(2, steps=6)
    scale = float(np.max(np.abs(xi1) + beta * np.abs(grad)))
    np.testing.assert_allclose(method.logits.numpy(), xi1 - beta * grad, rtol=tol, atol=tol * scale)


def test_adam_update_matches_a_hand_computation_for_two_steps():
    method = FAMO(eps=0.0)  # β = 0.025, γ = 1e-3, Adam(0.9, 0.999, eps 1e-8)
    method(JAC, losses=[1.0, 2.0])
    method.observe(np.array([math.exp(-1), 2.0]))  # δ = (1, 0)
    g1 = np.array([0.25, -0.25])
    # step 1: m̂ = g, v̂ = g²: ξ_1 = -β g / (|g| + 1e-8)
    xi1 = -0.025 * g1 / (np.abs(g1) + 1e-8)
    # Adam's moments, bias corrections, square root, ε and step (about a dozen roundings) vs
    # three here: 7 stages of one term.
    np.testing.assert_allclose(method.logits.numpy(), xi1, rtol=rtol(1, steps=7))
    method(JAC, losses=[math.exp(-1), 2.0])
    method.observe(np.array([math.exp(-1), 2.0 * math.exp(-1)]))  # δ = (0, 1)
    z1 = softmax(xi1)
    g2 = np.array([-z1[0] * z1[1], z1[1] * (1 - z1[1])]) + 1e-3 * xi1
    m2 = 0.9 * (0.1 * g1) + 0.1 * g2
    v2 = 0.999 * (0.001 * g1**2) + 0.001 * g2**2
    m_hat, v_hat = m2 / (1 - 0.9**2), v2 / (1 - 0.999**2)
    step = 0.025 * m_hat / (np.sqrt(v_hat) + 1e-8)
    xi2 = xi1 - step
    # Two Adam steps and the softmax between them, in another order: the first step's 7
    # stages, the softmax's 3, the second step's 7 (2-term sums); absolute, relative to the
    # terms ξ_1 and the step, which partly cancel.
    tol = rtol(2, steps=17)
    scale = float(np.max(np.abs(xi1) + np.abs(step)))
    np.testing.assert_allclose(method.logits.numpy(), xi2, rtol=tol, atol=tol * scale)
    state = method.state_dict()
    assert state["adam_steps"] == 2 and state["pending"] is None


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_update_matches_torch_optimizer_on_autograd_of_the_softmax(optimizer):
    # The paper's update: the logits' gradient is ∇_ξ (z(ξ)ᵀ δ) (autograd here) with weight decay
    # γ, stepped by torch's Adam (the authors' implementation) or SGD (Algorithm 1).
    rng = np.random.default_rng(3)
    k = 4
    method = FAMO(beta=0.05, gamma=0.02, optimizer=optimizer, min_losses=[0.1] * k)
    w = torch.zeros(k, dtype=torch.float64, requires_grad=True)
    cls = torch.optim.Adam if optimizer == "adam" else torch.optim.SGD
    ref = cls([w], lr=0.05, weight_decay=0.02)
    f = rng.uniform(0.5, 2.0, k)
    jac = random_jacobian(k, 6, seed=2)
    cond = 1.0
    for _ in range(12):
        method(jac, losses=f)
        after = f * np.exp(-rng.uniform(-0.05, 0.2, k))
        method.observe(after)
        cond = max(cond, log_cond(f - 0.1 + 1e-8, after - 0.1 + 1e-8))
        delta = torch.from_numpy(np.log(f - 0.1 + 1e-8) - np.log(after - 0.1 + 1e-8))
        (grad,) = torch.autograd.grad(torch.softmax(w, 0), w, grad_outputs=delta)
        ref.zero_grad()
        w.grad = grad
        ref.step()
        f = after
    # numpy's update vs torch's optimizer on autograd of the softmax: 12 steps of K = 4 terms,
    # with the cancellation of the log-decreases (logit_atol).
    atol = logit_atol(k, 12, 0.05, cond)
    np.testing.assert_allclose(method.logits.numpy(), w.detach().numpy(), rtol=0, atol=atol)


def test_a_task_whose_loss_does_not_decrease_gains_weight():
    method = FAMO()
    f = np.array([1.0, 1.0, 1.0])
    z_stuck = []
    for _ in range(25):
        result = method(JAC3, losses=f)
        z_stuck.append(float(result.diagnostics["task_weights"][2]))
        f = f * np.array([0.9, 0.95, 1.0])  # objective 2 stagnates, the others decrease
        method.observe(f)
    assert all(b > a for a, b in itertools.pairwise(z_stuck))
    z = method.task_weights.numpy()
    assert z[2] > z[1] > z[0]  # slower decrease, more weight
    assert z[2] > 0.4


# (3) Post-step values: observe() or the next call ------------------------------------------------
def test_without_observe_the_next_values_are_the_post_step_values():
    values = [np.array([1.0, 2.0, 3.0]), np.array([0.8, 1.9, 3.1]), np.array([0.7, 1.5, 3.0])]
    observed, implicit = FAMO(), FAMO()
    for t, v in enumerate(values):
        a = observed(JAC3, losses=v)
        b = implicit(JAC3, losses=v)
        # the same update from the same values (observe() or the next call): same operations
        torch.testing.assert_close(a.weights, b.weights, rtol=1e-15, atol=0)
        assert b.diagnostics["updated"] is (t > 0)
        if t > 0:
            expected = np.log(values[t - 1] + 1e-8) - np.log(v + 1e-8)
            np.testing.assert_allclose(b.diagnostics["log_loss_decrease"].numpy(), expected)
        if t + 1 < len(values):
            observed.observe(values[t + 1])
            assert observed.state_dict()["pending"] is None


def test_observe_without_a_pending_step_raises():
    method = FAMO()
    with pytest.raises(RuntimeError, match="no step awaits"):
        method.observe(np.array([1.0, 2.0]))
    method(JAC, losses=[1.0, 2.0])
    method.observe(np.array([0.9, 1.8]))
    before = method.state_dict()
    with pytest.raises(RuntimeError, match="already called"):
        method.observe(np.array([0.8, 1.7]))
    assert_same_state(method.state_dict(), before)


# (4) State ---------------------------------------------------------------------------------------
def assert_same_state(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), key
        else:
            assert a[key] == b[key], key


def run(method, values, observe_every=2):
    out = []
    for t, v in enumerate(values):
        out.append(method(JAC3, losses=v).weights)
        if t % observe_every == 0:
            method.observe(v * 0.97)
    return out


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_state_round_trip_reproduces_the_run(optimizer):
    rng = np.random.default_rng(0)
    values = [rng.uniform(0.5, 2.0, 3) for _ in range(12)]
    reference = run(FAMO(optimizer=optimizer), values)
    first = FAMO(optimizer=optimizer)
    run(first, values[:7])  # step 6 observed, then a step... ends with a pending step
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)  # tensors and primitives only
    second = FAMO(optimizer=optimizer)
    second.load_state_dict(state)
    resumed = []
    for t, v in enumerate(values[7:], start=7):
        resumed.append(second(JAC3, losses=v).weights)
        if t % 2 == 0:
            second.observe(v * 0.97)
    for a, b in zip(reference[7:], resumed, strict=True):
        assert torch.equal(a, b)
    second.reset()
    assert second.logits is None and second.state_dict()["pending"] is None
    torch.testing.assert_close(second(JAC3, losses=values[0]).weights, reference[0])


def test_load_state_dict_checks_keys():
    with pytest.raises(ValueError, match=r"FAMO state dict is missing \['active', 'adam_steps'"):
        FAMO().load_state_dict({"logits": None})


# (5) Bad values raise before anything changes ----------------------------------------------------
@pytest.mark.parametrize(
    ("values", "error", "match"),
    [
        ([0.5, -0.1, 1.0], ValueError, r"objective\(s\) \[1\] must be at least 0"),
        ([0.5, float("nan"), 1.0], ValueError, "finite"),
        ([0.5, 1.0], ValueError, "has 2 entries but there are 3 objectives"),
    ],
)
def test_bad_observed_values_raise_before_anything_changes(values, error, match):
    method = FAMO()
    method(JAC3, losses=[1.0, 2.0, 3.0])
    method.observe(np.array([0.9, 1.9, 3.0]))
    method(JAC3, losses=[0.9, 1.9, 3.0])
    before = method.state_dict()
    with pytest.raises(error, match=match):
        method.observe(np.array(values))
    assert_same_state(method.state_dict(), before)
    # the same values as the next call's losses: refused before the pending update too
    k = len(values)
    with pytest.raises(error, match=match if k == 3 else "state is for 3 objectives, got 2"):
        method(JAC3[:k], losses=values)
    assert_same_state(method.state_dict(), before)


def test_min_losses_and_eps():
    method = FAMO(min_losses=[1.0, -1.0], eps=0.0)
    result = method(JAC, losses=[2.0, 0.0])  # D = (1, 1)
    torch.testing.assert_close(result.weights, torch.tensor([0.5, 0.5], dtype=torch.float64))
    with pytest.raises(ValueError, match="must be at least min_losses"):
        FAMO(min_losses=[1.0, -1.0])(JAC, losses=[0.5, 0.0])
    with pytest.raises(ValueError, match=r"strictly, with eps=0"):
        FAMO(eps=0.0)(JAC, losses=[0.0, 1.0])
    at_zero = FAMO()(JAC, losses=[0.0, 1.0])  # D = 1e-8: finite, almost all weight
    assert torch.isfinite(at_zero.weights).all() and float(at_zero.weights[0]) > 1 - 1e-7
    with pytest.raises(ValueError, match="min_losses has 2 entries but there are 3"):
        FAMO(min_losses=[0.0, 0.0])(JAC3, losses=[1.0, 1.0, 1.0])


def test_values_are_required_and_k_is_fixed():
    with pytest.raises(ValueError, match="losses="):
        FAMO()(JAC)
    with pytest.raises(ValueError, match="losses="):
        FAMO().weights(JAC @ JAC.T)
    method = FAMO()
    method(JAC, losses=[1.0, 1.0])
    method.observe(np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match="FAMO state is for 2 objectives, got 3"):
        method(JAC3, losses=[1.0, 1.0, 1.0])


# (6) Preference, inactive objectives, properties -------------------------------------------------
def test_the_preference_is_ignored():
    a, b = FAMO(), FAMO()
    for f in ([1.0, 2.0, 3.0], [0.5, 1.5, 3.5], [0.4, 1.0, 3.0]):
        wa = a(JAC3, preference=[0.8, 0.1, 0.1], losses=f).weights
        wb = b(JAC3, preference=[0.1, 0.1, 0.8], losses=f).weights
        assert torch.equal(wa, wb)


def test_inactive_objectives_get_weight_zero_and_only_their_logits_decay():
    method = FAMO(optimizer="sgd", beta=0.5, gamma=0.1)
    method(JAC3, losses=[1.0, 1.0, 1.0])
    method.observe(np.array([0.5, 1.0, 1.0]))  # ξ moves away from 0 for every objective
    xi = method.logits.numpy()
    pref = np.full(3, 1 / 3)
    active = np.array([True, False, True])
    result = method.aggregate_active(JAC3, pref, np.array([0.5, 1.0, 1.0]), active)
    assert float(result.weights[1]) == 0.0 and result.diagnostics["active"].tolist() == [1, 0, 1]
    z = softmax(xi)
    inv = z[[0, 2]] / (np.array([0.5, 1.0]) + 1e-8)
    # c (z / D) vs (z / D) / Σ: a 2-term sum, a reciprocal, a product, a quotient (γ_{2+3}).
    np.testing.assert_allclose(result.weights.numpy()[[0, 2]], inv / inv.sum(), rtol=rtol(2 + 3))
    torch.testing.assert_close(result.direction, result.weights @ JAC3)
    method.observe(np.array([0.25, 7.0, 1.0]))
    # the update uses the softmax over the active objectives; objective 1 only decays
    delta = np.log(np.array([0.5, 1.0]) + 1e-8) - np.log(np.array([0.25, 1.0]) + 1e-8)
    za = softmax(xi[[0, 2]])
    grad = za * (delta - za @ delta) + 0.1 * xi[[0, 2]]
    new = method.logits.numpy()
    # FAMO's own formulas on the same numbers (the inactive entry adds exact zeros)
    np.testing.assert_allclose(new[[0, 2]], xi[[0, 2]] - 0.5 * grad, rtol=1e-14)
    assert new[1] == pytest.approx(xi[1] * (1 - 0.5 * 0.1), rel=1e-14)
    none = method.aggregate_active(JAC3, pref, np.ones(3), np.zeros(3, dtype=bool))
    assert torch.equal(none.weights, torch.zeros(3, dtype=torch.float64))
    method.observe(np.ones(3))  # nobody active: only the decay
    assert np.all(np.isfinite(method.logits.numpy()))


def test_permutation_equivariant_including_the_state():
    perm = [2, 0, 1]
    a, b = FAMO(), FAMO()
    rng = np.random.default_rng(5)
    # The permuted run sums the softmax and zᵀδ in another order: the logits drift apart by at
    # most logit_atol over the updates so far (each with the log-decreases' cancellation), and
    # the weights by that plus γ_{3+3} (c z / D).
    cond, previous = 1.0, None
    for t in range(5):
        f = rng.uniform(0.2, 2.0, 3)
        if previous is not None:
            cond = max(cond, log_cond(previous + 1e-8, f + 1e-8))
        previous = f
        wa = a(JAC3, losses=f).weights
        wb = b(JAC3[perm], losses=f[perm]).weights
        tol = logit_atol(3, t, 0.025, cond) + rtol(3 + 3)
        torch.testing.assert_close(wb, wa[perm], rtol=tol, atol=0)


def test_weights_do_not_depend_on_the_gradients():
    a, b = FAMO(), FAMO()
    for f in ([1.0, 2.0, 3.0], [0.5, 1.5, 3.5]):
        wa = a(JAC3, losses=f).weights
        wb = b(3.7 * random_jacobian(3, 5, seed=9), losses=f).weights
        assert torch.equal(wa, wb)


# (7) Construction --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(beta=0.0), "beta must be a positive finite number"),
        (dict(beta=float("nan")), "beta must be a positive finite number"),
        (dict(gamma=-0.1), "gamma must be a non-negative finite number"),
        (dict(gamma=float("inf")), "gamma must be a non-negative finite number"),
        (dict(eps=-1e-8), "eps must be a non-negative finite number"),
        (dict(optimizer="rmsprop"), "optimizer must be one of"),
        (dict(min_losses=[0.0, float("nan")]), "min_losses must be finite"),
    ],
)
def test_bad_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FAMO(**kwargs)


def test_repr_and_registry_name():
    assert FAMO.name == "famo"
    assert repr(FAMO()) == "FAMO()"
    assert (
        repr(FAMO(beta=0.1, gamma=0.0, optimizer="sgd", min_losses=[0.0, 1.0], eps=0.0))
        == "FAMO(beta=0.1, gamma=0.0, optimizer='sgd', min_losses=[0.0, 1.0], eps=0.0)"
    )
    assert repr(FAMO(gamma=0.01)) == "FAMO(gamma=0.01)"
