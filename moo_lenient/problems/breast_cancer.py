"""A second real-data multi-task problem: diagnosis and tumour size on the breast-cancer data.

Data: the 569 cases of ``sklearn.datasets.load_breast_cancer()`` (Wisconsin diagnostic breast
cancer, bundled with scikit-learn, no download): 30 features, the mean, standard error and
"worst" value of ten measurements of the cell nuclei. A fixed split (the permutation of
``numpy.random.default_rng(0)``): the first 455 cases train, the other 114 test.

Tasks (K = 2, "breast-cancer"):

- f1 = binary cross-entropy (with logits) of the diagnosis, malignant (1) vs benign (0);
- f2 = mean squared error of the tumour's size, log(mean area) standardized with the train
  split's mean and standard deviation.

The size measurements (radius, perimeter and area: their mean, standard error and worst value,
9 features) are withheld from the inputs, so size must be inferred from the shape and texture
features; the other 21 features are standardized with the train split's statistics.

Network: 21 -> 16 (tanh) -> 1 (tanh), then one linear head per task; P = 373. The 1-unit
bottleneck makes the tasks compete: full-batch Adam (lr 1e-2, 1000 steps, mean of 4
initializations) reaches train losses about (0.032, 1.31) on the diagnosis alone and
(0.72, 0.023) on the size alone, but (0.10, 0.11) with equal weights; with a 2-unit bottleneck
both fit at once (0.028, 0.026) and the front shrinks to nearly a point. The network, batching
and minibatch sampling are :class:`moo_lenient.problems.tabular.TabularMTL`'s.

The Pareto front is estimated as digits' is, by ``benchmarks/estimate_front.py`` (full-batch
Adam, lr 1e-2, 2000 steps, one network per scalarization: the two single tasks for the ideal,
then 41 weights of a lattice shifted off the simplex's boundary, each with the weighted sum and
the smoothed Tchebycheff scalarization τ = 1e-3; 84 networks in all), stored in
``problems/data/breast-cancer_front.npy``. Runs that end beyond the estimate count as on it.
"""

from __future__ import annotations

import numpy as np

from moo_lenient.problems.tabular import TabularMTL, require_sklearn

NUM_TRAIN = 455
HIDDEN = (16, 1)  # a 1-unit bottleneck: the tasks compete for it (see the docstring)
WITHHELD = ("radius", "perimeter", "area")  # the size measurements: regressed, never inputs


class BreastCancerMTL(TabularMTL):
    """Diagnosis (binary cross-entropy) and log tumour area (MSE) on a shared MLP."""

    def __init__(self) -> None:
        data = require_sklearn().load_breast_cancer()
        features = data.data.astype(np.float64)
        names = [str(n) for n in data.feature_names]
        order = np.random.default_rng(0).permutation(len(features))
        train, test = order[:NUM_TRAIN], order[NUM_TRAIN:]
        keep = [i for i, n in enumerate(names) if not any(w in n for w in WITHHELD)]
        inputs = features[:, keep]
        inputs = (inputs - inputs[train].mean(0)) / inputs[train].std(0)
        malignant = (data.target == 0).astype(np.float64)  # sklearn: 0 = malignant
        size = np.log(features[:, names.index("mean area")])
        size = (size - size[train].mean()) / size[train].std()
        self.feature_names = tuple(names[i] for i in keep)
        super().__init__(
            "breast-cancer",
            inputs,
            [malignant, size],
            kinds=["binary", "regression"],
            outputs=[1, 1],
            hidden=HIDDEN,
            train=train,
            test=test,
        )
