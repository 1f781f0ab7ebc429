"""Real-data multi-task problems on a shared MLP: the batched network behind digits and
breast cancer.

A problem is a data set split into train and test, K tasks (one head each) and a trunk with a
narrow bottleneck, so that the tasks compete for it. All weights and biases, trunk then heads,
each layer's weight (out, in) row-major then its bias, form one flat float64 vector x of length
P = ``num_variables``. ``problem(x)`` evaluates B = x.shape[0] independent networks in one batched
computation (out[b] depends on x[b] only) on the full train split; ``test_values`` on the test
split; ``sample_values`` gives each network its own minibatch of train examples, drawn with
replacement (the stochastic form). Runs start at PyTorch's default ``nn.Linear`` initialization.

Task kinds (the loss of each head): ``"class"`` (C logits, cross-entropy with an integer label),
``"binary"`` (1 logit, binary cross-entropy with a 0/1 target) and ``"regression"`` (1 output,
mean squared error). Fronts are estimated (``front_is_estimated``) by
``benchmarks/estimate_front.py`` and stored in ``problems/data/{name}_front.npy``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from moo_lenient.problems.base import Problem

DATA_DIR = Path(__file__).resolve().parent / "data"
KINDS = ("class", "binary", "regression")


def require_sklearn():
    """scikit-learn's bundled data sets (no download), with the extra named on failure."""
    try:
        import sklearn.datasets
    except ImportError as error:
        raise ImportError(
            "the real-data problems use scikit-learn's bundled data: "
            'pip install "moo_lenient[bench]"'
        ) from error
    return sklearn.datasets


class _Split:
    """Inputs (N, D) and one target tensor (N,) per task."""

    def __init__(self, inputs: np.ndarray, targets: list[np.ndarray]) -> None:
        self.inputs = torch.from_numpy(np.ascontiguousarray(inputs))
        self.targets = [torch.from_numpy(np.ascontiguousarray(t)) for t in targets]

    def __len__(self) -> int:
        return len(self.inputs)


class TabularMTL(Problem):
    """K heads on a shared tanh trunk; x is the flat parameter vector of one network.

    Args:
        name: the problem's name (and its front file's stem).
        inputs: (N, D) float64 features.
        targets: one (N,) array per task (int64 labels for "class", else float64).
        kinds: each task's kind ("class", "binary", "regression").
        outputs: each head's width (C for "class", 1 otherwise).
        hidden: the trunk's widths, the last one the bottleneck.
        train, test: indices of the train and test examples (their order is kept: it fixes
            the minibatch draws and the summation order).
    """

    lower = None
    upper = None
    front_is_estimated = True

    def __init__(
        self,
        name: str,
        inputs: np.ndarray,
        targets: Sequence[np.ndarray],
        kinds: Sequence[str],
        outputs: Sequence[int],
        hidden: Sequence[int],
        train: np.ndarray,
        test: np.ndarray,
    ) -> None:
        for kind in kinds:
            if kind not in KINDS:
                raise ValueError(f"unknown task kind {kind!r}; choose from {KINDS}")
        if not len(targets) == len(kinds) == len(outputs):
            raise ValueError("targets, kinds and outputs need one entry per task")
        self.name = name
        self.kinds = tuple(kinds)
        self.hidden = tuple(hidden)
        self.num_objectives = len(self.kinds)
        sizes = [inputs.shape[1], *self.hidden]
        self.layers = [(sizes[i + 1], sizes[i]) for i in range(len(self.hidden))]
        self.layers += [(out, self.hidden[-1]) for out in outputs]
        self.num_variables = sum(o * i + o for o, i in self.layers)
        self._front: np.ndarray | None = None
        self.train = _Split(inputs[train], [t[train] for t in targets])
        self.test = _Split(inputs[test], [t[test] for t in targets])

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
        """Losses (..., K) of networks x (..., P) on inputs (N, D) or, per network, (B, N, D).

        With per-network inputs, x has shape (B, P) and each target (B, N).
        """
        self._check(x)
        lead = x.shape[:-1]
        flat = x.reshape(-1, self.num_variables)
        params = self.unflatten(flat)
        depth = len(self.hidden)
        hidden = inputs.to(flat.dtype)
        for weight, bias in params[:depth]:  # (B, N, out)
            if hidden.dim() == 2:  # inputs shared by all networks: one (N, in) @ (in, B out)
                batch, out, inp = weight.shape
                pre = torch.addmm(bias.reshape(-1), hidden, weight.reshape(batch * out, inp).T)
                hidden = torch.tanh(pre).reshape(-1, batch, out).transpose(0, 1)
            else:
                hidden = torch.tanh(torch.baddbmm(bias[:, None, :], hidden, weight.transpose(1, 2)))
        values = []
        for kind, (weight, bias), target in zip(self.kinds, params[depth:], targets, strict=True):
            out = torch.baddbmm(bias[:, None, :], hidden, weight.transpose(1, 2))
            target = target.expand(out.shape[:2])
            if kind == "class":
                log_p = torch.log_softmax(out, dim=-1)
                values.append(-log_p.gather(-1, target[..., None]).squeeze(-1).mean(-1))
            elif kind == "binary":
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
                    f"{path} is missing: run python benchmarks/estimate_front.py "
                    f"--problems {self.name}"
                )
            self._front = np.load(path)
        front = self._front
        if len(front) > n:
            front = front[np.unique(np.linspace(0, len(front) - 1, n).round().astype(int))]
        return front.copy()
