import math

import pytest
import torch

from moo_lenient.llm.losses import kl_penalty, policy_gradient_losses

LOGP = torch.tensor([[-1.0, -2.0, -0.5], [-0.3, -0.7, -9.0]])
MASK = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
ADV = torch.tensor([[2.0, -1.0], [-0.5, 3.0]])


def _grad(loss, x):
    (g,) = torch.autograd.grad(loss, x, retain_graph=True)
    return g


@pytest.mark.parametrize("loss_type", ["grpo", "dapo", "dr_grpo"])
def test_on_policy_values_and_gradients_by_hand(loss_type):
    x = LOGP.clone().requires_grad_(True)
    losses = policy_gradient_losses(x, MASK, ADV, loss_type=loss_type, max_completion_length=4)
    # d L_k / d logp_it = -A_ik m_it / c_i, with c_i by reduction.
    if loss_type == "grpo":
        c = torch.tensor([[3.0 * 2], [2.0 * 2]])  # tokens of completion i, times N
    elif loss_type == "dapo":
        c = torch.full((2, 1), 5.0)  # all tokens
    else:
        c = torch.full((2, 1), 2.0 * 4)  # N * max_completion_length
    for k in range(2):
        expected = -ADV[:, k : k + 1] * MASK / c
        torch.testing.assert_close(_grad(losses[k], x), expected)
        # On-policy the ratio is 1: the value is -reduce(A_k).
        torch.testing.assert_close(losses[k], (-ADV[:, k : k + 1] * MASK / c).sum())


def test_linear_in_the_advantages():
    x = LOGP.clone().requires_grad_(True)
    losses = policy_gradient_losses(x, MASK, ADV)
    c = torch.tensor([0.3, 1.7])
    combined = policy_gradient_losses(x, MASK, (ADV @ c).unsqueeze(1))[0]
    torch.testing.assert_close(_grad(losses @ c, x), _grad(combined, x))


def test_clipping_with_old_logprobs():
    x = torch.tensor([[0.0]], requires_grad=True)
    old = torch.tensor([[-1.0]])  # ratio e ~ 2.72 > 1.2
    mask = torch.ones(1, 1)
    pos = policy_gradient_losses(x, mask, torch.tensor([[1.0]]), old_logprobs=old)
    assert _grad(pos[0], x).item() == 0.0  # clipped: no push further up
    torch.testing.assert_close(pos[0], torch.tensor(-1.2))
    neg = policy_gradient_losses(x, mask, torch.tensor([[-1.0]]), old_logprobs=old)
    torch.testing.assert_close(_grad(neg[0], x), torch.tensor([[math.e]]))  # unclipped side


def test_kl_k3_by_hand():
    logp = torch.tensor([[-1.0, -2.0]])
    ref = torch.tensor([[-1.5, -2.0]])
    mask = torch.ones(1, 2)
    d = -0.5
    expected = (math.exp(d) - d - 1.0 + 0.0) / 2
    torch.testing.assert_close(kl_penalty(logp, ref, mask), torch.tensor(expected))
    assert kl_penalty(logp, logp, mask).item() == 0.0


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"\(N, T\)"):
        policy_gradient_losses(LOGP, MASK[:, :2], ADV)
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        policy_gradient_losses(LOGP, MASK, ADV[:1])
    with pytest.raises(ValueError, match="finite"):
        policy_gradient_losses(LOGP, MASK, ADV * float("nan"))
    with pytest.raises(ValueError, match="loss_type"):
        policy_gradient_losses(LOGP, MASK, ADV, loss_type="ppo")
