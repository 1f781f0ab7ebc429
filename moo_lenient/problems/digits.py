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

The network, its batching and sampling are :class:`moo_lenient.problems.tabular.TabularMTL`'s.
The Pareto front is estimated (``front_is_estimated``) by ``benchmarks/estimate_front.py``
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

import numpy as np

from moo_lenient.problems.tabular import DATA_DIR, TabularMTL, require_sklearn

__all__ = ["DATA_DIR", "DigitsMTL", "load_digits_data"]

NUM_TRAIN = 1437
HIDDEN = (32, 2)  # a 2-unit bottleneck: the tasks compete for it (see the docstring)
CLOSED_LOOP = (0, 6, 8, 9)
#: the tasks of each variant: (target, loss kind, head outputs)
TASKS: dict[int, tuple[tuple[str, str, int], ...]] = {
    2: (("class", "class", 10), ("row-centre", "regression", 1)),
    3: (
        ("class", "class", 10),
        ("closed-loop", "binary", 1),
        ("column-centre", "regression", 1),
    ),
}


def load_digits_data() -> tuple[np.ndarray, np.ndarray]:
    """The digits as (1797, 64) float64 pixels in [0, 1] and (1797,) int64 labels."""
    digits = require_sklearn().load_digits()
    return digits.data.astype(np.float64) / 16, digits.target.astype(np.int64)


class DigitsMTL(TabularMTL):
    """A shared MLP with one head per task on the 8x8 digits; x is the flat parameter vector.

    ``problem(x)`` maps (P,) to (K,) and (B, P) to (B, K) (any leading dimensions), the
    full-train-split losses; ``test_values`` does the same on the test split.
    """

    def __init__(self, tasks: int = 2) -> None:
        if tasks not in TASKS:
            raise ValueError(f"DigitsMTL has 2 or 3 tasks, got {tasks}")
        self.tasks = TASKS[tasks]
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
        for target, _, _ in self.tasks:
            if target == "class":
                targets.append(labels)
            elif target == "closed-loop":
                targets.append(np.isin(labels, CLOSED_LOOP).astype(np.float64))
            else:
                centre = centres[target]
                targets.append((centre - centre[train].mean()) / centre[train].std())
        super().__init__(
            f"digits-{tasks}",
            pixels,
            targets,
            kinds=[kind for _, kind, _ in self.tasks],
            outputs=[outputs for _, _, outputs in self.tasks],
            hidden=HIDDEN,
            train=train,
            test=test,
        )
