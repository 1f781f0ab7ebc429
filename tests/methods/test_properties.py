"""Shared property tests, run against every method; each method declares what it claims."""

from __future__ import annotations

import itertools
import warnings

import pytest
import torch

from moo_lenient.methods import (
    EPO,
    FAMO,
    IMTLG,
    MGDA,
    PLC,
    PROPERTIES,
    AlignedMTL,
    CAGrad,
    DualProj,
    LinearScalarization,
    NashMTL,
    PCGrad,
    SmoothTchebycheff,
    UPGrad,
)
from tests.conftest import SCALES, SHAPES, random_jacobian

# Factories of K: a fresh instance per use (PLC with a horizon so that no warning is raised).
FACTORIES = {
    "ls": lambda k: LinearScalarization(),
    "mgda": lambda k: MGDA(),
    "pcgrad": lambda k: PCGrad(seed=0),
    "plc": lambda k: PLC(horizon=100),
    "plc-reference": lambda k: PLC(horizon=100, ideal=[-1.0] * k, nadir=[3.0] * k),
    "plc-l2-harmonic": lambda k: PLC(horizon=100, voices="l2", rescale="harmonic"),
    "plc-rigid": lambda k: PLC(horizon=100, kappa0=float("inf"), stall_eps=0.0),
    "stch": lambda k: SmoothTchebycheff(),
    "stch-reference": lambda k: SmoothTchebycheff(ideal=[-1.0] * k, nadir=[3.0] * k),
    "cagrad": lambda k: CAGrad(),
    "cagrad-0.9": lambda k: CAGrad(c=0.9),
    "nashmtl": lambda k: NashMTL(),
    "imtlg": lambda k: IMTLG(),
    "alignedmtl": lambda k: AlignedMTL(),
    "upgrad": lambda k: UPGrad(),
    "dualproj": lambda k: DualProj(),
    "famo": lambda k: FAMO(),
    "epo": lambda k: EPO(),
}
# Methods that price with the objective values and refuse a call without them.
REQUIRES_VALUES = {"stch", "stch-reference", "famo", "epo"}
CLAIMS = {name: f(1).properties for name, f in FACTORIES.items()}


def test_claims_are_known_properties():
    for name, claims in CLAIMS.items():
        assert claims <= PROPERTIES, (name, claims - PROPERTIES)


def claiming(prop):
    return [n for n in FACTORIES if prop in CLAIMS[n]]


def preference_for(k):
    return torch.linspace(1.0, 2.0, k, dtype=torch.float64)


@pytest.mark.parametrize("name", list(FACTORIES))
@pytest.mark.parametrize(("k", "d", "rank"), SHAPES)
@pytest.mark.parametrize("scale", SCALES)
def test_finite_output_at_every_scale_and_rank(name, k, d, rank, scale):
    jac = random_jacobian(k, d, rank, seed=k * 100 + d) * scale
    losses = torch.linspace(0.5, 1.5, k, dtype=torch.float64) * max(scale, 1.0)
    result = FACTORIES[name](k)(jac, preference=preference_for(k), losses=losses)
    assert result.direction.shape == (d,)
    assert result.weights.shape == (k,)
    assert torch.isfinite(result.direction).all()
    assert torch.isfinite(result.weights).all()
    if scale == 0.0:
        assert torch.equal(result.direction, torch.zeros(d, dtype=torch.float64))


@pytest.mark.parametrize("name", [n for n in FACTORIES if n not in REQUIRES_VALUES])
def test_works_without_losses_and_preference(name):
    jac = random_jacobian(3, 6, seed=1)
    result = FACTORIES[name](3)(jac)
    assert torch.isfinite(result.direction).all()


@pytest.mark.parametrize("name", sorted(REQUIRES_VALUES))
def test_methods_requiring_values_say_so_without_losses(name):
    jac = random_jacobian(3, 6, seed=1)
    with pytest.raises(ValueError, match="losses="):
        FACTORIES[name](3)(jac)
    result = FACTORIES[name](3)(jac, losses=[1.0, 2.0, 3.0])  # preference still optional
    assert torch.isfinite(result.direction).all()


@pytest.mark.parametrize("name", claiming("non_conflicting"))
@pytest.mark.parametrize(("k", "d", "rank"), SHAPES)
@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_non_conflicting(name, k, d, rank, scale):
    jac = random_jacobian(k, d, rank, seed=7 * k + d) * scale
    direction = FACTORIES[name](k)(jac, preference=preference_for(k)).direction
    inner = jac @ direction
    norms = jac.norm(dim=1)
    # relative tolerance, plus round-off when d is ~0 (a Pareto-stationary J)
    tol = norms * (1e-9 * direction.norm() + 1e-12 * norms.max())
    assert (inner >= -tol).all(), inner


@pytest.mark.parametrize("name", claiming("permutation_equivariant"))
@pytest.mark.parametrize(("k", "d", "rank"), [s for s in SHAPES if s[0] > 1])
def test_permutation_equivariant(name, k, d, rank):
    jac = random_jacobian(k, d, rank, seed=3 * k + d)
    pref = preference_for(k)
    losses = torch.linspace(0.2, 2.0, k, dtype=torch.float64)
    base = FACTORIES[name](k)(jac, preference=pref, losses=losses)
    perms = list(itertools.islice(itertools.permutations(range(k)), 1, 6))
    for perm in perms:
        p = torch.tensor(perm)
        out = FACTORIES[name](k)(jac[p], preference=pref[p], losses=losses[p])
        torch.testing.assert_close(out.direction, base.direction, rtol=1e-7, atol=1e-9)
        if rank == k:  # weights are unique for full-rank Jacobians
            torch.testing.assert_close(out.weights, base.weights[p], rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", claiming("linear_under_scaling"))
def test_linear_under_scaling(name):
    jac = random_jacobian(4, 9, seed=5)
    c1 = torch.rand(4, 1, dtype=torch.float64) + 0.1
    c2 = torch.rand(4, 1, dtype=torch.float64) + 0.1
    method = FACTORIES[name](4)
    # Fixed values: "linear in J" is at fixed objective values (methods pricing with them).
    f = [0.5, 1.0, 1.5, 2.0]
    lhs = method(2.0 * (c1 * jac) + 3.0 * (c2 * jac), losses=f).direction
    rhs = 2.0 * method(c1 * jac, losses=f).direction + 3.0 * method(c2 * jac, losses=f).direction
    torch.testing.assert_close(lhs, rhs)


@pytest.mark.parametrize("name", claiming("preference_aware"))
def test_preference_changes_the_direction(name):
    jac = random_jacobian(2, 4, seed=11)
    losses = torch.tensor([1.0, 1.0], dtype=torch.float64)
    a = FACTORIES[name](2)(jac, preference=[0.8, 0.2], losses=losses).direction
    b = FACTORIES[name](2)(jac, preference=[0.2, 0.8], losses=losses).direction
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("name", [n for n in FACTORIES if "preference_aware" not in CLAIMS[n]])
def test_methods_not_preference_aware_ignore_the_preference(name):
    """The claim behind PreferenceIgnoredWarning: without ``preference_aware`` a method gives
    the same weights whatever the preference."""
    jac = random_jacobian(3, 6, seed=5)
    losses = [1.0, 2.0, 0.5]
    a = FACTORIES[name](3)(jac, preference=[0.7, 0.2, 0.1], losses=losses)
    b = FACTORIES[name](3)(jac, losses=losses)
    # same operations on the same inputs (the preference is never read): bit-identical
    torch.testing.assert_close(a.weights, b.weights, rtol=0, atol=0)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_single_objective_follows_its_gradient(name):
    jac = random_jacobian(1, 5, seed=2)
    d = FACTORIES[name](1)(jac, losses=[1.0]).direction
    cos = torch.dot(d, jac[0]) / (d.norm() * jac[0].norm())
    assert cos > 1 - 1e-12


@pytest.mark.parametrize("name", list(FACTORIES))
def test_identical_and_opposite_gradients(name):
    g = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    same = FACTORIES[name](3)(torch.stack([g, g, g]), losses=[1.0, 1.0, 1.0])
    assert torch.isfinite(same.direction).all() and torch.dot(same.direction, g) > 0
    opposite = FACTORIES[name](2)(torch.stack([g, -g]), losses=[1.0, 1.0])
    assert torch.isfinite(opposite.direction).all()


@pytest.mark.parametrize("name", list(FACTORIES))
def test_weights_from_gramian_match_call(name):
    jac = random_jacobian(3, 8, seed=4)
    pref = preference_for(3)
    via_call = FACTORIES[name](3)(jac, preference=pref, losses=[1.0, 2.0, 3.0]).weights
    gram = jac @ jac.T
    via_gramian = FACTORIES[name](3).weights(gram, preference=pref, losses=[1.0, 2.0, 3.0])
    torch.testing.assert_close(via_call, via_gramian)


@pytest.mark.parametrize("name", list(FACTORIES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_low_precision_jacobians(name, dtype):
    jac = random_jacobian(3, 6, seed=9, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = FACTORIES[name](3)(jac, losses=[1.0, 2.0, 3.0])
    assert result.direction.dtype == dtype
    assert torch.isfinite(result.direction).all()
    assert result.weights.dtype == torch.float64
