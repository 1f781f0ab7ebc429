import numpy as np
import pytest

from moo_lenient import PreferenceIgnoredWarning
from moo_lenient.llm.evaluation import front_metrics, preference_trend
from moo_lenient.llm.tabular import reward_table, train_tabular

PREFS = np.array([[0.8, 0.2], [0.5, 0.5], [0.2, 0.8]])


def test_reward_tables_are_on_the_unit_sphere():
    for k in (2, 3):
        r = reward_table(9, k)
        assert r.shape[1] == k and (r >= -1e-12).all()
        np.testing.assert_allclose(r.norm(dim=1).numpy(), 1.0, atol=1e-12)


@pytest.mark.parametrize("method", ["ls", "plc"])
def test_preference_steers_the_rewards(method):
    rewards = np.array([train_tabular(method, w, steps=200).expected_rewards for w in PREFS])
    # More weight on a reward always gave more of it.
    assert (np.diff(rewards[:, 0]) < 0).all() and (np.diff(rewards[:, 1]) > 0).all()
    np.testing.assert_allclose(preference_trend(PREFS, rewards), [1.0, 1.0])
    m = front_metrics(PREFS, rewards, np.zeros(2))
    assert m["preference_compliance"] > 0.9


def test_mgda_ignores_the_preference():
    with pytest.warns(PreferenceIgnoredWarning, match="MGDA"):  # and says so
        a = train_tabular("mgda", PREFS[0], steps=100).expected_rewards
    with pytest.warns(PreferenceIgnoredWarning, match="MGDA"):
        b = train_tabular("mgda", PREFS[2], steps=100).expected_rewards
    np.testing.assert_allclose(a, b)


def test_three_rewards_run():
    res = train_tabular("plc", [0.6, 0.3, 0.1], num_objectives=3, steps=50)
    assert res.expected_rewards.shape == (3,)
    assert res.probabilities.sum() == pytest.approx(1.0)


def test_front_metrics_by_hand():
    prefs = np.array([[1.0, 0.0], [0.0, 1.0]])
    rewards = np.array([[1.0, 0.5], [0.5, 1.0]])
    m = front_metrics(prefs, rewards, np.zeros(2))
    # Two boxes of area 0.5 from the reference, overlapping in a 0.5 x 0.5 square.
    assert m["hypervolume"] == pytest.approx(0.75)
    assert m["preference_compliance"] == pytest.approx(1 / np.sqrt(1.25))
    np.testing.assert_allclose(m["trend"], [1.0, 1.0])


def test_stch_needs_a_reference_that_brackets_reward_values():
    # Values are -mean reward in [-1, 0]: without a reference STCH compares negative values
    # and its preference acts backwards; with ideal -1 and nadir 0 it steers as it should.
    def sweep(**kw):
        return np.array(
            [train_tabular("stch", w, steps=200, method_kwargs=kw).expected_rewards for w in PREFS]
        )

    backwards = sweep()
    assert (np.diff(backwards[:, 0]) > 0).all()  # more weight on reward 0, less of it
    fixed = sweep(ideal=[-1.0, -1.0], nadir=[0.0, 0.0])
    np.testing.assert_allclose(preference_trend(PREFS, fixed), [1.0, 1.0])
