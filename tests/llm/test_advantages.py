import math

import pytest
import torch

from moo_lenient.llm.advantages import group_normalize, signal_mask

EPS = 1e-4


def test_group_zscore_hand_values():
    # Two groups of 3, two rewards. Group 1, reward 0: 1, 2, 3 -> mean 2, unbiased std 1.
    r = torch.tensor([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0], [0.0, 1.0], [0.0, 3.0], [6.0, 2.0]])
    a = group_normalize(r, 3)
    expected_g1 = torch.tensor([-1.0, 0.0, 1.0]) / (1.0 + EPS)
    torch.testing.assert_close(a[:3, 0], expected_g1)
    assert torch.equal(a[:3, 1], torch.zeros(3))  # constant in its group: no signal
    # Group 2, reward 0: 0, 0, 6 -> mean 2, std sqrt(12) (unbiased: (4+4+16)/2 = 12).
    s = math.sqrt(12.0) + EPS
    torch.testing.assert_close(a[3:, 0], torch.tensor([-2.0, -2.0, 4.0]) / s)
    # Group 2, reward 1: 1, 3, 2 -> mean 2, std 1.
    torch.testing.assert_close(a[3:, 1], torch.tensor([-1.0, 1.0, 0.0]) / (1.0 + EPS))


def test_not_applicable_rewards_are_left_out():
    r = torch.tensor([[1.0], [float("nan")], [3.0], [4.0]])
    a = group_normalize(r, 4)
    s = math.sqrt(((1 - 8 / 3) ** 2 + (3 - 8 / 3) ** 2 + (4 - 8 / 3) ** 2) / 2) + EPS
    expected = torch.tensor([1 - 8 / 3, 0.0, 3 - 8 / 3, 4 - 8 / 3]) / s
    torch.testing.assert_close(a[:, 0], expected.float())
    # A group with a single applicable value has no signal.
    r2 = torch.tensor([[1.0], [float("nan")]])
    assert torch.equal(group_normalize(r2, 2), torch.zeros(2, 1))


def test_batch_and_none_scales():
    r = torch.tensor([[0.0], [2.0], [10.0], [14.0]])
    centred = torch.tensor([-1.0, 1.0, -2.0, 2.0])
    torch.testing.assert_close(group_normalize(r, 2, scale="none")[:, 0], centred)
    bstd = torch.tensor([0.0, 2.0, 10.0, 14.0]).std().item() + EPS
    torch.testing.assert_close(group_normalize(r, 2, scale="batch")[:, 0], centred / bstd)


def test_signal_mask():
    r = torch.tensor([[1.0, 2.0, 0.0], [2.0, 2.0, 0.0], [5.0, 2.0, 1.0], [5.0, 2.0, 0.0]])
    assert signal_mask(group_normalize(r, 2)).tolist() == [True, False, True]


@pytest.mark.parametrize(
    ("rewards", "group_size", "kw", "match"),
    [
        (torch.zeros(4), 2, {}, r"\(N, K\)"),
        (torch.zeros(5, 2), 2, {}, "multiple of group_size"),
        (torch.zeros(4, 2), 1, {}, "group_size"),
        (torch.zeros(4, 2), 2, {"scale": "std"}, "scale"),
        (torch.tensor([[float("inf")], [0.0]]), 2, {}, "inf"),
    ],
)
def test_bad_input(rewards, group_size, kw, match):
    with pytest.raises(ValueError, match=match):
        group_normalize(rewards, group_size, **kw)
