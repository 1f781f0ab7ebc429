"""The synthetic Pareto benchmark: methods x problems x preferences x seeds.

    from moo_lenient import bench
    table = bench.run(suite="quick", jobs=2, out="bench-out")
    print(table)                      # markdown tables, mean ± std over seeds, best in bold

The command line is ``moo-lenient bench`` (see ``moo-lenient bench --help``). Needs the
``bench`` extra (pymoo, matplotlib, tqdm, scikit-learn).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from moo_lenient.bench.runner import Config, execute, expand
from moo_lenient.bench.suites import FORMS, METHODS, PROBLEMS, SUITES, Suite
from moo_lenient.bench.table import BenchTable


def run(
    suite: str = "quick",
    methods: Sequence[str] | None = None,
    problems: Sequence[str] | None = None,
    preferences: int | None = None,
    seeds: int | None = None,
    first_seed: int | None = None,
    steps: int | None = None,
    forms: Sequence[str] | None = None,
    jobs: int = 1,
    out: str | Path | None = None,
    plots: bool = True,
    progress: bool = True,
) -> BenchTable:
    """Run a suite (or a part of it) and return its table.

    Args:
        suite: "quick", "full" or "ablation" (see :data:`moo_lenient.bench.suites.SUITES`).
        methods, problems, forms: subsets (default: the suite's).
        preferences: number of preference vectors per problem (a Das-Dennis grid).
        seeds: number of seeds; first_seed: the first of them (default: the suite's; seeds
            are first_seed, first_seed + 1, ...).
        steps: optimizer steps per run (default: the suite's).
        jobs: worker processes (results are identical for any value).
        out: folder for raw results (``runs.jsonl``, resumable), ``table.md`` and plots.
        plots: write PNG plots into ``out``.
    """
    spec = resolve(suite, methods, problems, forms)
    configs = expand(
        spec.problems,
        spec.methods,
        spec.seeds if seeds is None else _positive(seeds, "seeds"),
        spec.forms,
        spec.steps if steps is None else _positive(steps, "steps"),
        spec.preferences if preferences is None else _positive(preferences, "preferences"),
        spec.exclude,
        spec.first_seed if first_seed is None else _non_negative(first_seed, "first_seed"),
    )
    records = execute(configs, None if out is None else Path(out), jobs=jobs, progress=progress)
    table = BenchTable(records)
    if out is not None:
        Path(out, "table.md").write_text(table.to_markdown() + "\n")
        if plots:
            from moo_lenient.bench.plots import write_plots

            write_plots(records, Path(out))
    return table


def resolve(
    suite: str,
    methods: Sequence[str] | None = None,
    problems: Sequence[str] | None = None,
    forms: Sequence[str] | None = None,
) -> Suite:
    """The suite with the given subsets, every name checked."""
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; choose from {sorted(SUITES)}")
    base = SUITES[suite]
    for names, known, what in (
        (methods, METHODS, "method"),
        (problems, PROBLEMS, "problem"),
        (forms, FORMS, "form"),
    ):
        for name in names or ():
            if name not in known:
                raise ValueError(f"unknown {what} {name!r}; choose from {sorted(known)}")
    return Suite(
        base.name,
        tuple(problems) if problems else base.problems,
        tuple(methods) if methods else base.methods,
        base.seeds,
        tuple(forms) if forms else base.forms,
        base.steps,
        base.preferences,
        base.exclude,
        base.first_seed,
    )


def _non_negative(value: int, name: str) -> int:
    if int(value) != value or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def _positive(value: int, name: str) -> int:
    if int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


__all__ = ["FORMS", "METHODS", "PROBLEMS", "SUITES", "BenchTable", "Config", "resolve", "run"]
