"""Property-based tests (hypothesis) of every method on random Jacobians.

Jacobians are drawn with K in 1..6, d in 1..8, a random rank (rank-deficient included), and
per-row scales from 1e-30 to 1e30 for finiteness (float64), or a common scale 1e-6..1e6 for the
geometric claims. Checked: finite weights and direction everywhere; the direction is a zero
vector for a zero Jacobian; the claimed properties (permutation equivariance, non-conflict);
consensus idempotence for the methods that keep a common gradient (all rows equal to g give
d = g); and K = 32. Budget: a few seconds per method (settings below).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.methods.test_properties import CLAIMS, FACTORIES

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
#: Methods whose weights sum to 1 and so return g when every row is g. Not: CAGrad ((1 + c) g,
#: the paper's update without rescaling), PCGrad (the sum, K g), STCH (its weights are the
#: smooth-max gradient, which need not sum to 1), Nash-MTL, Aligned-MTL and PLC (rescaled).
CONSENSUS = ("ls", "mgda", "upgrad", "dualproj", "imtlg", "famo", "epo")


@st.composite
def jacobians(draw, log_scale=(-30.0, 30.0), per_row=True, min_k=1):
    k = draw(st.integers(min_k, 6))
    d = draw(st.integers(1, 8))
    rank = draw(st.integers(0, min(k, d)))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    jac = rng.normal(size=(k, rank)) @ rng.normal(size=(rank, d)) if rank else np.zeros((k, d))
    if per_row:
        scale = 10.0 ** rng.uniform(*log_scale, size=(k, 1))
    else:
        scale = 10.0 ** rng.uniform(*log_scale)
    pref = rng.uniform(0.05, 1.0, size=k)
    losses = rng.uniform(0.1, 3.0, size=k)
    return torch.from_numpy(jac * scale), torch.from_numpy(pref), torch.from_numpy(losses)


def _fresh(name: str, k: int):
    return FACTORIES[name](k)


@pytest.mark.parametrize("name", list(FACTORIES))
@SETTINGS
@given(case=jacobians())
def test_finite_at_any_scale_and_rank(name, case):
    jac, pref, losses = case
    result = _fresh(name, jac.shape[0])(jac, preference=pref, losses=losses)
    assert torch.isfinite(result.weights).all() and torch.isfinite(result.direction).all()
    if not jac.any():
        assert not result.direction.any()


@pytest.mark.parametrize("name", list(FACTORIES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@settings(max_examples=10, deadline=None, derandomize=True)
@given(case=jacobians(log_scale=(-30.0, 30.0)))
def test_finite_in_low_precision_across_its_range(name, dtype, case):
    """float32 rows from 1e-30 to 1e30 (within float32's range); float16/bfloat16 rows
    clipped to their own range. The Gramian and the solve stay float64: the weights are always
    finite, and so is the direction wherever its exact value fits the dtype."""
    jac, pref, losses = case
    big = float(torch.finfo(dtype).max) / 10
    jac = jac.clamp(-big, big).to(dtype)
    result = _fresh(name, jac.shape[0])(jac, preference=pref, losses=losses)
    assert result.weights.dtype == torch.float64 and torch.isfinite(result.weights).all()
    assert result.direction.dtype == dtype
    exact = result.weights @ jac.double()
    if float(exact.abs().max()) < 0.5 * float(torch.finfo(dtype).max):
        assert torch.isfinite(result.direction).all()


@pytest.mark.parametrize("name", [n for n in FACTORIES if "permutation_equivariant" in CLAIMS[n]])
@SETTINGS
@given(case=jacobians(log_scale=(-6.0, 6.0), per_row=False, min_k=2), data=st.data())
def test_permutation_equivariant(name, case, data):
    jac, pref, losses = case
    k = jac.shape[0]
    perm = torch.tensor(data.draw(st.permutations(range(k))))
    base = _fresh(name, k)(jac, preference=pref, losses=losses).direction
    out = _fresh(name, k)(jac[perm], preference=pref[perm], losses=losses[perm]).direction
    tol = 1e-6 * float(jac.norm(dim=1).max())
    assert float((out - base).abs().max()) <= tol + 1e-300


@pytest.mark.parametrize("name", [n for n in FACTORIES if "non_conflicting" in CLAIMS[n]])
@SETTINGS
@given(case=jacobians(log_scale=(-6.0, 6.0), per_row=False))
def test_non_conflicting(name, case):
    jac, pref, losses = case
    d = _fresh(name, jac.shape[0])(jac, preference=pref, losses=losses).direction
    norms = jac.norm(dim=1)
    tol = norms * (1e-9 * d.norm() + 1e-12 * norms.max())
    assert (jac @ d >= -tol).all()


@pytest.mark.parametrize("name", CONSENSUS)
@SETTINGS
@given(
    g=st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=6).filter(
        lambda v: max(abs(x) for x in v) > 1e-3
    ),
    k=st.integers(1, 5),
)
def test_consensus_idempotent(name, g, k):
    row = torch.tensor(g, dtype=torch.float64)
    jac = row.repeat(k, 1)
    d = _fresh(name, k)(jac, preference=torch.ones(k), losses=torch.ones(k)).direction
    torch.testing.assert_close(d, row, rtol=1e-6, atol=1e-9 * float(row.abs().max()))


@pytest.mark.parametrize("name", list(FACTORIES))
def test_thirty_two_objectives(name):
    rng = np.random.default_rng(32)
    jac = torch.from_numpy(rng.normal(size=(32, 40)) * 10.0 ** rng.uniform(-3, 3, size=(32, 1)))
    result = _fresh(name, 32)(jac, losses=torch.from_numpy(rng.uniform(0.5, 2.0, 32)))
    assert torch.isfinite(result.direction).all() and result.weights.shape == (32,)
