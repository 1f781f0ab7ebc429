"""Estimate the Pareto fronts of the digits multi-task problems (``DigitsMTL(2)`` and ``(3)``).

Method (see ``moo_lenient/problems/digits.py``): full-batch Adam (lr 1e-2, 2000 steps) on many
scalarizations of the K train losses, each a network of its own (PyTorch's default
initialization, ``problem.initial``):

1. the K single tasks: the best final value of each loss is the ideal point z;
2. for every w of a simplex lattice shifted off its boundary (41 weights for K = 2,
   ``simplex_lattice(2, 40)``; 45 for K = 3, ``simplex_lattice(3, 8)``; w <- (w + 0.01) /
   (1 + 0.01 K)), the weighted sum Σ_k w_k f_k and the smoothed Tchebycheff scalarization
   τ log Σ_k exp(w_k (f_k - z_k) / τ), τ = 1e-3.

Every final network is evaluated on the full train split in float64; the non-dominated loss
vectors of phase 2, sorted by f1, are written to
``moo_lenient/problems/data/digits-{K}_front.npy`` (phase 1 only sets z: a single-task run leaves
the other losses arbitrary and would inflate the nadir).

Networks train in chunks (a few networks batched in one computation keep the activations in
cache) and in float32, which is several times faster on a CPU than float64 and makes no
difference at Adam's step size; only the final evaluation is float64. One thread.

    python benchmarks/estimate_front.py                 # every problem
    python benchmarks/estimate_front.py --problems digits-2 --steps 300 --no-write  # smoke run
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from moo_lenient.problems.base import non_dominated, simplex_lattice
from moo_lenient.problems.breast_cancer import BreastCancerMTL
from moo_lenient.problems.digits import DigitsMTL
from moo_lenient.problems.tabular import DATA_DIR, TabularMTL

#: the problems and the seed of their networks' initializations
PROBLEMS = {
    "digits-2": (lambda: DigitsMTL(2), 2),
    "digits-3": (lambda: DigitsMTL(3), 3),
    "breast-cancer": (BreastCancerMTL, 4),
}

DIVISIONS = {2: 40, 3: 8}
STARTS = 1
OFFSET = 0.01
LR = 1e-2
TEMPERATURE = 1e-3


def weighted_sum(values: torch.Tensor, weights: torch.Tensor, ideal: torch.Tensor) -> torch.Tensor:
    return (weights * values).sum(-1)


def tchebycheff(values: torch.Tensor, weights: torch.Tensor, ideal: torch.Tensor) -> torch.Tensor:
    return TEMPERATURE * torch.logsumexp(weights * (values - ideal) / TEMPERATURE, dim=-1)


def train(
    problem: TabularMTL,
    weights: np.ndarray,
    scalarize,
    ideal: np.ndarray,
    generator: torch.Generator,
    args: argparse.Namespace,
) -> np.ndarray:
    """Final float64 train losses (STARTS * len(weights), K) of one network per (weight, start)."""
    dtype = getattr(torch, args.dtype)
    w_all = torch.from_numpy(np.repeat(weights, STARTS, axis=0)).to(dtype)
    x_all = problem.initial(len(w_all), generator)
    z = torch.from_numpy(ideal).to(dtype)
    finals = []
    for start in range(0, len(w_all), args.chunk):
        w = w_all[start : start + args.chunk]
        x = x_all[start : start + args.chunk].to(dtype).requires_grad_()
        optimizer = torch.optim.Adam([x], lr=LR)
        for _ in range(args.steps):
            optimizer.zero_grad(set_to_none=True)
            scalarize(problem(x), w, z).sum().backward()  # networks are independent
            optimizer.step()
        with torch.no_grad():
            finals.append(problem(x.detach().double()).numpy())
        print(f"  {start + len(w)}/{len(w_all)} networks", flush=True)
    return np.concatenate(finals)


def estimate(name: str, args: argparse.Namespace) -> np.ndarray:
    build, seed = PROBLEMS[name]
    problem = build()
    tasks = problem.num_objectives
    generator = torch.Generator().manual_seed(seed)
    lattice = simplex_lattice(tasks, DIVISIONS[tasks])
    weights = (lattice + OFFSET) / (1 + OFFSET * tasks)
    print(f"{problem.name}: P = {problem.num_variables}, {len(weights)} weights", flush=True)
    single = train(problem, np.eye(tasks), weighted_sum, np.zeros(tasks), generator, args)
    ideal = single.min(axis=0)
    print(f"  ideal of the single tasks: {np.array2string(ideal, precision=4)}", flush=True)
    sums = train(problem, weights, weighted_sum, ideal, generator, args)
    cheb = train(problem, weights, tchebycheff, ideal, generator, args)
    points = np.concatenate([sums, cheb])
    points = points[np.isfinite(points).all(axis=1)]
    front = non_dominated(points)
    return front[np.lexsort(front.T[::-1])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--chunk", type=int, default=8, help="networks trained together")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    torch.set_num_threads(1)
    begin = time.perf_counter()
    for name in args.problems:
        t0 = time.perf_counter()
        front = estimate(name, args)
        print(f"{name}: {len(front)} non-dominated points in {time.perf_counter() - t0:.0f} s")
        print(f"  ideal {np.array2string(front.min(axis=0), precision=4)}")
        print(f"  nadir {np.array2string(front.max(axis=0), precision=4)}")
        if not args.no_write:
            DATA_DIR.mkdir(exist_ok=True)
            path = DATA_DIR / f"{name}_front.npy"
            np.save(path, front)
            print(f"  wrote {path} ({path.stat().st_size} bytes)")
    print(f"total {time.perf_counter() - begin:.0f} s", flush=True)


if __name__ == "__main__":
    main()
