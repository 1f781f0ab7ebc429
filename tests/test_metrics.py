"""Metrics on point sets whose values are known by hand."""

import math

import numpy as np
import pytest

from moo_lenient.metrics import (
    hypervolume,
    igd,
    maximum_spread,
    preference_compliance,
    weighted_tchebycheff,
)


def test_hypervolume_by_hand():
    # rectangles [1,3]x[2,3] and [2,3]x[1,3] (area 2 each) overlap in [2,3]x[2,3] (area 1)
    assert hypervolume([[1.0, 2.0], [2.0, 1.0]], [3.0, 3.0]) == pytest.approx(3.0)
    # a dominated point adds nothing; a point outside the box adds nothing
    assert hypervolume(
        [[1.0, 2.0], [2.0, 1.0], [2.5, 2.5], [4.0, 0.0]], [3.0, 3.0]
    ) == pytest.approx(3.0)
    assert hypervolume([[5.0, 5.0]], [3.0, 3.0]) == 0.0
    # 3-D: one point at the origin against reference (1, 2, 3): a box of volume 6
    assert hypervolume([[0.0, 0.0, 0.0]], [1.0, 2.0, 3.0]) == pytest.approx(6.0)


def test_igd_by_hand():
    assert igd([[0.0, 1.0]], [[0.0, 0.0], [1.0, 1.0]]) == pytest.approx(1.0)
    assert igd([[0.0, 0.0], [1.0, 1.0]], [[0.0, 0.0], [1.0, 1.0]]) == 0.0


def test_maximum_spread_by_hand():
    # ranges 3 and 4: sqrt((9 + 16) / 2)
    assert maximum_spread([[0.0, 0.0], [3.0, 4.0], [1.0, 1.0]]) == pytest.approx(math.sqrt(12.5))
    assert maximum_spread([[1.0, 2.0]]) == 0.0


def test_preference_compliance_by_hand():
    w = np.array([[1.0, 0.0], [0.5, 0.5]])
    y = np.array([[2.0, 0.0], [0.0, 1.0]])  # cosines 1 and 1/sqrt(2)
    assert preference_compliance(w, y) == pytest.approx((1 + 1 / math.sqrt(2)) / 2)
    # for losses: y = z_ref - f
    f = np.array([[-1.0, 0.0], [0.0, -1.0]])
    assert preference_compliance(w, f, reference=[0.0, 0.0]) == pytest.approx(
        (1 + 1 / math.sqrt(2)) / 2
    )
    with pytest.raises(ValueError, match="same shape"):
        preference_compliance(w, y[:1])


def test_weighted_tchebycheff_by_hand():
    value = weighted_tchebycheff([1, 3], [0.5, 0.2], ideal=np.zeros(2), nadir=np.ones(2))
    assert value == pytest.approx(max(0.25 * 0.5, 0.75 * 0.2))


def test_bad_inputs():
    with pytest.raises(ValueError, match="finite"):
        maximum_spread([[np.nan, 1.0]])
    with pytest.raises(ValueError, match="reference has 3 entries"):
        hypervolume([[1.0, 2.0]], [3.0, 3.0, 3.0])
    with pytest.raises(ValueError, match="non-empty"):
        igd(np.zeros((0, 2)), [[0.0, 0.0]])
