"""Expand a suite into configurations, run them (in worker processes), store raw results.

One configuration = one problem, form, method and seed: all of the problem's preference vectors
(and, for the toy, all its starts) run as one batch (:func:`moo_lenient.bench.engine.run_batch`).
Its raw result is one JSON line in ``runs.jsonl``; a rerun with the same output folder skips the
configurations already there (resume). Each configuration is seeded from its own key and runs
single-threaded, so results do not depend on ``jobs`` or on the order of execution.
"""

from __future__ import annotations

import json
import multiprocessing
import time
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from moo_lenient.bench import scoring
from moo_lenient.bench.engine import run_batch
from moo_lenient.bench.suites import FORMS, METHODS, PROBLEMS, das_dennis

RUNS_FILE = "runs.jsonl"
TRAJECTORY_POINTS = 120  # path points stored per run (seed 0, problems with 2 variables)
# Starts and final variables are stored for problems with at most 3 variables (the others are
# reproducible from the seed and too large to keep).


@dataclass(frozen=True)
class Config:
    problem: str
    form: str
    method: str
    seed: int
    steps: int
    preferences: int

    @property
    def key(self) -> str:
        return (
            f"{self.problem}|{self.form}|{self.method}|seed={self.seed}|"
            f"steps={self.steps}|prefs={self.preferences}"
        )


def expand(
    problems: Iterable[str],
    methods: Iterable[str],
    seeds: int,
    forms: Iterable[str] = FORMS,
    steps: int | None = None,
    preferences: int | None = None,
    exclude: Iterable[tuple[str, str]] = (),
    first_seed: int = 0,
) -> list[Config]:
    """Every (problem, form, method, seed), with the problem's protocol unless overridden.

    Seeds are ``first_seed, first_seed + 1, ...``: development, decision and report runs use
    disjoint seed ranges (e.g. 100-101, 200-202 and 10-12), so no reported number was seen
    while a default was chosen."""
    if int(first_seed) != first_seed or first_seed < 0:
        raise ValueError(f"first_seed must be a non-negative integer, got {first_seed!r}")
    configs = []
    skip = set(exclude)
    for p in problems:
        spec = PROBLEMS[p]
        for form in forms:
            if (p, form) in skip:
                continue
            # A deterministic problem with fixed starts gives the same result for every seed.
            n_seeds = 1 if (form == "det" and spec.starts is not None) else seeds
            for m in methods:
                configs.extend(
                    Config(
                        p,
                        form,
                        m,
                        seed,
                        spec.steps if steps is None else steps,
                        spec.preferences if preferences is None else preferences,
                    )
                    for seed in range(first_seed, first_seed + n_seeds)
                )
    return configs


def _seed(*parts: object) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


def run_config(config: Config) -> dict:
    """Run one configuration and return its raw result (a JSON-serializable dict)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run_config(config)
    finally:
        torch.set_num_threads(threads)


def _run_config(config: Config) -> dict:
    spec, mspec = PROBLEMS[config.problem], METHODS[config.method]
    problem = spec.build()
    prefs = das_dennis(problem.num_objectives, config.preferences)
    # Starts depend on the problem and seed only: every method starts from the same points.
    start_gen = torch.Generator().manual_seed(_seed(config.problem, config.seed, "starts"))
    if spec.starts is not None:
        starts = torch.tensor(spec.starts, dtype=torch.float64)
        run_prefs = np.repeat(prefs, len(starts), axis=0)
        run_starts = starts.repeat(len(prefs), 1)
    else:
        run_prefs = prefs
        run_starts = problem.initial(len(prefs), start_gen)
    noise_gen = torch.Generator().manual_seed(_seed(config.problem, config.seed, "noise"))
    # Paths (for plots) of seed 0 of problems with 2 variables.
    plotted = problem.num_variables <= 2 and config.seed == 0
    record_every = max(1, config.steps // TRAJECTORY_POINTS) if plotted else 0
    began = time.perf_counter()
    result = run_batch(
        problem,
        lambda: mspec.build(problem, config.steps),
        run_prefs,
        run_starts,
        config.steps,
        spec.lr,
        stochastic=config.form == "noisy",
        generator=noise_gen,
        record_every=record_every,
    )
    seconds = time.perf_counter() - began
    record = {
        "key": config.key,
        **asdict(config),
        "lr": spec.lr,
        "preference_vectors": run_prefs.tolist(),
        "starts": run_starts.tolist() if problem.num_variables <= 3 else None,
        "final_values": result.final_values.tolist(),
        "final_x": result.final_x.tolist() if problem.num_variables <= 3 else None,
        "trajectory": None
        if result.trajectory is None
        else np.round(result.trajectory, 4).tolist(),
        "step_shares": {k: v.tolist() for k, v in result.step_shares.items()},
        "seconds": seconds,
    }
    record["metrics"] = scoring.score(problem, spec, run_prefs, result.final_values)
    return record


def load_runs(out: Path) -> dict[str, dict]:
    """Raw results already in ``out`` (key -> record); a torn last line is ignored."""
    path = Path(out) / RUNS_FILE
    runs: dict[str, dict] = {}
    if not path.exists():
        return runs
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        runs[record["key"]] = record
    return runs


def execute(
    configs: list[Config], out: Path | None, jobs: int = 1, progress: bool = True
) -> list[dict]:
    """Run the configurations not yet in ``out`` and return the records of all of them."""
    done = load_runs(out) if out is not None else {}
    todo = [c for c in configs if c.key not in done]
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        if done:  # rewrite without a line torn by an interruption, so appends stay whole
            lines = "".join(json.dumps(record) + "\n" for record in done.values())
            (Path(out) / RUNS_FILE).write_text(lines)
    bar = _progress(len(configs), len(configs) - len(todo), progress)
    for record in _results(todo, jobs):
        done[record["key"]] = record
        if out is not None:
            with open(Path(out) / RUNS_FILE, "a") as fh:
                fh.write(json.dumps(record) + "\n")
        if bar is not None:
            bar.set_postfix_str(f"{record['problem']} {record['method']}", refresh=False)
            bar.update(1)
    if bar is not None:
        bar.close()
    return [done[c.key] for c in configs]


def _results(todo: list[Config], jobs: int) -> Iterator[dict]:
    if jobs <= 1 or len(todo) <= 1:
        for config in todo:
            yield run_config(config)
        return
    # Slowest first (the toy and the real-data problems), to keep both workers busy to the end.
    order = sorted(todo, key=lambda c: -_cost(c))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = [pool.submit(run_config, c) for c in order]
        for future in as_completed(futures):
            yield future.result()


def _cost(config: Config) -> float:
    spec = PROBLEMS[config.problem]
    runs = config.preferences * (len(spec.starts) if spec.starts else 1)
    weight = 3.0 if config.problem.startswith("digits") else 1.0
    return weight * runs * config.steps


def _progress(total: int, initial: int, enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is in the bench extra
        return None
    return tqdm(total=total, initial=initial, desc="moo-lenient bench", unit="config")
