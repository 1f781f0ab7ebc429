import torch

from moo_lenient.jacobian import gramian, objective_gradients


def test_rows_are_per_objective_gradients_and_unreached_params_are_zero():
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    v = torch.nn.Parameter(torch.tensor([3.0]))
    unused = torch.nn.Parameter(torch.tensor([5.0, 6.0]))
    f1 = (w**2).sum()
    f2 = w[0] * v[0]
    grads = objective_gradients([f1, f2], [w, v, unused])
    expected = torch.tensor([[2.0, 4.0, 0.0, 0.0, 0.0], [3.0, 0.0, 1.0, 0.0, 0.0]])
    assert torch.equal(grads.shared, expected)
    assert grads.reached == [True, True, False]


def test_other_params_get_plain_sum_and_regularizer_kept_apart():
    shared = torch.nn.Parameter(torch.tensor([1.0]))
    head1 = torch.nn.Parameter(torch.tensor([2.0]))
    head2 = torch.nn.Parameter(torch.tensor([3.0]))
    f1 = shared[0] * head1[0]
    f2 = shared[0] * head2[0] + head1[0]
    reg = 0.5 * (shared**2).sum()
    grads = objective_gradients([f1, f2], [shared], [head1, head2], regularizer=reg)
    assert torch.equal(grads.shared, torch.tensor([[2.0], [3.0]]))
    assert torch.equal(grads.other[0], torch.tensor([2.0]))  # 1 (from f1) + 1 (from f2)
    assert torch.equal(grads.other[1], torch.tensor([1.0]))
    assert torch.equal(grads.regularizer[0], torch.tensor([1.0]))
    assert grads.regularizer[1] is None


def test_gramian_is_float64():
    j = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float32)
    g = gramian(j)
    assert g.dtype == torch.float64
    assert torch.equal(g, torch.tensor([[5.0, 11.0], [11.0, 25.0]], dtype=torch.float64))
