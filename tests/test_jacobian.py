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


def test_float32_gramian_is_accurate_and_survives_extreme_scales():
    """float32 Jacobians are multiplied in float32 (no float64 copy); rows beyond float32's
    range are rescaled first, so the float64 result keeps ~1e-6 relative accuracy."""
    gen = torch.Generator().manual_seed(0)
    base = torch.randn(4, 300, generator=gen, dtype=torch.float64)
    for scales in ([1.0, 1.0, 1.0, 1.0], [1e-25, 1.0, 1e20, 1e-3], [1e30, 1e30, 1e-30, 0.0]):
        j64 = base * torch.tensor(scales, dtype=torch.float64)[:, None]
        j32 = j64.to(torch.float32)
        g = gramian(j32)
        exact = gramian(j32.double())
        assert g.dtype == torch.float64 and torch.isfinite(g).all()
        denom = torch.outer(exact.diagonal().sqrt(), exact.diagonal().sqrt()).clamp_min(1e-300)
        assert float(((g - exact).abs() / denom).max()) < 1e-5, scales
    half = base[:2].to(torch.bfloat16)
    assert gramian(half).dtype == torch.float64


def test_all_finite_one_reduction_with_exact_fallback():
    from moo_lenient._validation import all_finite

    big = torch.full((10,), 3e38, dtype=torch.float32)  # finite entries whose sum overflows
    assert all_finite(big)
    assert not all_finite(torch.tensor([1.0, float("nan")]))
    assert not all_finite(torch.tensor([1.0, float("inf"), -float("inf")]))
    assert all_finite(torch.zeros(0))
