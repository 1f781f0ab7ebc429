"""PLC spec v4: the relative temperature, free descent and the one predicate behind both defaults.

Golden values derived by hand, the spec's special cases for v4 (the changed ones included) and
the errors of the new options.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from moo_lenient import MultiObjectiveOptimizer
from moo_lenient.methods import PLC
from moo_lenient.methods.plc import V4_PATHS as PLC_V4_PATHS
from tests.conftest import random_jacobian
from tests.tolerances import rtol

UNIT = dict(ideal=[0.0, 0.0], nadir=[1.0, 1.0])


def plc(**kw) -> PLC:
    return PLC(**{"horizon": 10, **kw})


# The predicate ---------------------------------------------------------------------------------
SPEC_V4 = {"start": 0.2, "tie": 3.0, "coef": 1.0}
NO_REFERENCE = {"start": 0.0, "tie": 3.0, "coef": 2.0}  # the path study's choice (docs/plc.md)
NO_HORIZON = {"start": 0.0, "tie": 3.0, "coef": 1.0}  # the path study's choice (docs/plc.md)


@pytest.mark.parametrize(
    ("kw", "free_descent"),
    [
        (dict(ideal=[0, 0], nadir=[1, 1], horizon=10), SPEC_V4),  # the spec's v4-ready path
        (dict(ideal=[0, 0], nadir=[1, 1]), NO_HORIZON),  # no horizon
        (dict(horizon=10), NO_REFERENCE),  # no reference, a horizon
        (dict(horizon=10, lower_bound=[0, 0]), NO_REFERENCE),  # a lower bound is no reference
        (dict(), NO_HORIZON),
    ],
)
def test_v4_defaults_resolve_together_per_path(kw, free_descent):
    method = PLC(**kw)
    ready = free_descent is not None
    assert method.v4_ready is ready
    assert method.resolved_temperature == ("relative" if ready else "absolute")
    fd = method.resolved_free_descent
    assert (fd is None) if not ready else (fd.as_dict() == free_descent)
    assert PLC_V4_PATHS[(method.has_reference, method.horizon is not None)] == free_descent


def test_explicit_values_are_obeyed_on_every_path():
    method = PLC(temperature="relative", free_descent={"start": 0.0})
    assert method.resolved_temperature == "relative"
    assert method.resolved_free_descent.as_dict() == {"start": 0.0, "tie": 3.0, "coef": 1.0}
    v3 = PLC(**UNIT, horizon=10, temperature="absolute", free_descent=None)
    assert v3.v4_ready and v3.resolved_temperature == "absolute"
    assert v3.resolved_free_descent is None


def test_the_optimizer_horizon_makes_plc_v4_ready_at_the_first_step():
    """total_steps reaches PLC after construction; the predicate is fixed at the first step
    and saved with the method's state."""
    method = PLC(**UNIT)
    assert method.resolved_free_descent.start == 0.0  # no horizon yet: no warm-up
    model = torch.nn.Linear(3, 2).double()
    opt = MultiObjectiveOptimizer(
        torch.optim.SGD(model.parameters(), lr=0.1), method=method, total_steps=20
    )
    x = torch.randn(8, 3, dtype=torch.float64)
    out = model(x)
    opt.step([out[:, 0].pow(2).mean(), out[:, 1].pow(2).mean()])
    assert method.v4_ready and method.resolved_temperature == "relative"
    assert method.resolved_free_descent.as_dict() == SPEC_V4  # the warm-up placed at 0.2 H
    state = method.state_dict()
    assert state["v4_ready"] is True and state["horizon_at_start"] is True
    fresh = PLC(**UNIT, horizon=20)
    fresh.load_state_dict(state)
    assert fresh.v4_ready


def test_recorded_predicate_survives_a_later_horizon_change():
    """A run that started without a horizon keeps that path's rules (free descent from step 0)
    even if a horizon appears later."""
    method = PLC(**UNIT, free_descent="auto")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no horizon: the constant schedule
        method(random_jacobian(2, 3, seed=0), preference=[1, 1], losses=[0.5, 0.2])
    method.horizon = 100
    assert method.v4_ready and method.resolved_free_descent.as_dict() == NO_HORIZON


def test_a_checkpoint_from_before_v4_keeps_v3_rules_once_under_way():
    method = PLC(**UNIT, horizon=10)
    state = method.state_dict()
    old = {k: v for k, v in state.items() if k != "v4_ready"}
    started = {**old, "t": 5}
    method.load_state_dict(started)
    assert not method.v4_ready and method.resolved_temperature == "absolute"
    method.load_state_dict(old)  # t = 0: not started, resolves at its first step
    assert method.v4_ready


def test_state_dict_roundtrip_resumes_free_descent_exactly():
    jac = random_jacobian(3, 5, seed=3)
    pref = [0.2, 0.5, 0.3]
    values = [[0.9, 0.3, 0.4], [0.8, 0.3, 0.35], [0.7, 0.25, 0.3], [0.6, 0.2, 0.3]]
    kw = dict(ideal=[0, 0, 0], nadir=[1, 1, 1], horizon=4)
    full = PLC(**kw)
    weights = [full(jac, preference=pref, losses=v).weights for v in values]
    first = PLC(**kw)
    for v in values[:2]:
        first(jac, preference=pref, losses=v)
    resumed = PLC(**kw)
    resumed.load_state_dict(first.state_dict())
    for v, expected in zip(values[2:], weights[2:], strict=True):
        torch.testing.assert_close(resumed(jac, preference=pref, losses=v).weights, expected)


# Errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"start": 1.0}, r"free_descent\['start'\] must lie in \[0, 1\)"),
        ({"start": -0.1}, r"free_descent\['start'\]"),
        ({"tie": 0.0}, r"free_descent\['tie'\] must be > 0"),
        ({"coef": -1.0}, r"free_descent\['coef'\] must be > 0"),
        ({"coef": math.nan}, r"free_descent\['coef'\] must be finite"),
        ({"warmup": 0.2}, r"unknown option\(s\) \['warmup'\]"),
    ],
)
def test_free_descent_options_are_validated_naming_the_key(options, match):
    with pytest.raises(ValueError, match=match):
        PLC(free_descent=options)


@pytest.mark.parametrize("bad", [True, "on", 0.2, ["start"]])
def test_free_descent_rejects_values_that_are_not_options(bad):
    with pytest.raises(TypeError, match="free_descent"):
        PLC(free_descent=bad)


def test_free_descent_option_types_are_checked():
    with pytest.raises(TypeError, match=r"free_descent\['tie'\] must be a number"):
        PLC(free_descent={"tie": "3"})


def test_temperature_is_checked():
    with pytest.raises(ValueError, match="temperature"):
        PLC(temperature="warm")


def test_a_warm_up_without_a_horizon_is_refused_and_changes_nothing():
    method = PLC(**UNIT, free_descent={"start": 0.2})
    with pytest.raises(ValueError, match=r"horizon.*start=0"):
        method(random_jacobian(2, 3, seed=0), preference=[1, 1], losses=[0.5, 0.2])
    assert method.t == 0 and method.state_dict()["v4_ready"] is None


def test_v4_options_are_keyword_only_so_v3_positional_calls_keep_their_meaning():
    with pytest.raises(TypeError):
        PLC("range", "tcheb", 0.02, None, None, None, None, 1.5, "linear", 10, 0.0, 0.1, "none",
            None, "relative")  # fmt: skip


def test_repr_shows_the_v4_options_when_not_default():
    assert repr(PLC()) == "PLC()"
    text = repr(PLC(temperature="absolute", free_descent=None))
    assert "temperature='absolute'" in text and "free_descent=None" in text


# Golden values ---------------------------------------------------------------------------------
# g1 = (1, 0), g2 = (-1, 1), z = 0, r = 1 (range voices: ĝ = g), w = (1/2, 1/2),
# f = (0.8, 0.2): w f~ = (0.4, 0.1), M = 0.4.
#   Relative temperature: μ̂ = 0.02 · 0.4 = 0.008, so e2/e1 = exp(-0.3/0.008) = e^-37.5 ≈ 5e-17 and
#   π = (1/2, ~0) (the absolute rule would give e^-15 ≈ 3e-7).
#   δ = Ĝπ = (1/2, -1/2): objective 2 dissents with loss ℓ2 ≈ 0, tolerated; b = π, Σ b ĝ = (1/2, 0).
#   Free descent: leaders {k: w_k f~_k ≥ 0.4 - 3 · 0.008 = 0.376} = {1}; u = (0, 1/2).
#   Ĝ = [[1, -1], [-1, 2]], Ĝu = (-1/2, 1): m* = (1/2, 0) (then Ĝ(u + m*) = (0, 1/2) ≥ 0), so
#   a = (1/2, 1/2), Σ a ĝ = (0, 1/2): no objective increases (stances 0 and 1/2).
#   ‖Σ b ĝ‖ = ‖Σ a ĝ‖ = 1/2: factor = coef · min(1, 1) = 1, b = (1, 1/2), d = (1/2, 1/2).
G_FULL = torch.tensor([[1.0, 0.0], [-1.0, 1.0]], dtype=torch.float64)


def test_golden_free_descent_full_rank():
    method = PLC(**UNIT, horizon=10, free_descent={"start": 0.0})
    result = method(G_FULL, preference=[1, 1], losses=[0.8, 0.2])
    dg = result.diagnostics
    assert dg["temperature"] == pytest.approx(0.008, rel=1e-12)
    assert dg["leaders"] == (0,)
    assert dg["free_descent"] == pytest.approx(1.0, rel=1e-12)
    torch.testing.assert_close(result.weights, torch.tensor([1.0, 0.5], dtype=torch.float64))
    torch.testing.assert_close(result.direction, torch.tensor([0.5, 0.5], dtype=torch.float64))


def test_golden_free_descent_coefficient_and_before_warm_up():
    # coef 0.5: b = π + 0.5 a = (3/4, 1/4), d = (1/2, 1/4), ratio 1/2.
    half = PLC(**UNIT, horizon=10, free_descent={"start": 0.0, "coef": 0.5})
    result = half(G_FULL, preference=[1, 1], losses=[0.8, 0.2])
    torch.testing.assert_close(result.direction, torch.tensor([0.5, 0.25], dtype=torch.float64))
    assert result.diagnostics["free_descent"] == pytest.approx(0.5, rel=1e-12)
    # The default (warm-up 0.2 H = 2 steps): steps 0 and 1 are the base rule, step 2 adds.
    default = PLC(**UNIT, horizon=10)
    directions = [default(G_FULL, preference=[1, 1], losses=[0.8, 0.2]) for _ in range(3)]
    for early in directions[:2]:
        torch.testing.assert_close(early.direction, torch.tensor([0.5, 0.0], dtype=torch.float64))
        assert early.diagnostics["free_descent"] == 0.0 and early.diagnostics["leaders"] == ()
    torch.testing.assert_close(
        directions[2].direction, torch.tensor([0.5, 0.5], dtype=torch.float64)
    )


# Rank-deficient: g1 = (1, 0), g2 = (-1, 1), g3 = (0, 1) = g1 + g2 (Ĝ has rank 2), z = 0,
# r = 1, w = 1/3 each, f = (0.9, 0.3, 0.3): w f~ = (0.3, 0.1, 0.1), μ̂ = 0.006, π ≈ (1/3, 0, 0),
# no rectification (the dissenters' losses are ~0), Σ b ĝ = (1/3, 0).
#   Leaders {1}; u = (0, 1/3, 1/3), Σ u ĝ = (-1/3, 2/3). The cone where no objective increases
#   is {v: v1 ≥ 0, v2 ≥ v1, v2 ≥ 0}; the projection of (-1/3, 2/3) onto it is (0, 2/3): unique,
#   though the weights a that produce it are not. factor = min((1/3) / (2/3), 1) = 1/2, so the
#   added direction is (0, 1/3) and d = (1/3, 1/3).
def test_golden_free_descent_direction_with_a_rank_deficient_gramian():
    jac = torch.tensor([[1.0, 0.0], [-1.0, 1.0], [0.0, 1.0]], dtype=torch.float64)
    method = PLC(ideal=[0, 0, 0], nadir=[1, 1, 1], horizon=10, free_descent={"start": 0.0})
    result = method(jac, preference=[1, 1, 1], losses=[0.9, 0.3, 0.3])
    torch.testing.assert_close(result.direction, torch.tensor([1 / 3, 1 / 3], dtype=torch.float64))
    assert result.diagnostics["leaders"] == (0,)
    assert result.diagnostics["free_descent"] == pytest.approx(1.0, rel=1e-9)
    assert bool(torch.all(jac @ result.direction >= -1e-12))


# The spec's special cases under v4 ----------------------------------------------------------
def _case(seed: int):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 6))
    d = int(rng.integers(1, 8))
    rank = int(rng.integers(1, min(k, d) + 1))
    jac = random_jacobian(k, d, rank=rank, seed=seed)
    z = rng.normal(size=k)
    r = rng.uniform(0.5, 3.0, size=k)
    f = z + r * rng.uniform(0, 1, size=k)
    w = rng.uniform(0.1, 1.0, size=k)
    return jac, z, r, f, w


@pytest.mark.parametrize("kappa0", [1.5, math.inf])
@pytest.mark.parametrize("seed", range(25))
def test_free_descent_never_lowers_a_stance(seed, kappa0):
    """<ĝ_j, Σ b_k ĝ_k> with free descent ≥ without it, for every objective (range voices:
    ĝ_j = g_j / r_j and Σ b_k ĝ_k = d)."""
    jac, z, r, f, w = _case(seed)
    kw = dict(ideal=z, nadir=z + r, horizon=10, kappa0=kappa0, stall_eps=0.0)
    on = PLC(**kw, free_descent={"start": 0.0})(jac, preference=w, losses=f)
    off = PLC(**kw, free_descent=None)(jac, preference=w, losses=f)
    stance_on = (jac @ on.direction) / torch.as_tensor(r)
    stance_off = (jac @ off.direction) / torch.as_tensor(r)
    # Rounding of d = Σ α_k g_k is ~ u Σ |α_k| ‖g_k‖ (not ‖d‖: near a rest point d ≈ 0 is all
    # cancellation), seen through the largest voice ‖g_j‖ / r_j; K·d-term sums, a few stages.
    norms = torch.linalg.norm(jac, dim=1)
    mass = max(float(on.weights.abs() @ norms), float(off.weights.abs() @ norms))
    tol = rtol(jac.shape[0] * jac.shape[1], steps=4) * float((norms / torch.as_tensor(r)).max())
    tol *= mass
    assert bool(torch.all(stance_on >= stance_off - tol)), (stance_on, stance_off)
    if kappa0 == math.inf:  # the κ → ∞ guarantee holds with free descent on
        assert bool(torch.all(stance_on[list(on.diagnostics["dissenters"])] >= -tol))


@pytest.mark.parametrize("seed", range(10))
def test_free_descent_is_permutation_equivariant_and_scale_invariant(seed):
    jac, z, r, f, w = _case(seed)
    k = jac.shape[0]
    kw = dict(horizon=10, free_descent={"start": 0.0})
    base = PLC(ideal=z, nadir=z + r, **kw)(jac, preference=w, losses=f)
    perm = np.random.default_rng(seed).permutation(k)
    permuted = PLC(ideal=z[perm], nadir=(z + r)[perm], **kw)(
        jac[perm], preference=w[perm], losses=f[perm]
    )
    tol = rtol(k * jac.shape[1], steps=6, cond=k)
    torch.testing.assert_close(permuted.direction, base.direction, rtol=tol, atol=tol)
    if int(torch.linalg.matrix_rank(jac)) == k:  # weights are unique only at full rank
        torch.testing.assert_close(permuted.weights, base.weights[perm], rtol=tol, atol=tol)
    c = np.random.default_rng(seed + 1).uniform(0.1, 10.0, size=k)
    scaled = PLC(ideal=c * z, nadir=c * (z + r), **kw)(
        jac * torch.as_tensor(c)[:, None], preference=w, losses=c * f
    )
    torch.testing.assert_close(scaled.direction, base.direction, rtol=tol, atol=tol)


def test_free_descent_keeps_k1_and_all_tied_objectives_unchanged():
    jac1 = random_jacobian(1, 4, seed=1)
    kw1 = dict(ideal=[0.0], nadir=[1.0], horizon=10)
    on = PLC(**kw1, free_descent={"start": 0.0})(jac1, losses=[0.4])
    off = PLC(**kw1, free_descent=None)(jac1, losses=[0.4])
    assert torch.equal(on.weights, off.weights) and on.diagnostics["free_descent"] == 0.0
    jac3 = random_jacobian(3, 4, seed=2)
    kw3 = dict(ideal=[0, 0, 0], nadir=[2, 2, 2], horizon=10)
    tied = [0.6, 0.6, 0.6]  # equal w_k f~_k: every objective leads, u = 0
    on = PLC(**kw3, free_descent={"start": 0.0})(jac3, losses=tied)
    off = PLC(**kw3, free_descent=None)(jac3, losses=tied)
    assert torch.equal(on.weights, off.weights)
    assert on.diagnostics["leaders"] == (0, 1, 2) and on.diagnostics["free_descent"] == 0.0


def test_a_rest_point_stays_a_rest_point():
    """p = Σ π_k ĝ_k = 0 at a point with a non-leader: b = π, Σ b ĝ = 0, nothing is added."""
    w = np.array([1.0, 1.0, 1.0]) / 3
    f = np.array([0.6, 0.6, 0.3])  # objectives 0, 1 lead; 2 trails
    mu_hat = 0.02 * 0.2
    e = np.exp((w * f - (w * f).max()) / mu_hat)
    pi = w * e / e.sum()
    c = pi[2] / pi[1]  # ĝ1 = (1, 0), ĝ2 = (-1, -c), ĝ3 = (0, 1): π1 ĝ1 + π2 ĝ2 + π3 ĝ3 = 0
    jac = torch.tensor([[1.0, 0.0], [-1.0, -c], [0.0, 1.0]], dtype=torch.float64)
    result = PLC(ideal=[0, 0, 0], nadir=[1, 1, 1], horizon=10, free_descent={"start": 0.0})(
        jac, preference=w, losses=f
    )
    assert result.diagnostics["leaders"] == (0, 1)
    assert float(torch.linalg.norm(result.direction)) < 1e-15


def test_no_conflict_gives_the_proposal_only_without_free_descent():
    """ "No conflict ⇒ d ∝ p" holds with free_descent=None and before the warm-up; after it the
    non-leaders' free descent is added (the spec's changed special case)."""
    jac = torch.tensor([[1.0, 0.0], [0.6, 0.8]], dtype=torch.float64)  # <g1, g2> > 0
    kw = dict(**UNIT, horizon=10, kappa0=5.0)
    f = [0.9, 0.2]
    off = PLC(**kw, free_descent=None)(jac, preference=[1, 1], losses=f)
    prices = off.diagnostics["prices"]
    torch.testing.assert_close(off.direction, prices @ jac)  # r = 1: d = p
    on = PLC(**kw, free_descent={"start": 0.0})(jac, preference=[1, 1], losses=f)
    assert on.diagnostics["free_descent"] > 0.1
    cos = torch.nn.functional.cosine_similarity(on.direction, off.direction, dim=0)
    assert float(cos) < 0.999


def test_relative_temperature_prices_ignore_a_common_scale_of_the_normalized_values():
    jac = random_jacobian(4, 6, seed=7)
    f = np.array([0.5, 0.2, 0.35, 0.05])
    w = np.array([0.1, 0.4, 0.3, 0.2])
    for c in (0.1, 3.0, 40.0):  # r → r / c scales every f~ by c
        base = PLC(ideal=[0] * 4, nadir=[1] * 4, temperature="relative", free_descent=None)
        scaled = PLC(ideal=[0] * 4, nadir=[1 / c] * 4, temperature="relative", free_descent=None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # no horizon: constant schedule
            p0 = base(jac, preference=w, losses=f).diagnostics["prices"]
            p1 = scaled(jac, preference=w, losses=f).diagnostics["prices"]
        # exponents w f~ / μ̂ are the same numbers computed in a different order: ~4 roundings.
        torch.testing.assert_close(p1, p0, rtol=rtol(4, steps=4, cond=10), atol=0)


# Golden prices, w = (1/2, 1/2), z = 0, r = 1 (no free descent):
#   f = (0.02, 0.01): w f~ = (0.01, 0.005), M = 0.01.
#     absolute μ̂ = 0.02: e2/e1 = exp(-0.005/0.02) = e^-0.25, π = (1, e^-0.25) / (2 (1 + e^-0.25)).
#     relative μ̂ = 0.02 · 0.01 = 2e-4: e2/e1 = exp(-0.005/2e-4) = e^-25.
#   f = (0.001, 0.0005): M = 5e-4 < 1e-3, so μ̂ = 0.02 · 1e-3 = 2e-5:
#     e2/e1 = exp(-2.5e-4/2e-5) = e^-12.5.
@pytest.mark.parametrize(
    ("f", "temperature", "mu_hat", "ratio"),
    [
        ([0.02, 0.01], "absolute", 0.02, math.exp(-0.25)),
        ([0.02, 0.01], "relative", 2e-4, math.exp(-25.0)),
        ([0.001, 0.0005], "relative", 2e-5, math.exp(-12.5)),
    ],
)
def test_golden_prices_per_temperature_rule(f, temperature, mu_hat, ratio):
    method = PLC(**UNIT, horizon=10, temperature=temperature, free_descent=None)
    dg = method(G_FULL, preference=[1, 1], losses=f).diagnostics
    assert dg["temperature"] == pytest.approx(mu_hat, rel=1e-12)
    expected = torch.tensor([1.0, ratio], dtype=torch.float64) / (2 * (1 + ratio))
    torch.testing.assert_close(dg["prices"], expected, rtol=1e-12, atol=0)


def test_absolute_temperature_is_pinned_by_low_weight_objectives():
    """The many-objective failure the relative rule fixes: with w_k f~_k below μ, absolute prices
    among low-weight objectives are near-uniform; relative ones are not."""
    w = np.array([0.018, 0.018, 0.018, 0.018, 0.928])
    f = np.array([0.9, 0.5, 0.3, 0.1, 0.05])  # w f~ = (.0162, .009, .0054, .0018, .0464)
    jac = torch.eye(5, dtype=torch.float64)
    kw = dict(ideal=[0] * 5, nadir=[1] * 5, horizon=10, free_descent=None)
    absolute = PLC(**kw, temperature="absolute")(jac, preference=w, losses=f)
    relative = PLC(**kw, temperature="relative")(jac, preference=w, losses=f)
    pa = absolute.diagnostics["prices"][:4]
    pr = relative.diagnostics["prices"][:4]
    assert float(pa.max() / pa.min()) < 3.0  # e^{(0.0162 - 0.0018)/0.02} ≈ 2.05
    assert float(pr.max() / pr.min()) > 1e5  # μ̂ = 0.02 · 0.0464 ≈ 9.3e-4


@pytest.mark.parametrize("start", [0.0, 0.2])
def test_free_descent_is_off_during_a_coalition_excursion(start):
    """Excursion steps are the coalition's; free descent does not act on them."""
    jac = torch.tensor([[1.0, 0.0, 0.0], [-0.5, 1.0, 0.0], [-0.5, 0.0, 1.0]], dtype=torch.float64)
    method = PLC(
        ideal=[0, 0, 0],
        nadir=[1, 1, 1],
        horizon=100,
        temperature="relative",
        free_descent={"start": start},
        excursion={"streak": 1, "b0": 10.0, "tau": 1.0},
    )
    seen = False
    for _ in range(30):
        dg = method(jac, preference=[1, 1, 1], losses=[0.9, 0.3, 0.2]).diagnostics
        if dg.get("excursion"):
            seen = True
            assert dg["free_descent"] == 0.0 and dg["leaders"] == ()
    assert seen
