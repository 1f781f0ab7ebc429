"""Two processes (gloo, CPU) take exactly the step one process takes on the whole batch.

Each rank holds half of every batch; the optimizer all-reduces what the mode needs (the
per-objective gradients, the blocks of the Gramian, the representation Gramians, the values
PLC prices with, the weighted gradient), so every rank takes the identical step, equal to the
single-process step on the concatenated batch (the losses are batch means). Also run with the
model wrapped in ``DistributedDataParallel`` (forward under ``no_sync()``, see
docs/distributed.md).
"""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from moo_lenient import MultiObjectiveOptimizer
from moo_lenient.methods import get
from tests.tolerances import trajectory_atol

# PLC, MGDA and UPGrad run with the same non-uniform preference; MGDA, IMTL-G and FAMO
# ignore it by design (they warn once, PreferenceIgnoredWarning), which is not what this tests.
pytestmark = pytest.mark.filterwarnings("ignore::moo_lenient.PreferenceIgnoredWarning")

MODES = ("params", "params_batched", "gramian", "features", "subset")
METHODS = ("plc", "mgda", "upgrad")
STEPS = 3
WORLD = 2


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.trunk = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh())
        self.heads = torch.nn.ModuleList(torch.nn.Linear(6, 1) for _ in range(3))

    def forward(self, x):
        z = self.trunk(x)
        return z, [h(z).squeeze(-1) for h in self.heads]


def data(step: int):
    g = torch.Generator().manual_seed(100 + step)
    return torch.randn(8, 4, generator=g), torch.randn(8, 3, generator=g)


def train(
    mode: str,
    method: str,
    rank: int | None,
    ddp: bool = False,
    no_sync: bool = True,
    perturb=None,
) -> list[torch.Tensor]:
    """STEPS steps; rank None: the whole batch in one process, else this rank's half.
    ``perturb``: applied to every step's losses (the tolerance probes)."""
    net = Net()
    model = torch.nn.parallel.DistributedDataParallel(net) if ddp else net
    kw = {"subset_params": list(net.trunk.parameters())} if mode == "subset" else {}
    opt = MultiObjectiveOptimizer(
        torch.optim.Adam(net.parameters(), lr=0.05),
        method=get(method),
        preference=[0.5, 0.3, 0.2],
        total_steps=STEPS,
        jacobian_mode=mode,
        gramian_block_numel=20,
        **kw,
    )
    for t in range(STEPS):
        x, y = data(t)
        if rank is not None:
            x, y = x.chunk(WORLD)[rank], y.chunk(WORLD)[rank]
        if ddp and no_sync:
            with model.no_sync():
                z, outs = model(x)
        else:
            z, outs = model(x)
        losses = [((o - y[:, k]) ** 2).mean() for k, o in enumerate(outs)]
        reg = 1e-2 * sum((p**2).sum() for p in net.trunk.parameters())
        feats = {"features": z} if mode == "features" else {}
        opt.step(losses if perturb is None else perturb(losses), regularizer=reg, **feats)
    return [p.detach().clone() for p in net.parameters()]


def single_process_atol(mode: str, method: str) -> tuple[list[torch.Tensor], float]:
    """The one-process run on the whole batch and the tolerance for a 2-rank run of it: the
    ranks' means over 4 + 4 samples, all-reduced, order the batch's 8-term sums differently in
    float32 (the model's dtype), for STEPS Adam steps; trajectory_atol measures how much the
    steps amplify that."""
    single = train(mode, method, rank=None)
    flat = torch.cat([p.reshape(-1) for p in single]).double().numpy()

    def run(perturb):
        return (
            torch.cat([p.reshape(-1) for p in train(mode, method, None, perturb=perturb)])
            .double()
            .numpy()
        )

    return single, trajectory_atol(run, flat, n_terms=8, steps=STEPS, dtype=torch.float32)


def train_nonfinite(policy: str, rank: int | None, poison_rank: int = 1, perturb=None) -> dict:
    """3 MGDA steps; at step 1 the poisoned rank's objective 0 has a NaN loss. rank None: one
    process that never sees step 1's batch ("skip" must equal it). ``perturb``: as in
    :func:`train`."""
    net = Net()
    opt = MultiObjectiveOptimizer(
        torch.optim.SGD(net.parameters(), lr=0.1), "mgda", on_nonfinite=policy
    )
    weights = []
    for t in range(STEPS):
        if rank is None and t == 1:
            continue
        x, y = data(t)
        if rank is not None:
            x, y = x.chunk(WORLD)[rank], y.chunk(WORLD)[rank]
        _, outs = net(x)
        losses = [((o - y[:, k]) ** 2).mean() for k, o in enumerate(outs)]
        if t == 1 and rank == poison_rank:
            losses[0] = losses[0] * float("nan")
        info = opt.step(losses if perturb is None else perturb(losses))
        weights.append(info.weights)
    return {
        "params": [p.detach().clone() for p in net.parameters()],
        "weights": torch.stack(weights),
        "skipped": torch.tensor(opt.skipped_steps),
    }


def _worker(rank: int, port: int, out: str) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        results = {(m, meth): train(m, meth, rank) for m in MODES for meth in METHODS}
        results[("params", "plc", "ddp")] = train("params", "plc", rank, ddp=True)
        results[("gramian", "mgda", "ddp")] = train("gramian", "mgda", rank, ddp=True)
        # DDP's own gradient hooks never fire (the optimizer differentiates with
        # torch.autograd.grad, not .backward()), so no_sync() is not required either.
        results[("params", "mgda", "ddp-sync")] = train(
            "params", "mgda", rank, ddp=True, no_sync=False
        )
        results["skip"] = train_nonfinite("skip", rank)
        results["zero"] = train_nonfinite("zero", rank)
        torch.save(results, f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def rank_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(_free_port(), str(out)), nprocs=WORLD, join=True)
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mode", MODES)
def test_two_ranks_equal_one_process_on_the_whole_batch(rank_results, mode, method):
    single, atol = single_process_atol(mode, method)
    for results in rank_results:
        for p, q in zip(results[(mode, method)], single, strict=True):
            torch.testing.assert_close(p, q, rtol=0, atol=atol)
    # every rank holds bit-identical parameters
    for p, q in zip(rank_results[0][(mode, method)], rank_results[1][(mode, method)], strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize(
    ("mode", "method", "wrap"),
    [("params", "plc", "ddp"), ("gramian", "mgda", "ddp"), ("params", "mgda", "ddp-sync")],
)
def test_a_ddp_wrapped_model_takes_the_same_steps(rank_results, mode, method, wrap):
    single, atol = single_process_atol(mode, method)
    for results in rank_results:
        for p, q in zip(results[(mode, method, wrap)], single, strict=True):
            torch.testing.assert_close(p, q, rtol=0, atol=atol)


def test_a_non_finite_batch_on_one_rank_is_skipped_on_every_rank(rank_results):
    single = train_nonfinite("skip", rank=None)  # never saw step 1

    def run(perturb):
        out = train_nonfinite("skip", rank=None, perturb=perturb)["params"]
        return torch.cat([p.reshape(-1) for p in out]).double().numpy()

    # as single_process_atol: 8-term means split 4 + 4 across ranks, float32, STEPS steps
    flat = torch.cat([p.reshape(-1) for p in single["params"]]).double().numpy()
    atol = trajectory_atol(run, flat, n_terms=8, steps=STEPS, dtype=torch.float32)
    for results in rank_results:
        assert int(results["skip"]["skipped"]) == 1
        for p, q in zip(results["skip"]["params"], single["params"], strict=True):
            torch.testing.assert_close(p, q, rtol=0, atol=atol)


def test_zero_leaves_the_objective_out_on_every_rank(rank_results):
    first, second = (r["zero"] for r in rank_results)
    assert first["weights"][1, 0] == 0.0 and second["weights"][1, 0] == 0.0
    assert torch.equal(first["weights"], second["weights"])
    for p, q in zip(first["params"], second["params"], strict=True):
        assert torch.equal(p, q)
