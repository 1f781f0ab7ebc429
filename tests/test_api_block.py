"""The README / issue API block, run exactly as written (with data to iterate over)."""

import pytest
import torch


def test_api_block_runs_as_written():
    gen = torch.Generator().manual_seed(0)
    xs = torch.randn(64, 8, generator=gen)
    batches = [
        (xs[i : i + 16], torch.stack([xs[i : i + 16, 0], -xs[i : i + 16, 1]], 1))
        for i in range(0, 64, 16)
    ]

    # --- the block, verbatim ---------------------------------------------------------------
    import torch as torch_  # noqa: F401  (the block starts with `import torch`)

    from moo_lenient import MGDA, PLC, LinearScalarization, MultiObjectiveOptimizer, PCGrad

    model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    opt = MultiObjectiveOptimizer(
        torch.optim.Adam(model.parameters(), lr=1e-3), method=PLC(), preference=[0.7, 0.3]
    )
    with pytest.warns(UserWarning, match="PLC has no horizon"):  # PLC() without a horizon
        for x, y in batches:
            out = model(x)
            losses = [((out[:, 0] - y[:, 0]) ** 2).mean(), ((out[:, 1] - y[:, 1]) ** 2).mean()]
            info = opt.step(losses)  # per-objective gradients -> method -> .grad -> step
            info.weights  # noqa: B018 - the K weights the method chose (tensor)
            info.diagnostics  # noqa: B018 - method-specific
    # ------------------------------------------------------------------------------------------
    assert isinstance(info.weights, torch.Tensor) and info.weights.shape == (2,)
    for key in (
        "prices",
        "coalition",
        "tolerated",
        "rectified",
        "surplus",
        "kappa_t",
        "lambda_t",
        "lenient",
    ):
        assert key in info.diagnostics
    assert opt.step_count == len(batches)
    assert {MGDA, PCGrad, LinearScalarization}  # the other names import too
