"""Every method: the same seed gives bit-identical runs, and a state_dict round trip mid-run
(saved with torch.save, read back with weights_only=True) reproduces the uninterrupted run bit
for bit. PCGrad's random order and PLC's and FAMO's states included. The LLM trainers' resume
tests are in tests/llm (test_trainer.py, test_trl.py)."""

from __future__ import annotations

import io

import pytest
import torch

import moo_lenient
from moo_lenient import MultiObjectiveOptimizer
from moo_lenient.methods import get

# Every registered method runs with the same non-uniform preference; MGDA, IMTL-G and FAMO
# ignore it by design (they warn once, PreferenceIgnoredWarning), which is not what this tests.
pytestmark = pytest.mark.filterwarnings("ignore::moo_lenient.PreferenceIgnoredWarning")

METHODS = moo_lenient.available()
STEPS, SPLIT = 6, 3


def build(method: str, seed: int = 0):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3))
    opt = MultiObjectiveOptimizer(
        torch.optim.Adam(net.parameters(), lr=0.03),
        get(method),
        preference=[0.2, 0.3, 0.5],
        total_steps=STEPS,
    )
    return net, opt


def train(net, opt, steps: range):
    for t in steps:
        g = torch.Generator().manual_seed(1000 + t)
        x, y = torch.randn(8, 4, generator=g), torch.randn(8, 3, generator=g)
        out = net(x)
        opt.step([((out[:, k] - y[:, k]) ** 2).mean() + 0.1 for k in range(3)])


def params(net):
    return [p.detach().clone() for p in net.parameters()]


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_bits(method):
    a, opt_a = build(method)
    b, opt_b = build(method)
    train(a, opt_a, range(STEPS))
    train(b, opt_b, range(STEPS))
    assert all(torch.equal(p, q) for p, q in zip(params(a), params(b), strict=True))


@pytest.mark.parametrize("method", METHODS)
def test_resume_from_a_weights_only_checkpoint_reproduces_the_run(method):
    whole, opt = build(method)
    train(whole, opt, range(STEPS))

    first, opt1 = build(method)
    train(first, opt1, range(SPLIT))
    buffer = io.BytesIO()
    torch.save({"model": first.state_dict(), "opt": opt1.state_dict()}, buffer)
    buffer.seek(0)
    ckpt = torch.load(buffer, weights_only=True)

    resumed, opt2 = build(method, seed=123)  # different initial weights, overwritten below
    resumed.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["opt"])
    train(resumed, opt2, range(SPLIT, STEPS))
    assert opt2.step_count == STEPS
    for p, q in zip(params(resumed), params(whole), strict=True):
        assert torch.equal(p, q), method
