"""Smooth Tchebycheff: autograd of S_μ, the μ → 0 limit, PLC's special case, errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from moo_lenient import MultiObjectiveOptimizer, SmoothTchebycheff
from moo_lenient.methods import PLC, get
from tests.conftest import random_jacobian
from tests.tolerances import rtol


# (1) The direction is the autograd gradient of S_μ -----------------------------------------------
def small_model(k, seed):
    gen = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, k)
    ).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
    x = torch.randn(16, 4, generator=gen, dtype=torch.float64)
    return model, x


def objective_values(model, x):
    """K differentiable objectives f_k(θ) = mean over the batch of (out_k - k)²."""
    out = model(x)
    target = torch.arange(out.shape[1], dtype=torch.float64)
    return ((out - target) ** 2).mean(0)


def exponent_cond(w, f_tilde, mu) -> float:
    """The softmax's amplification of rounding: its exponents a = w f~ / μ carry absolute errors
    ~ u |a|, which become relative errors of the prices e^{a - max a}: max(1, max |a|)."""
    a = np.asarray(w, dtype=np.float64) * np.asarray(f_tilde, dtype=np.float64) / mu
    return max(1.0, float(np.abs(a).max()))


def flat_grad(value, params):
    grads = torch.autograd.grad(value, params, retain_graph=True)
    return torch.cat([g.reshape(-1) for g in grads])


# f~ targets: moderate values, and values spanning 1e-3 .. 1e6 (w_k f~_k / μ up to ~1e8), with
# two of them within 0.01 of each other at 1e6 so that the softmax mixes at a huge scale.
F_TILDE = {
    "moderate": lambda w: np.array([0.3, 0.7, 0.1, 0.5]),
    "wide": lambda w: np.array([1e-3, 1.0, 1e3, 1e6]),
    "huge-tie": lambda w: np.array([1e6, 1e6 + 0.01, 5.0, -3.0]) / (4 * w),
}
PREFERENCES = [[1, 1, 1, 1], [0.1, 0.2, 0.3, 0.4], [0.7, 0.1, 0.1, 0.1], [0.0, 1.0, 2.0, 1.0]]


@pytest.mark.parametrize("pref", PREFERENCES)
@pytest.mark.parametrize("mu", [0.02, 0.5])
@pytest.mark.parametrize("spread", list(F_TILDE))
def test_direction_is_the_autograd_gradient_of_the_scalarization(pref, mu, spread):
    k = 4
    model, x = small_model(k, seed=len(spread))
    params = list(model.parameters())
    f = objective_values(model, x)
    jac = torch.stack([flat_grad(f[i], params) for i in range(k)])
    w = torch.tensor(pref, dtype=torch.float64)
    w = w / w.sum()
    # Reference chosen so that (f - z) / r is the target f~ (r spread over two decades).
    r = torch.tensor([0.1, 2.0, 10.0, 0.5], dtype=torch.float64)
    target = torch.from_numpy(F_TILDE[spread](np.where(w > 0, w.numpy(), 1.0)))
    z = f.detach() - target * r
    nadir = z + r
    r = nadir - z  # the range the method uses (differs from r by rounding at this scale)
    f_tilde = (f - z) / r
    s_mu = mu * torch.logsumexp(w * f_tilde / mu, 0)
    expected = flat_grad(s_mu, params)

    method = SmoothTchebycheff(mu=mu, ideal=z, nadir=nadir)
    result = method(jac, preference=pref, losses=f.detach())
    # Prices times per-objective gradients vs backpropagation of S_μ through the model: sums
    # over the batch of 16 (the longest), 3 stages (softmax, backward through 2 layers),
    # amplified by the softmax's exponents (up to ~1e7 for "huge-tie" at μ = 0.02);
    # absolute, relative to the terms' magnitude Σ_k |α_k| |g_k,i|.
    tol = rtol(16, steps=3, cond=exponent_cond(w, f_tilde.detach(), mu))
    scale = float((result.weights.abs() @ jac.abs()).max())
    torch.testing.assert_close(result.direction, expected, rtol=tol, atol=tol * scale)
    assert torch.isfinite(result.weights).all()
    torch.testing.assert_close(result.diagnostics["normalized_losses"], f_tilde.detach())
    torch.testing.assert_close(result.diagnostics["prices"], result.weights * r)
    if spread == "wide" and pref[3] > 0:  # the 1e6 objective takes the whole price
        assert float(result.diagnostics["prices"][3]) == pytest.approx(float(w[3]), rel=1e-12)


def test_raw_losses_without_a_reference():
    # z = 0, r = 1: f~ = f; two equal w_k f_k share the price w_k / 2 each.
    jac = random_jacobian(2, 3, seed=0)
    result = SmoothTchebycheff()(jac, losses=[3.0, 3.0])
    torch.testing.assert_close(result.weights, torch.tensor([0.25, 0.25], dtype=torch.float64))
    torch.testing.assert_close(result.direction, 0.25 * (jac[0] + jac[1]))


# (2) μ → 0: the prices concentrate on argmax_k w_k f~_k ------------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_small_mu_concentrates_on_the_weighted_tchebycheff_argmax(seed):
    rng = np.random.default_rng(seed)
    k = 5
    jac = random_jacobian(k, 7, seed=seed)
    w = rng.uniform(0.1, 1.0, size=k)
    w = w / w.sum()
    z = rng.normal(size=k)
    r = rng.uniform(0.5, 3.0, size=k)
    f_tilde = rng.uniform(0.0, 1.0, size=k)
    top = int(np.argmax(w * f_tilde))
    f_tilde[top] += 0.05 / w[top]  # a gap of at least 0.05 in w f~
    f = z + r * f_tilde
    shares = []
    for mu in [1.0, 0.1, 0.01, 1e-3, 1e-4]:
        prices = (
            SmoothTchebycheff(mu, z, z + r)(jac, preference=w, losses=f)
            .diagnostics["prices"]
            .numpy()
        )
        assert int(np.argmax(prices / w)) == top
        shares.append(prices[top] / w[top])
    assert all(a < b + 1e-15 for a, b in itertools.pairwise(shares))  # monotone (to rounding)
    assert shares[0] < 0.5 and shares[-1] == pytest.approx(1.0, abs=1e-15)
    weights = SmoothTchebycheff(1e-4, z, z + r).weights(jac @ jac.T, preference=w, losses=f).numpy()
    expected = np.zeros(k)
    expected[top] = w[top] / r[top]
    np.testing.assert_allclose(weights, expected, rtol=1e-12, atol=1e-300)


def test_large_mu_prices_approach_the_preference():
    w = np.array([0.5, 0.3, 0.2])
    jac = random_jacobian(3, 4, seed=1)
    prices = SmoothTchebycheff(mu=1e8)(jac, preference=w, losses=[0.1, 0.9, 0.5]).diagnostics[
        "prices"
    ]
    np.testing.assert_allclose(prices.numpy(), w / 3, rtol=1e-8)


# (3) PLC_SPEC special case: PLC with range voices, κ_0 ≤ 1, constant schedule, no annealing ----
def plc_as_stch(z, r, mu, kappa0=1.0, temperature="absolute"):
    """PLC in the spec's special case (κ_0 ≤ 1, no free descent); a larger kappa0 leaves it."""
    return PLC(
        voices="range",
        kappa0=kappa0,
        schedule="constant",
        mu=mu,
        mu_start=None,
        ideal=z,
        nadir=z + r,
        horizon=10,
        temperature=temperature,
        free_descent=None,
    )


def temperature_used(w, f_tilde, mu, temperature):
    """μ̂: μ, or μ · max(max_k w_k f~_k, 1e-3) for the relative rule (w normalized)."""
    if temperature == "absolute":
        return mu
    w = np.asarray(w, dtype=np.float64) / np.sum(w)
    return mu * max(float(np.max(w * np.asarray(f_tilde))), 1e-3)


@pytest.mark.parametrize("temperature", ["absolute", "relative"])
@pytest.mark.parametrize("seed", range(20))
def test_plc_special_case_gives_the_same_weights(seed, temperature):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 6))
    jac = random_jacobian(k, int(rng.integers(k, 9)), seed=seed)
    z = rng.normal(size=k)
    r = rng.uniform(0.5, 3.0, size=k)
    f = z + r * rng.uniform(-0.2, 1.5, size=k)
    w = rng.uniform(0.1, 1.0, size=k)
    mu = float(rng.choice([0.02, 0.3, 2.0]))
    plc = plc_as_stch(z, r, mu, temperature=temperature)(jac, preference=w, losses=f)
    stch = SmoothTchebycheff(mu, z, z + r, temperature=temperature)(jac, preference=w, losses=f)
    assert plc.diagnostics["rectified"] == ()
    if plc.diagnostics["dissenters"]:  # lenient at κ_0 = 1; a rigid PLC would rectify
        assert plc.diagnostics["lenient"]
        rigid = plc_as_stch(z, r, mu, kappa0=float("inf"), temperature=temperature)(
            jac, preference=w, losses=f
        )
        assert rigid.diagnostics["rectified"]
    # PLC's and STCH's own code for the same prices: f~, the softmax and its K-term sum
    # (3 stages), amplified by the exponents w f~ / μ (w as the methods normalize it).
    mu_hat = temperature_used(w, (f - z) / r, mu, temperature)
    assert plc.diagnostics["temperature"] == pytest.approx(mu_hat, rel=1e-12)
    assert stch.diagnostics["temperature"] == pytest.approx(mu_hat, rel=1e-12)
    tol = rtol(k, steps=4, cond=exponent_cond(w / w.sum(), (f - z) / r, mu_hat))
    np.testing.assert_allclose(plc.weights.numpy(), stch.weights.numpy(), rtol=tol, atol=0)
    np.testing.assert_allclose(
        plc.diagnostics["prices"].numpy(), stch.diagnostics["prices"].numpy(), rtol=tol, atol=0
    )


def test_plc_special_case_where_a_larger_kappa0_would_rectify():
    # test_plc's golden step: f~ = (1/2, 1/2), π = (1/4, 1/4), objective 0 dissents with
    # ℓ = 13/128 against a surplus 27/64; κ_0 = 5 rectifies it, κ_0 = 1 tolerates it.
    jac = torch.tensor([[-4.0, 1.0, 1.0], [6.0, 1.0, 1.0]], dtype=torch.float64)
    z, r, f = np.zeros(2), np.array([4.0, 2.0]), [2.0, 1.0]
    strict = plc_as_stch(z, r, 0.02, kappa0=5.0)
    assert strict(jac, losses=f).diagnostics["rectified"] == (0,)
    plc = plc_as_stch(z, r, 0.02)(jac, losses=f)
    assert plc.diagnostics["lenient"] and plc.diagnostics["dissenters"] == (0,)
    stch = SmoothTchebycheff(0.02, z, z + r)(jac, losses=f)
    expected = torch.tensor([1 / 16, 1 / 8], dtype=torch.float64)
    torch.testing.assert_close(stch.weights, expected, rtol=1e-12, atol=0)
    # Two implementations of the same prices (3 stages, K = 2), amplified by the exponents
    # w f~ / μ = 12.5; d = Σ α_k g_k then moves by at most tol Σ_k |α_k| |g_k,i|.
    tol = rtol(2, steps=3, cond=exponent_cond([0.5, 0.5], [0.5, 0.5], 0.02))
    torch.testing.assert_close(plc.weights, stch.weights, rtol=tol, atol=0)
    atol = tol * float((stch.weights.abs() @ jac.abs()).max())
    torch.testing.assert_close(plc.direction, stch.direction, rtol=0, atol=atol)


# (4) Bad input ------------------------------------------------------------------------------------
JAC = random_jacobian(2, 3, seed=3)
NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(ideal=[0.0, 0.0]), "ideal and nadir must be given together"),
        (dict(nadir=[1.0, 1.0]), "ideal and nadir must be given together"),
        (dict(ideal=[0.0, 0.0], nadir=[1.0, 0.0]), "nadir must exceed ideal"),
        (dict(ideal=[0.0, 2.0], nadir=[1.0, 1.0]), "nadir must exceed ideal"),
        (dict(ideal=[0.0, 0.0], nadir=[1.0, 1.0, 1.0]), "ideal has 2 entries but nadir has 3"),
        (dict(ideal=[0.0, NAN], nadir=[1.0, 1.0]), "ideal must be finite"),
        (dict(ideal=[0.0, 0.0], nadir=[1.0, INF]), "nadir must be finite"),
        (dict(mu=0.0), "mu must be a positive finite number"),
        (dict(mu=-0.1), "mu must be a positive finite number"),
        (dict(mu=INF), "mu must be a positive finite number"),
        (dict(mu=NAN), "mu must be a positive finite number"),
    ],
)
def test_bad_construction_raises_a_value_error_naming_the_problem(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SmoothTchebycheff(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "call", "match"),
    [
        ({}, {}, "smooth Tchebycheff prices with the objective values: pass losses="),
        (
            dict(ideal=[0.0] * 3, nadir=[1.0] * 3),
            dict(losses=[1.0, 1.0]),
            "ideal/nadir have 3 entries but there are 2 objectives",
        ),
        (dict(mu=1e-300), dict(losses=[1e300, 1.0]), r"objective\(s\) \[0\] overflow"),
    ],
)
def test_bad_call_raises_a_value_error_naming_the_problem(kwargs, call, match):
    with pytest.raises(ValueError, match=match):
        SmoothTchebycheff(**kwargs)(JAC, **call)


def test_missing_losses_also_raises_from_the_gramian_route():
    with pytest.raises(ValueError, match="smooth Tchebycheff prices with the objective values"):
        SmoothTchebycheff().weights(JAC @ JAC.T)


# (5) A zero preference entry gets a zero weight ------------------------------------------------
def test_zero_preference_entry_gets_zero_weight():
    jac = random_jacobian(3, 5, seed=2)
    # Objective 0 has by far the largest value: with w_0 > 0 it would take the whole price.
    result = SmoothTchebycheff()(jac, preference=[0.0, 1.0, 1.0], losses=[100.0, 1.0, 2.0])
    assert float(result.weights[0]) == 0.0
    assert float(result.diagnostics["prices"][0]) == 0.0
    # w f / μ = (0, 25, 50): objective 2 takes the price (objective 1 keeps e^-25 of it).
    assert float(result.weights[2]) == pytest.approx(0.5, rel=1e-10)
    assert float(result.weights[1]) == pytest.approx(0.5 * np.exp(-25.0), rel=1e-10)
    torch.testing.assert_close(result.direction, result.weights[1:] @ jac[1:])


# Registry, repr, optimizer ----------------------------------------------------------------------
def test_registry_and_repr():
    method = get("STCH", mu=0.5, ideal=[0.0, 1.0], nadir=[1.0, 3.0])
    assert isinstance(method, SmoothTchebycheff)
    assert repr(method) == "SmoothTchebycheff(mu=0.5, ideal=[0.0, 1.0], nadir=[1.0, 3.0])"
    assert repr(SmoothTchebycheff()) == "SmoothTchebycheff()"
    assert method.state_dict() == {}


def test_optimizer_by_name_passes_the_values():
    model, x = small_model(2, seed=0)
    opt = MultiObjectiveOptimizer(torch.optim.SGD(model.parameters(), lr=1e-2), method="stch")
    info = opt.step(list(objective_values(model, x)))
    values = info.values.numpy()
    w_f = 0.5 * values
    assert int(np.argmax(info.weights.numpy())) == int(np.argmax(w_f))
    torch.testing.assert_close(info.diagnostics["normalized_losses"], info.values)


@pytest.mark.parametrize("seed", range(8))
def test_relative_temperature_is_the_absolute_rule_at_mu_hat(seed):
    """temperature="relative" prices with μ̂ = μ · max(max_k w_k f~_k, 1e-3): the same weights
    as the absolute rule given μ̂ (one extra product in μ̂: a few roundings)."""
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 6))
    jac = random_jacobian(k, 5, seed=seed)
    z = rng.normal(size=k)
    r = rng.uniform(0.5, 3.0, size=k)
    f = z + r * rng.uniform(-0.2, 1.5, size=k) * (1e-3 if seed % 3 == 0 else 1.0)  # floor too
    w = rng.uniform(0.1, 1.0, size=k)
    relative = SmoothTchebycheff(0.02, z, z + r, temperature="relative")(
        jac, preference=w, losses=f
    )
    mu_hat = relative.diagnostics["temperature"]
    expected = 0.02 * max(float(np.max(w / w.sum() * (f - z) / r)), 1e-3)
    assert mu_hat == pytest.approx(expected, rel=1e-12)
    absolute = SmoothTchebycheff(mu_hat, z, z + r)(jac, preference=w, losses=f)
    tol = rtol(k, steps=4, cond=exponent_cond(w / w.sum(), (f - z) / r, mu_hat))
    np.testing.assert_allclose(relative.weights.numpy(), absolute.weights.numpy(), rtol=tol)
    assert "temperature='relative'" in repr(SmoothTchebycheff(temperature="relative"))
    with pytest.raises(ValueError, match="temperature"):
        SmoothTchebycheff(temperature="auto")
