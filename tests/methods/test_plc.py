"""PLC: golden values derived by hand, the spec's special cases, state and errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from moo_lenient.methods import PLC
from tests.conftest import random_jacobian

J = torch.tensor([[-4.0, 1.0, 1.0], [6.0, 1.0, 1.0]], dtype=torch.float64)


# Golden values on J = [[-4, 1, 1], [6, 1, 1]] -------------------------------------------------
# Stated inputs: f = (2, 1), w = (1/2, 1/2), ideal z = (0, 0), nadir (4, 2) so r = (4, 2),
# t = 0, H = 10, defaults otherwise (range voices because a reference is given, μ = 0.02,
# no annealing with range voices, κ_0 = 1.5, linear schedule so λ_0 = 1 and κ_0 = 1.5).
#   f~ = ((2-0)/4, (1-0)/2) = (1/2, 1/2); w f~/μ equal, so e = (1, 1) and π = w e / 2 = (1/4, 1/4)
#   g^1 = g1/4 = (-1, 1/4, 1/4), g^2 = g2/2 = (3, 1/2, 1/2)
#   p = (g^1 + g^2)/4 = (1/2, 3/16, 3/16)
#   δ1 = <g^1, p> = -1/2 + 3/64 + 3/64 = -13/32 (dissenter), δ2 = 3/2 + 3/32 + 3/32 = 27/16
#   Γ = π2 δ2 = 27/64, ℓ1 = π1 |δ1| = 13/128; κ ℓ1 = 39/256 <= 108/256 = Γ: tolerated, lenient
#   α = π / r = (1/16, 1/8), d = g1/16 + g2/8 = (1/2, 3/16, 3/16)
GOLDEN_KW = dict(ideal=[0.0, 0.0], nadir=[4.0, 2.0], horizon=10)
GOLDEN_F = [2.0, 1.0]


def test_golden_lenient_step():
    result = PLC(**GOLDEN_KW)(J, preference=[1, 1], losses=GOLDEN_F)
    dg = result.diagnostics
    torch.testing.assert_close(result.weights, torch.tensor([1 / 16, 1 / 8], dtype=torch.float64))
    torch.testing.assert_close(
        result.direction, torch.tensor([0.5, 3 / 16, 3 / 16], dtype=torch.float64)
    )
    torch.testing.assert_close(dg["prices"], torch.tensor([0.25, 0.25], dtype=torch.float64))
    torch.testing.assert_close(
        dg["stances"], torch.tensor([-13 / 32, 27 / 16], dtype=torch.float64)
    )
    assert dg["coalition"] == (1,) and dg["dissenters"] == (0,)
    assert dg["tolerated"] == (0,) and dg["rectified"] == ()
    assert math.isclose(dg["surplus"], 27 / 64)
    assert dg["kappa_t"] == 1.5 and dg["lambda_t"] == 1.0 and dg["mu_t"] == 0.02
    assert dg["lenient"] and not dg["escaped"]


# With κ_0 = 5 the same step is rectified: κ ℓ1 = 65/128 > 54/128 = Γ.
#   The QP for R = {1}: m = -δ1 / Ĝ11 with Ĝ11 = |g^1|² = 1 + 1/16 + 1/16 = 9/8, so
#   m = (13/32) / (9/8) = 13/36 and b = (1/4 + 13/36, 1/4) = (11/18, 1/4).
#   Σ b g^ = p + m g^1 = (1/2 - 13/36, 3/16 + 13/144, ...) = (5/36, 5/18, 5/18), and
#   <g^1, .> = -5/36 + 5/72 + 5/72 = 0: the dissenter is made indifferent.
#   ||Σ b g^||² = 25/1296 + 2·25/324 = 225/1296, ||p||² = 1/4 + 2·9/256 = 41/128; ratio ≈ 0.736 > ε.
#   α = b / r = (11/72, 1/8), d = (11/72) g1 + (1/8) g2 = (5/36, 5/18, 5/18).
def test_golden_rectified_step():
    result = PLC(kappa0=5.0, **GOLDEN_KW)(J, preference=[1, 1], losses=GOLDEN_F)
    dg = result.diagnostics
    torch.testing.assert_close(result.weights, torch.tensor([11 / 72, 1 / 8], dtype=torch.float64))
    torch.testing.assert_close(
        result.direction, torch.tensor([5 / 36, 5 / 18, 5 / 18], dtype=torch.float64)
    )
    assert dg["rectified"] == (0,) and dg["tolerated"] == () and not dg["lenient"]
    assert not dg["escaped"]
    assert abs(float(J[0] @ result.direction)) < 1e-12


def test_golden_stall_escape():
    # Same step with ε = 0.8 > sqrt(225/1296) / sqrt(41/128) ≈ 0.736: the coalition carries it,
    # b = π and d = the lenient direction of the first golden test.
    ratio = math.sqrt(225 / 1296) / math.sqrt(41 / 128)
    assert 0.73 < ratio < 0.74
    result = PLC(kappa0=5.0, stall_eps=0.8, **GOLDEN_KW)(J, preference=[1, 1], losses=GOLDEN_F)
    assert result.diagnostics["escaped"] and result.diagnostics["rectified"] == (0,)
    torch.testing.assert_close(result.weights, torch.tensor([1 / 16, 1 / 8], dtype=torch.float64))


# Without values and reference (the spec's step 0: every f~ = 1), default voices = ema_l2,
# which at the first call equal the gradient norms s = (√18, √38); μ anneals from 1 at t = 0.
#   π = w e / Σe with e = (1, 1): (1/4, 1/4). Ĝ12 = -22/√(18·38); δ1 = δ2 = (1 + Ĝ12)/4 > 0:
#   no dissent, α = π / s = (1/(4√18), 1/(4√38)).
def test_golden_without_reference_or_values():
    result = PLC(horizon=10)(J)
    dg = result.diagnostics
    s = np.sqrt([18.0, 38.0])
    torch.testing.assert_close(result.weights, torch.tensor(0.25 / s, dtype=torch.float64))
    torch.testing.assert_close(dg["voices"], torch.tensor(s, dtype=torch.float64))
    delta = 0.25 * (1 - 22 / math.sqrt(18 * 38))
    torch.testing.assert_close(dg["stances"], torch.tensor([delta, delta], dtype=torch.float64))
    assert dg["mu_t"] == 1.0 and dg["dissenters"] == ()


# The spec's special cases ----------------------------------------------------------------------
def smooth_tchebycheff_gradient(jac, f, w, z, r, mu):
    """Independent route: autograd of μ log Σ exp(w_k (f_k(θ) - z_k) / (r_k μ)) at θ = 0 for
    the linear model f(θ) = f + J θ."""
    theta = torch.zeros(jac.shape[1], dtype=torch.float64, requires_grad=True)
    values = torch.as_tensor(f, dtype=torch.float64) + jac @ theta
    ft = (values - torch.as_tensor(z, dtype=torch.float64)) / torch.as_tensor(
        r, dtype=torch.float64
    )
    w = torch.as_tensor(w, dtype=torch.float64)
    w = w / w.sum()
    (grad,) = torch.autograd.grad(mu * torch.logsumexp(w * ft / mu, 0), theta)
    return grad


@pytest.mark.parametrize("temperature", ["absolute", "relative"])
@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("eps", [0.0, 0.1, 10.0])
def test_range_voices_with_kappa_at_most_one_is_smooth_tchebycheff(seed, eps, temperature):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 6))
    jac = random_jacobian(k, int(rng.integers(1, 9)), seed=seed)
    z = rng.normal(size=k)
    r = rng.uniform(0.5, 3.0, size=k)
    f = z + r * rng.uniform(0, 1, size=k)
    w = rng.uniform(0.1, 1.0, size=k)
    mu = float(rng.choice([0.02, 0.3]))
    method = PLC(
        ideal=z,
        nadir=z + r,
        kappa0=float(rng.uniform(0, 1)),
        schedule="constant",
        mu=mu,
        mu_start=None,
        stall_eps=eps,
        horizon=50,
        temperature=temperature,
        free_descent=None,
    )
    mu_hat = mu
    if temperature == "relative":  # μ · max(M, 1e-3), M = max_k w_k f~_k (w normalized)
        mu_hat = mu * max(float(np.max(w / w.sum() * (f - z) / r)), 1e-3)
    for _ in range(3):  # later steps too: free descent is off, whatever the step
        d = method(jac, preference=w, losses=f).direction
        torch.testing.assert_close(d, smooth_tchebycheff_gradient(jac, f, w, z, r, mu_hat))


@pytest.mark.parametrize("seed", range(10))
def test_linear_proposal_with_unit_range_is_linear_scalarization(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 6))
    jac = random_jacobian(k, 7, seed=seed)
    w = rng.uniform(0.1, 1.0, size=k)
    method = PLC(
        proposal="linear",
        ideal=[0.0] * k,
        nadir=[1.0] * k,
        kappa0=1.0,
        schedule="constant",
        horizon=10,
    )
    d = method(jac, preference=w, losses=rng.uniform(size=k)).direction
    torch.testing.assert_close(d, torch.as_tensor(w / w.sum()) @ jac)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("kappa0", [1.5, 1e6, math.inf])
def test_no_conflict_gives_the_proposal(seed, kappa0):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 6))
    jac = torch.as_tensor(np.abs(rng.normal(size=(k, 6))))  # non-negative entries: no conflict
    method = PLC(kappa0=kappa0, horizon=10, voices="l2", stall_eps=0.0)
    result = method(jac, preference=rng.uniform(0.1, 1, size=k), losses=rng.uniform(size=k))
    dg = result.diagnostics
    assert dg["dissenters"] == ()
    s = jac.norm(dim=1)
    p = (dg["prices"] / s) @ jac
    torch.testing.assert_close(result.direction, p)


@pytest.mark.parametrize("seed", range(20))
def test_infinite_kappa_without_escape_never_hurts_a_dissenter(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 8))
    jac = random_jacobian(k, int(rng.integers(2, 10)), seed=seed)
    w = rng.uniform(0, 1, size=k)
    w[rng.integers(0, k)] = 0.0  # a non-player: never a dissenter
    method = PLC(kappa0=math.inf, stall_eps=0.0, horizon=10, voices="l2")
    result = method(jac, preference=w, losses=rng.uniform(size=k))
    dissenters = list(result.diagnostics["dissenters"])
    assert set(dissenters) == set(result.diagnostics["rectified"])
    assert not set(np.flatnonzero(w == 0)) & set(dissenters)
    inner = jac @ result.direction
    tol = 1e-9 * jac.norm(dim=1) * result.direction.norm()
    assert (inner[dissenters] >= -tol[dissenters]).all()


@pytest.mark.parametrize("seed", range(10))
def test_scaling_objectives_with_their_reference_leaves_d_unchanged(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 6))
    jac = random_jacobian(k, 6, seed=seed)
    z = rng.normal(size=k)
    r = rng.uniform(0.5, 2, size=k)
    f = z + r * rng.uniform(size=k)
    w = rng.uniform(0.1, 1, size=k)
    c = rng.uniform(0.01, 100, size=k)
    base = PLC(ideal=z, nadir=z + r, horizon=20)(jac, preference=w, losses=f)
    scaled = PLC(ideal=c * z, nadir=c * (z + r), horizon=20)(
        torch.as_tensor(c)[:, None] * jac, preference=w, losses=c * f
    )
    torch.testing.assert_close(scaled.direction, base.direction)


def test_zero_gradient_gets_zero_voice_and_is_no_dissenter():
    jac = torch.tensor([[1.0, 0.0], [0.0, 0.0], [-1.0, 0.5]], dtype=torch.float64)
    result = PLC(horizon=10)(jac, losses=[1.0, 2.0, 3.0])
    dg = result.diagnostics
    assert 1 in dg["zero_voice"] and 1 not in dg["dissenters"]
    assert result.weights[1] == 0.0
    assert torch.isfinite(result.direction).all()


def test_equal_dissenters_are_tolerated_or_rectified_together():
    # Two identical dissenters (equal loss ℓ) facing one strong coalition member.
    jac = torch.tensor([[-1.0, 0.1], [-1.0, 0.1], [3.0, 0.0]], dtype=torch.float64)
    outcomes = set()
    for kappa0 in (1.0, 1.5, 3.0, 50.0):
        method = PLC(horizon=10, voices="l2", kappa0=kappa0)
        dg = method(jac, preference=[0.1, 0.1, 0.8], losses=[1.0, 1.0, 1.0]).diagnostics
        assert dg["dissenters"] == (0, 1)
        assert dg["tolerated"] in {(), (0, 1)}
        assert dg["rectified"] in {(), (0, 1)}
        outcomes.add(dg["tolerated"])
    assert outcomes == {(), (0, 1)}  # both decisions occur over this range of κ_0


# Schedules, annealing, horizon -----------------------------------------------------------------
def test_schedules():
    for schedule, mid, end in [
        ("linear", 0.5, 0.0),
        ("cosine", 0.5, 0.0),
        ("exponential", 1e-3**0.5, 1e-3),
        ("constant", 1.0, 1.0),
    ]:
        m = PLC(schedule=schedule, horizon=100)
        assert m.lambda_at(0) == 1.0
        assert math.isclose(m.lambda_at(50), mid, rel_tol=1e-12)
        assert math.isclose(m.lambda_at(100), end, abs_tol=1e-15)
        assert math.isclose(m.lambda_at(500), end, abs_tol=1e-15)  # t >= H: end value holds
    assert PLC(horizon=10).kappa_at(10) == math.inf  # rigid end phase
    assert PLC(horizon=10, lambda_min=0.1).kappa_at(10) == pytest.approx(15.0)
    assert PLC(horizon=10, kappa0=1.5).kappa_at(5) == pytest.approx(3.0)


def test_temperature_annealing_only_with_l2_type_voices():
    m = PLC(horizon=100)  # ema_l2 voices: mu_start auto = 1
    assert m.mu_at(0) == 1.0 and math.isclose(m.mu_at(100), 0.02)
    assert math.isclose(m.mu_at(50), 1.0**0.5 * 0.02**0.5)
    ref = PLC(horizon=100, ideal=[0, 0], nadir=[1, 1])  # range voices: no annealing
    assert ref.mu_at(0) == 0.02
    assert PLC(horizon=100, mu_start=None).mu_at(0) == 0.02


def test_without_horizon_the_schedule_is_constant_with_one_warning():
    m = PLC()
    with pytest.warns(UserWarning, match="no horizon"):
        first = m(J, losses=[1.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = m(J, losses=[1.0, 2.0])  # warned once only
    for dg in (first.diagnostics, second.diagnostics):
        assert dg["lambda_t"] == 1.0 and dg["kappa_t"] == 1.5 and dg["mu_t"] == 0.02


def test_step_counter_advances_per_call_and_reset():
    m = PLC(horizon=4)
    steps = [m(J, losses=[1.0, 2.0]).diagnostics["step"] for _ in range(3)]
    assert steps == [0, 1, 2] and m.t == 3
    m.reset()
    assert m(J).diagnostics["step"] == 0


# Forecast ideal --------------------------------------------------------------------------------
def test_forecast_ideal_follows_the_spec():
    h = 200
    m = PLC(horizon=h)
    beta = 1 - 1 / max(1, 0.01 * h)
    values = [np.array([5.0, 3.0]), np.array([4.0, 3.5]), np.array([3.5, 2.0])]
    lo, hi, rho = values[0].copy(), values[0].copy(), np.zeros(2)
    for t, f in enumerate(values):
        dg = m(J, losses=f).diagnostics
        if t > 0:
            lo, hi = np.minimum(lo, f), np.maximum(hi, f)
            rho = beta * rho + (1 - beta) * (values[t - 1] - f)
        z = lo - np.maximum(rho, 0) * (h - t)
        r = hi - z
        np.testing.assert_allclose(dg["ideal"].numpy(), z)
        np.testing.assert_allclose(dg["range"].numpy(), r)
        expected = np.where(r > 1e-12, (f - z) / np.where(r > 1e-12, r, 1), 1.0)
        np.testing.assert_allclose(dg["normalized_values"].numpy(), expected)
    assert m(J, losses=[5.0, 5.0]).diagnostics["step"] == 3


@pytest.mark.parametrize("temperature", ["absolute", "auto"])
def test_first_step_prices_every_normalized_value_at_one(temperature):
    method = PLC(horizon=10, temperature=temperature)
    dg = method(J, preference=[0.7, 0.3], losses=[3.0, -1.0]).diagnostics
    np.testing.assert_array_equal(dg["normalized_values"].numpy(), [1.0, 1.0])
    # μ_0 = 1 (annealing start); without a reference the default is now the relative rule
    # (the path study, docs/plc.md): μ̂_0 = 1 · max(M_0, 1e-3) with M_0 = max_k w_k f~_k = 0.7.
    mu_hat = 1.0 if temperature == "absolute" else 0.7
    assert dg["temperature"] == pytest.approx(mu_hat, rel=1e-12)
    e = np.exp((np.array([0.7, 0.3]) - 0.7) / mu_hat)
    np.testing.assert_allclose(dg["prices"].numpy(), np.array([0.7, 0.3]) * e / e.sum())


def test_lower_bound_raises_the_forecast_and_is_enforced():
    m = PLC(horizon=10, lower_bound=[0.0, 0.0])
    m(J, losses=[1.0, 1.0])
    dg = m(J, losses=[0.5, 0.9]).diagnostics
    assert (dg["ideal"] >= 0).all()
    state = m.state_dict()
    with pytest.raises(ValueError, match=r"objective 1 .* below its declared lower bound"):
        m(J, losses=[0.5, -0.1])
    after = m.state_dict()
    assert state["t"] == after["t"] and torch.equal(state["lo"], after["lo"])


# State ------------------------------------------------------------------------------------------
def test_state_dict_round_trip_reproduces_the_run():
    jacs = [random_jacobian(3, 5, seed=s) for s in range(8)]
    vals = [np.array([3.0, 2.0, 1.0]) - 0.1 * s for s in range(8)]
    a = PLC(horizon=8)
    out_a = [a(j, losses=v).weights for j, v in zip(jacs, vals, strict=True)]
    b = PLC(horizon=8)
    for j, v in zip(jacs[:4], vals[:4], strict=True):
        b(j, losses=v)
    c = PLC(horizon=8)
    c.load_state_dict(b.state_dict())
    out_c = [c(j, losses=v).weights for j, v in zip(jacs[4:], vals[4:], strict=True)]
    for x, y in zip(out_a[4:], out_c, strict=True):
        assert torch.equal(x, y)


# Errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(voices="cosine"), "voices must be one of"),
        (dict(proposal="nash"), "proposal must be one of"),
        (dict(schedule="step"), "schedule must be one of"),
        (dict(rescale="mean"), "rescale must be one of"),
        (dict(mu=0.0), "mu must be a positive"),
        (dict(mu_start=-1.0), "mu_start must be a positive"),
        (dict(ideal=[0.0, 0.0]), "given together"),
        (dict(ideal=[0.0, 0.0], nadir=[1.0, 0.0]), "nadir must exceed ideal"),
        (dict(ideal=[0.0, 0.0], nadir=[1.0, 1.0, 1.0]), "ideal has 2 entries but nadir has 3"),
        (dict(ideal=[0, 0], nadir=[1, 1], lower_bound=[0, 0]), "cannot be combined"),
        (dict(kappa0=-1.0), "kappa0 must be a non-negative"),
        (dict(horizon=0), "horizon must be a positive"),
        (dict(lambda_min=2.0), "lambda_min must lie in"),
        (dict(stall_eps=float("nan")), "stall_eps must be a non-negative"),
        (dict(lower_bound=[0.0, float("nan")]), "lower_bound must be finite"),
    ],
)
def test_bad_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PLC(**kwargs)


def test_reference_of_the_wrong_length():
    with pytest.raises(ValueError, match="ideal has 3 entries but there are 2 objectives"):
        PLC(ideal=[0, 0, 0], nadir=[1, 1, 1], horizon=5)(J, losses=[1.0, 1.0])


# Opt-in coalition excursions -------------------------------------------------------------------
# g3 conflicts with both others; with f3 the worst normalized value, objective 3 leads the prices.
J3 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-0.5, -0.5]], dtype=torch.float64)
REF3 = dict(ideal=[0.0, 0.0, 0.0], nadir=[1.0, 1.0, 1.0])
F3 = [0.2, 0.2, 0.9]


def excursion_run(steps, values=None, **kwargs):
    method = PLC(horizon=100, **REF3, **kwargs)
    values = values or [F3] * steps
    return method, [method(J3, losses=v) for v in values[:steps]]


def test_excursion_starts_after_the_streak_and_steps_along_the_coalition_proposal():
    _, results = excursion_run(6, excursion=dict(streak=3, max_len=50))
    flags = [r.diagnostics["excursion"] for r in results]
    assert flags == [False, False, True, True, True, True]
    assert [r.diagnostics["excursion_streak"] for r in results[:2]] == [1, 2]
    dg = results[2].diagnostics
    assert dg["excursion_leader"] == 2
    # coalition {0, 1} renegotiates without the leader: equal w and f~, so π^S = (1/2, 1/2, 0)
    # and with unit ranges α = π^S: d = (g1 + g2) / 2
    torch.testing.assert_close(
        results[2].weights, torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64)
    )
    assert float(J3[2] @ results[2].direction) < 0  # the leader loses during the excursion


def test_excursion_ends_at_max_len_and_the_streak_restarts():
    _, results = excursion_run(12, excursion=dict(streak=2, max_len=3))
    flags = [r.diagnostics["excursion"] for r in results]
    # streak 1, start at the 2nd step, 3 excursion steps, the 4th check ends it (base step),
    # then the streak restarts from 0
    assert flags[:7] == [False, True, True, True, False, False, True]


def test_excursion_ends_when_the_leader_degrades_unpaid():
    values = [F3] * 3 + [[0.2, 0.2, 0.9 + 0.5 * i] for i in range(1, 6)]
    _, results = excursion_run(8, values=values, excursion=dict(streak=2, b0=0.05))
    flags = [r.diagnostics["excursion"] for r in results]
    assert flags[1] and not all(flags[1:])
    ended = flags.index(False, 1)
    assert results[ended].diagnostics["unpaid_degradation"] > 0.05 * (1 - ended / 50)


def test_no_excursion_starts_late_and_b0_zero_is_the_base_rule():
    late = PLC(horizon=20, **REF3, excursion=dict(streak=1, max_len=2, tau=0.5))
    flags = [late(J3, losses=F3).diagnostics["excursion"] for _ in range(20)]
    starts = [t for t, f in enumerate(flags) if f and (t == 0 or not flags[t - 1])]
    assert starts and max(starts) < 10  # t >= τH = 10: none starts
    assert not any(flags[12:])  # the last one has ended within max_len
    _, base = excursion_run(5)
    _, off = excursion_run(5, excursion=dict(b0=0.0, streak=1))
    for a, b in zip(base, off, strict=True):
        assert torch.equal(a.weights, b.weights) and "excursion" not in b.diagnostics


def test_excursion_state_round_trip_mid_excursion():
    a, _ = excursion_run(4, excursion=dict(streak=2, max_len=10))
    b = PLC(horizon=100, **REF3, excursion=dict(streak=2, max_len=10))
    b.load_state_dict(a.state_dict())
    for _ in range(4):
        ra, rb = a(J3, losses=F3), b(J3, losses=F3)
        assert torch.equal(ra.weights, rb.weights)
        assert ra.diagnostics["excursion"] == rb.diagnostics["excursion"]


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        (dict(speed=1), ValueError, "unknown excursion options"),
        (dict(b0=-1.0), ValueError, "b0 must be a non-negative"),
        (dict(tau=2.0), ValueError, "tau must lie in"),
        (dict(streak=0), ValueError, "streak must be a positive integer"),
        (dict(max_len=1.5), ValueError, "max_len must be a positive integer"),
        ("on", TypeError, "excursion must be None or a dict"),
    ],
)
def test_bad_excursion_options(options, error, match):
    with pytest.raises(error, match=match):
        PLC(excursion=options)


def test_excursion_needs_a_horizon():
    with pytest.raises(ValueError, match="excursions need a horizon"):
        PLC(excursion={}, ideal=[0, 0], nadir=[1, 1])(J, losses=[1.0, 1.0])
