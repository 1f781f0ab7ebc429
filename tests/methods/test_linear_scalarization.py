import torch

from moo_lenient.methods import LinearScalarization
from tests.conftest import random_jacobian


def test_weights_are_the_normalized_preference_and_direction_is_exact():
    jac = random_jacobian(3, 5, seed=1)
    result = LinearScalarization()(jac, preference=[2.0, 1.0, 1.0])
    expected_w = torch.tensor([0.5, 0.25, 0.25], dtype=torch.float64)
    assert torch.equal(result.weights, expected_w)
    # The method's own product w @ J on the same w: the same operations.
    torch.testing.assert_close(result.direction, expected_w @ jac, rtol=0, atol=1e-15)


def test_golden_mean_direction():
    jac = torch.tensor([[-4.0, 1.0, 1.0], [6.0, 1.0, 1.0]])
    assert torch.equal(LinearScalarization()(jac).direction, torch.tensor([1.0, 1.0, 1.0]))
