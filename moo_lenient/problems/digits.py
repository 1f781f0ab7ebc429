"""A real-data multi-task learning problem: a small shared network on scikit-learn's 8x8 digits.

Data: the 1797 images of ``sklearn.datasets.load_digits()`` (bundled with scikit-learn, no
download), pixels scaled to [0, 1] (X = data / 16, 64 features). A fixed split (the permutation
of ``numpy.random.default_rng(0)``): the first 1437 images train, the other 360 test. Only the
train split defines the objectives; ``test_values(x)`` gives the same losses on the test split.

Tasks. With I the 8x8 image and r, c its row and column (0..7), the ink's centres are
the row centroid Σ_{r,c} r I[r,c] / Σ I and the column centroid Σ_{r,c} c I[r,c] / Σ I (in
[0, 7]), standardized with the train split's mean and standard deviation.

- ``DigitsMTL(2)`` ("digits-2"): f1 = 10-way cross-entropy of the digit class,
  f2 = mean squared error of the standardized row centroid (the vertical centre).
- ``DigitsMTL(3)`` ("digits-3"): f1 = class cross-entropy, f2 = binary cross-entropy (with
  logits) of "closed loop" (the digit is 0, 6, 8 or 9), f3 = mean squared error of the
  standardized column centroid (the horizontal centre).

Network: a shared trunk 64 -> 32 (tanh) -> 2 (tanh), then one linear head per task (10 logits, 1
logit or 1 output). The 2-unit bottleneck makes the tasks compete on the training set: with a
16-unit bottleneck the network fits every task at once (all train losses near 1e-4, a front shrunk
to a point), while with 2 units equal weights leave the losses about 3x (class) and 700x (centre)
above their single-task values. All weights and biases, trunk then heads, each layer's weight (out,
in) row-major then its bias, form one flat float64 vector x of length P = ``num_variables`` (2179
for two tasks, 2182 for three). ``problem(x)`` evaluates B = x.shape[0] independent networks in one
batched computation, so out[b] depends on x[b] only. Its stochastic form
(:meth:`DigitsMTL.sample_values`) gives each network its own minibatch of train examples, drawn
with replacement. Runs start at PyTorch's default ``nn.Linear`` initialization (weights and biases
uniform in ±1/sqrt(fan_in)).

The Pareto front is estimated (``front_is_estimated``) by ``benchmarks/estimate_digits_front.py``
and stored in ``problems/data/digits-{2,3}_front.npy``: full-batch Adam (lr 1e-2, 2000 steps),
one network per scalarization: the single tasks (their best values give the ideal point z), then
for every weight of a simplex lattice shifted off its boundary (w_k ≥ 0.01/(1 + 0.01 K)) the
weighted sum Σ_k w_k f_k and the smoothed Tchebycheff scalarization
τ log Σ_k exp(w_k (f_k - z_k) / τ) (τ = 1e-3). The front is the non-dominated set of the final
full-train-set loss vectors of the positive-weight runs (the single-task runs leave the other
losses arbitrary and would inflate the nadir); its ideal and nadir are its per-objective min and
max. Runs that end beyond this estimate count as on it (see ``moo_lenient.bench.scoring``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from moo_lenient.problems.base import Problem

DATA_DIR = Path(__file__).resolve().parent / "data"
NUM_TRAIN = 1437
HIDDEN = (32, 2)  # a 2-unit bottleneck: the tasks compete for it (see the docstring)
CLOSED_LOOP = (0, 6, 8, 9)
#: the tasks of each variant: (kind, head outputs)
TASKS: dict[int, tuple[tuple[str, int], ...]] = {
    2: (("class", 10), ("row-centre", 1)),
    3: (("class", 10), ("closed-loop", 1), ("column-centre", 1)),
}


def load_digits_data() -> tuple[np.ndarray, np.ndarray]:
    """The digits as (1797, 64) float64 pixels in [0, 1] and (1797,) int64 labels."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:
        raise ImportError(
            'the digits problem uses scikit-learn\'s bundled data: pip install "moo_lenient[bench]"'
        ) from error
    digits = load_digits()
    return digits.data.astype(np.float64) / 16, digits.target.astype(np.int64)


class _Split:
    """Inputs (N, 64) and one target tensor (N,) per task."""

    def __init__(self, inputs: np.ndarray, targets: list[np.ndarray]) -> None:
        self.inputs = torch.from_numpy(np.ascontiguousarray(inputs))
        self.targets = [torch.from_numpy(np.ascontiguousarray(t)) for t in targets]

    def __len__(self) -> int:
        return len(self.inputs)


class DigitsMTL(Problem):
    """A shared MLP with one head per task on the 8x8 digits; x is the flat parameter vector.

    ``problem(x)`` maps (P,) to (K,) and (B, P) to (B, K) (any leading dimensions), the
    full-train-split losses; ``test_values`` does the same on the test split.
    """

    lower = None
    upper = None
    front_is_estimated = True

    def __init__(self, tasks: int = 2) -> None:
        if tasks not in TASKS:
            raise ValueError(f"DigitsMTL has 2 or 3 tasks, got {tasks}")
        self.tasks = TASKS[tasks]
        self.name = f"digits-{tasks}"
        self.num_objectives = tasks
        # (out, in) of each layer, trunk then heads
        sizes = [64, *HIDDEN]
        self.layers = [(sizes[i + 1], sizes[i]) for i in range(len(HIDDEN))]
        self.layers += [(outputs, HIDDEN[-1]) for _, outputs in self.tasks]
        self.num_variables = sum(o * i + o for o, i in self.layers)
        self._front: np.ndarray | None = None

        pixels, labels = load_digits_data()
        order = np.random.default_rng(0).permutation(len(pixels))
        train, test = order[:NUM_TRAIN], order[NUM_TRAIN:]
        images = pixels.reshape(-1, 8, 8)
        ink = images.sum(axis=(1, 2))
        index = np.arange(8, dtype=np.float64)
        centres = {
            "row-centre": (images * index[:, None]).sum(axis=(1, 2)) / ink,
            "column-centre": (images * index[None, :]).sum(axis=(1, 2)) / ink,
        }
        targets = []
        for kind, _ in self.tasks:
            if kind == "class":
                targets.append(labels)
            elif kind == "closed-loop":
                targets.append(np.isin(labels, CLOSED_LOOP).astype(np.float64))
            else:
                centre = centres[kind]
                targets.append((centre - centre[train].mean()) / centre[train].std())
        self.train = _Split(pixels[train], [t[train] for t in targets])
        self.test = _Split(pixels[test], [t[test] for t in targets])

    def unflatten(self, x: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Views of (B, P) as each layer's weights (B, out, in) and biases (B, out)."""
        params, start = [], 0
        for out, inp in self.layers:
            weight = x[:, start : start + out * inp].reshape(-1, out, inp)
            start += out * inp
            params.append((weight, x[:, start : start + out]))
            start += out
        return params

    def losses(self, x: Tensor, inputs: Tensor, targets: list[Tensor]) -> Tensor:
        """Losses (..., K) of networks x (..., P) on inputs (N, 64) or, per network, (B, N, 64).

        With per-network inputs, x has shape (B, P) and each target (B, N).
        """
        self._check(x)
        lead = x.shape[:-1]
        flat = x.reshape(-1, self.num_variables)
        params = self.unflatten(flat)
        hidden = inputs.to(flat.dtype)
        for weight, bias in params[: len(HIDDEN)]:  # (B, N, out)
            if hidden.dim() == 2:  # inputs shared by all networks: one (N, in) @ (in, B out)
                batch, out, inp = weight.shape
                pre = torch.addmm(bias.reshape(-1), hidden, weight.reshape(batch * out, inp).T)
                hidden = torch.tanh(pre).reshape(-1, batch, out).transpose(0, 1)
            else:
                hidden = torch.tanh(torch.baddbmm(bias[:, None, :], hidden, weight.transpose(1, 2)))
        values = []
        for (kind, _), (weight, bias), target in zip(
            self.tasks, params[len(HIDDEN) :], targets, strict=True
        ):
            out = torch.baddbmm(bias[:, None, :], hidden, weight.transpose(1, 2))
            target = target.expand(out.shape[:2])
            if kind == "class":
                log_p = torch.log_softmax(out, dim=-1)
                values.append(-log_p.gather(-1, target[..., None]).squeeze(-1).mean(-1))
            elif kind == "closed-loop":
                bce = F.binary_cross_entropy_with_logits(
                    out[..., 0], target.to(out.dtype), reduction="none"
                )
                values.append(bce.mean(-1))
            else:
                values.append((out[..., 0] - target.to(out.dtype)).square().mean(-1))
        return torch.stack(values, dim=-1).reshape(*lead, self.num_objectives)

    def __call__(self, x: Tensor) -> Tensor:
        return self.losses(x, self.train.inputs, self.train.targets)

    def test_values(self, x: Tensor) -> Tensor:
        """The losses (..., K) on the held-out test split."""
        return self.losses(x, self.test.inputs, self.test.targets)

    def sample_values(self, x: Tensor, generator: torch.Generator, batch_size: int = 64) -> Tensor:
        """Losses (B, K) of each of the networks (B, P) on its own random train minibatch.

        Every network gets ``batch_size`` train examples drawn uniformly with replacement.
        """
        self._check(x)
        lead = x.shape[:-1]
        flat = x.reshape(-1, self.num_variables)
        index = torch.randint(0, len(self.train), (flat.shape[0], batch_size), generator=generator)
        targets = [t[index] for t in self.train.targets]
        values = self.losses(flat, self.train.inputs[index], targets)
        return values.reshape(*lead, self.num_objectives)

    def init_bounds(self) -> Tensor:
        """The (P,) bound 1/sqrt(fan_in) of each parameter's default initialization."""
        bounds = [
            torch.full((out * inp + out,), 1 / math.sqrt(inp), dtype=torch.float64)
            for out, inp in self.layers
        ]
        return torch.cat(bounds)

    def initial(self, num: int, generator: torch.Generator) -> Tensor:
        """``num`` networks (num, P) at PyTorch's default ``nn.Linear`` initialization."""
        u = torch.rand(num, self.num_variables, generator=generator, dtype=torch.float64)
        return (2 * u - 1) * self.init_bounds()

    def front_path(self) -> Path:
        return DATA_DIR / f"{self.name}_front.npy"

    def pareto_front(self, n: int = 1000) -> np.ndarray:
        """The estimated front (sorted by f1), thinned evenly to about ``n`` points."""
        if self._front is None:
            path = self.front_path()
            if not path.exists():
                raise FileNotFoundError(
                    f"{path} is missing: run python benchmarks/estimate_digits_front.py"
                )
            self._front = np.load(path)
        front = self._front
        if len(front) > n:
            front = front[np.unique(np.linspace(0, len(front) - 1, n).round().astype(int))]
        return front.copy()
