"""The full benchmark suite and the PLC ablation, rendered into docs/benchmarks.md and README.md.

    python benchmarks/suite.py --jobs 2            # run the suites (resumable), then render
    python benchmarks/suite.py --render-only       # re-render from the stored raw results

Suites: "full" (every problem x the main methods), "ablation" (PLC variants on the barrier,
5-objective DTLZ2 and real-data problems), "candidates" (the PLC variants the ablation singled
out, CANDIDATES, on the full suite's problems) and "comparison" (the eight comparison methods,
CAGrad .. EPO, on the full suite's problems, same protocol). Raw results go to
docs/data/suite/{full,ablation,full-candidates,full-comparison}/runs.jsonl (one JSON line per
problem, form, method and seed), plots to docs/img/suite/. Every number in the rendered tables
is computed from those raw results; nothing is typed in by hand.
"""

from __future__ import annotations

import argparse
import platform
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from moo_lenient import bench
from moo_lenient.bench.plots import write_plots
from moo_lenient.bench.runner import load_runs
from moo_lenient.bench.suites import (
    COMPARISON_METHODS,
    FORMS,
    MAIN_METHODS,
    METHODS,
    PROBLEMS,
    SUITES,
)
from moo_lenient.bench.table import BenchTable, Cell, best_methods

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = ("plc-l2",)  # the "candidates" suite: these on the full suite's problems
DATA = ROOT / "docs" / "data" / "suite"
IMG = ROOT / "docs" / "img" / "suite"
BEGIN, END = "<!-- suite:begin -->", "<!-- suite:end -->"
ABLATION_BEGIN, ABLATION_END = "<!-- ablation:begin -->", "<!-- ablation:end -->"
README_BEGIN, README_END = "<!-- suite-summary:begin -->", "<!-- suite-summary:end -->"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--render-only", action="store_true")
    parser.add_argument("--no-plots", action="store_true", help="keep docs/img/suite as it is")
    parser.add_argument(
        "--suites", nargs="+", default=["full", "ablation", "candidates", "comparison"]
    )
    args = parser.parse_args(argv)
    timings = {}
    if not args.render_only:
        for name in args.suites:
            began = time.perf_counter()
            if name == "candidates":
                out = DATA / "full-candidates"
                bench.run("full", CANDIDATES, jobs=args.jobs, out=out, plots=False)
            elif name == "comparison":
                out = DATA / "full-comparison"
                bench.run("comparison", jobs=args.jobs, out=out, plots=False)
            else:
                bench.run(suite=name, jobs=args.jobs, out=DATA / name, plots=False)
            timings[name] = time.perf_counter() - began
            print(f"{name}: {timings[name] / 60:.1f} min", flush=True)
    # full-candidates: a PLC variant the ablation singled out, run on the whole full suite
    # (same protocol, own file); shown beside the main methods, not counted in the targets.
    # full-comparison: the comparison methods on the same problems (same protocol, own file).
    full_runs = {  # keys are unique per method; the main suite first fixes the row order
        **load_runs(DATA / "full"),
        **load_runs(DATA / "full-candidates"),
        **load_runs(DATA / "full-comparison"),
    }
    full = BenchTable(sorted(full_runs.values(), key=_problem_order))
    if not args.no_plots:  # the plots of the main methods, from the raw results
        main_runs = [r for r in full_runs.values() if r["method"] in MAIN_METHODS]
        shutil.rmtree(IMG, ignore_errors=True)
        write_plots(main_runs, IMG.parent)  # writes into docs/img/plots, renamed below
        (IMG.parent / "plots").rename(IMG)
    ablation = BenchTable(list(load_runs(DATA / "ablation").values()))
    meta = environment(timings)
    write_between(ROOT / "docs" / "benchmarks.md", BEGIN, END, render_full(full, ablation, meta))
    write_between(
        ROOT / "docs" / "benchmarks.md", ABLATION_BEGIN, ABLATION_END, render_ablation(ablation)
    )
    write_between(ROOT / "README.md", README_BEGIN, README_END, render_summary(full))
    print(render_summary(full))
    return 0


def _problem_order(record: dict) -> tuple[int, int]:
    """Rows in the suite's problem order, deterministic form first (records are stored in
    execution order, longest first)."""
    return list(PROBLEMS).index(record["problem"]), FORMS.index(record["form"])


def environment(timings: dict[str, float]) -> str:
    parts = [f"torch {torch.__version__}", f"Python {platform.python_version()}"]
    parts += [f"{name} suite {sec / 60:.1f} min with --jobs 2" for name, sec in timings.items()]
    return "; ".join(parts)


def write_between(path: Path, begin: str, end: str, body: str) -> None:
    text = path.read_text()
    block = f"{begin}\n{body}\n{end}"
    if begin in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


def fmt(cell: Cell) -> str:
    return f"{cell.mean:.3f} ± {cell.std:.3f}" if cell.n > 1 else f"{cell.mean:.3f}"


def overview(table: BenchTable, score: str, methods, higher: bool) -> str:
    """Rows: problem and form; columns: methods; the score's mean ± std, tied-best in bold."""
    labels = [
        f"PLC, {METHODS[m].label} (candidate)" if m in CANDIDATES else METHODS[m].label
        for m in methods
    ]
    head = "| problem | form | " + " | ".join(labels) + " |"
    lines = [head, "|---|---|" + "---|" * len(methods)]
    for (problem, form), by_method in table.rows.items():
        cells = {m: by_method[m][score] for m in methods if m in by_method}
        bold = best_methods(cells, higher)
        row = [
            (f"**{fmt(cells[m])}**" if m in bold else fmt(cells[m])) if m in cells else "-"
            for m in methods
        ]
        lines.append(f"| {problem} | {form} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def targets(table: BenchTable, ablation: BenchTable) -> str:
    """The issue's targets for default PLC (given the reference), computed from the runs; the
    paired test against STCH uses the ablation suite (more seeds) where it has the problem."""
    rows = table.rows
    keys = list(rows)
    best = [k for k in keys if "plc" in best_methods(_main(rows[k], "hv"), True)]
    baselines = ("ls", "mgda", "pcgrad", "stch", "plc")
    best_vs_baselines = [
        k
        for k in keys
        if "plc" in best_methods({m: rows[k][m]["hv"] for m in baselines if m in rows[k]}, True)
    ]
    tcheb_ok = [
        k
        for k in keys
        if rows[k]["plc"]["tcheb"].mean <= rows[k]["ls"]["tcheb"].mean + rows[k]["ls"]["tcheb"].std
    ]
    pc_ok = [
        k
        for k in keys
        if rows[k]["plc"]["pc"].mean >= rows[k]["ls"]["pc"].mean - rows[k]["ls"]["pc"].std
    ]
    lines = [
        "| target | measured | met |",
        "|---|---|---|",
        f"| best or tied-best HV on ≥ 80% of problem-forms | {len(best)}/{len(keys)} "
        f"({100 * len(best) / len(keys):.0f}%) | {_yes(len(best) >= 0.8 * len(keys))} |",
        f"| the same against LS, MGDA, PCGrad and STCH only (PLC without a reference left out) | "
        f"{len(best_vs_baselines)}/{len(keys)} ({100 * len(best_vs_baselines) / len(keys):.0f}%) "
        f"| {_yes(len(best_vs_baselines) >= 0.8 * len(keys))} |",
        f"| weighted Tchebycheff value no worse than LS (within LS's std) | "
        f"{len(tcheb_ok)}/{len(keys)} | {_yes(len(tcheb_ok) == len(keys))} |",
        f"| preference compliance no worse than LS (within LS's std) | "
        f"{len(pc_ok)}/{len(keys)} | {_yes(len(pc_ok) == len(keys))} |",
    ]
    for problem in ("barrier-2", "barrier-3"):
        d = ablation.paired(problem, "noisy", "plc", "stch")
        if len(d) < 2:
            d = table.paired(problem, "noisy", "plc", "stch")
        if len(d) > 1:
            se = d.std(ddof=1) / np.sqrt(len(d))
            lines.append(
                f"| paired HV gain over STCH, {problem} noisy (mean > 2 SE) | "
                f"{d.mean():+.4f} ± {se:.4f} (SE, {len(d)} seeds) | {_yes(d.mean() > 2 * se)} |"
            )
    misses = [f"{p} {f}" for p, f in keys if (p, f) not in best]
    tcheb_miss = [f"{p} {f}" for p, f in keys if (p, f) not in tcheb_ok]
    pc_miss = [f"{p} {f}" for p, f in keys if (p, f) not in pc_ok]
    lines += [
        "",
        f"Not best or tied-best in HV: {', '.join(misses) or 'none'}.",
        f"Tchebycheff value worse than LS: {', '.join(tcheb_miss) or 'none'}.",
        f"Preference compliance worse than LS: {', '.join(pc_miss) or 'none'}.",
    ]
    return "\n".join(lines)


def shown(table: BenchTable, comparison: bool = True) -> tuple[str, ...]:
    """The columns: main methods, the PLC candidates run, then the comparison methods run."""
    present = {m for rows in table.rows.values() for m in rows}
    extra = CANDIDATES + (COMPARISON_METHODS if comparison else ())
    return MAIN_METHODS + tuple(m for m in extra if m in present)


def _main(by_method: dict, score: str) -> dict:
    return {m: by_method[m][score] for m in MAIN_METHODS if m in by_method}


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def render_full(table: BenchTable, ablation: BenchTable, meta: str) -> str:
    suite, comparison = SUITES["full"], SUITES["comparison"]
    plots = sorted(p.name for p in IMG.glob("*.png")) if IMG.exists() else []
    methods = shown(table)
    parts = [
        f"Full suite: {len(table.records)} configurations ({len(suite.problems)} problems x "
        f"2 forms x {len(methods)} methods x {suite.seeds} seeds; 1 seed for the toy's "
        f"deterministic form, whose starts are fixed). The main methods are LS .. PLC (no "
        f"reference); {', '.join(METHODS[m].label for m in methods if m in COMPARISON_METHODS)} "
        "are the comparison methods (papers' defaults; FAMO and EPO given each loss's lower "
        "bound, `lower_bounds` in `moo_lenient/bench/suites.py`), run by the `comparison` suite "
        f"with the same protocol and starts but {comparison.seeds} seeds instead of "
        f"{suite.seeds} and without {', '.join(f'{p} {f}' for p, f in comparison.exclude)} "
        "(shown as -): the compute one session allowed. Tied-best in bold among all "
        f"columns; the targets below concern the main methods only. {meta}.",
        "",
        "### Hypervolume (normalized losses, reference 1.1; mean ± std over seeds)",
        "",
        overview(table, "hv", shown(table), True),
        "",
        "### Weighted Tchebycheff value max_k w_k f̃_k (lower: closer to the preference)",
        "",
        overview(table, "tcheb", shown(table), False),
        "",
        "### Escape rate (share of runs ending within 0.05 of the front)",
        "",
        overview(table, "escape", shown(table), True),
        "",
        "### Targets for default PLC (with the problem's reference)",
        "",
        targets(table, ablation),
        "",
        "### Every score, per problem",
        "",
        table.to_markdown(),
        "",
        "### Plots",
        "",
    ]
    parts += [f"![{name}](img/suite/{name})" for name in plots]
    return "\n".join(parts)


def render_ablation(table: BenchTable) -> str:
    methods = [m for m in SUITES["ablation"].methods if any(m in r for r in table.rows.values())]
    keys = list(table.rows)
    head = "| variant | " + " | ".join(f"{p} {f}" for p, f in keys) + " |"
    lines = [head, "|---|" + "---|" * len(keys)]
    for m in methods:
        cells = []
        for key in keys:
            by_method = table.rows[key]
            if m not in by_method:
                cells.append("-")
                continue
            bold = best_methods({k: v["hv"] for k, v in by_method.items()}, True)
            text = fmt(by_method[m]["hv"])
            cells.append(f"**{text}**" if m in bold else text)
        lines.append(f"| {METHODS[m].label} (`{m}`) | " + " | ".join(cells) + " |")
    paired = [
        "| variant | " + " | ".join(f"{p} {f}" for p, f in keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for m in methods:
        if m == "plc":
            continue
        base = "plc-noref" if METHODS[m].ablation_of == "plc-noref" else "plc"
        cells = []
        for problem, form in keys:
            d = table.paired(problem, form, m, base)
            if len(d) < 2:
                cells.append("-")
                continue
            se = d.std(ddof=1) / np.sqrt(len(d))
            mark = "*" if abs(d.mean()) > 2 * se else ""
            cells.append(f"{d.mean():+.3f} ± {se:.3f}{mark}")
        paired.append(f"| {m} − {base} | " + " | ".join(cells) + " |")
    tcheb = [
        "| variant | " + " | ".join(f"{p} {f}" for p, f in keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for m in methods:
        cells = [fmt(table.rows[k][m]["tcheb"]) if m in table.rows[k] else "-" for k in keys]
        tcheb.append(f"| {m} | " + " | ".join(cells) + " |")
    seeds = max(
        (c.n for r in table.rows.values() for v in r.values() for c in v.values()), default=0
    )
    return "\n".join(
        [
            f"Ablation suite: {len(table.records)} configurations, {seeds} seeds. Hypervolume, "
            "mean ± std (tied-best in bold):",
            "",
            *lines,
            "",
            "Paired hypervolume differences to the default (same seeds, same starts, same noise "
            "stream), mean ± standard error; * = more than 2 SE from zero:",
            "",
            *paired,
            "",
            "Weighted Tchebycheff value (lower is closer to the preference):",
            "",
            *tcheb,
        ]
    )


def render_summary(table: BenchTable) -> str:
    """The README's table: the main methods and candidates, plus the best comparison method."""
    lines = overview(table, "hv", shown(table, comparison=False), True).split("\n")
    lines[0] += " best comparison method |"
    lines[1] += "---|"
    for i, by_method in enumerate(table.rows.values(), start=2):
        cells = {m: by_method[m]["hv"] for m in COMPARISON_METHODS if m in by_method}
        if not cells:
            lines[i] += " - |"
            continue
        best = max(cells, key=lambda m: cells[m].mean)
        lines[i] += f" {METHODS[best].label} {fmt(cells[best])} |"
    return "\n".join(
        [
            "Hypervolume of the full suite (normalized losses, reference 1.1, mean ± std over "
            "seeds, tied-best in bold among the columns shown; the last column is the best of the "
            "eight comparison methods, CAGrad .. EPO, by mean; every method, score and plot in "
            "[docs/benchmarks.md](docs/benchmarks.md)):",
            "",
            *lines,
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
