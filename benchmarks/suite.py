"""The benchmark suite and PLC's studies, rendered into docs/benchmarks.md, docs/plc.md and README.

    python benchmarks/suite.py --jobs 2            # run the suites (resumable), then render
    python benchmarks/suite.py --render-only       # re-render from the stored raw results
    python benchmarks/suite.py --jobs 2 --suites paths-dev     # one suite, then render

Suites run by default (issue 14, spec v4; `moo_lenient/bench/suites.py`):
- "paths-dev" / "paths-decide": PLC on the paths without a reference or a horizon, v3's rules
  against v4's, on development seeds 100-101 (every choice) and seeds 200-202 (the decision);
- "v4": every problem x LS, MGDA, PCGrad, STCH, PLC v3, PLC (reference) and PLC (no reference),
  seeds 10-12, only to report (no default was chosen on them);
- "v4-comparison": EPO, UPGrad and Nash-MTL, seeds 10-11, without the digits full-batch forms;
- "v4-ablation": every v4 variant that lost, seeds 10-12.
The suites of the spec v3 era ("full", "ablation", "candidates", "comparison"; seeds 0-4) can
still be run by name; their raw results stay in docs/data/suite/ as they are, and the v3
ablation is still rendered (labelled as such). Raw results: docs/data/suite/<suite>/runs.jsonl
(one JSON line per problem, form, method and seed), plots in docs/img/suite/. Every number in
the rendered tables is computed from those raw results; nothing is typed in by hand.
"""

from __future__ import annotations

import argparse
import json
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
    FORMS,
    LEADERS_TOO_METHODS,
    METHODS,
    PATH_METHODS,
    PROBLEMS,
    SUITES,
    V4_ABLATION_METHODS,
    V4_COMPARISON,
    V4_METHODS,
)
from moo_lenient.bench.table import BenchTable, Cell, best_methods, dominated_counts

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = ("plc-l2",)  # the "candidates" suite: these on the full suite's problems
DATA = ROOT / "docs" / "data" / "suite"
IMG = ROOT / "docs" / "img" / "suite"
BEGIN, END = "<!-- suite:begin -->", "<!-- suite:end -->"
ABLATION_BEGIN, ABLATION_END = "<!-- ablation:begin -->", "<!-- ablation:end -->"
README_BEGIN, README_END = "<!-- suite-summary:begin -->", "<!-- suite-summary:end -->"
V4_ABLATION_BEGIN, V4_ABLATION_END = "<!-- v4-ablation:begin -->", "<!-- v4-ablation:end -->"
PLC_BEGIN, PLC_END = "<!-- plc-v4:begin -->", "<!-- plc-v4:end -->"
PATHS_BEGIN, PATHS_END = "<!-- plc-paths:begin -->", "<!-- plc-paths:end -->"
DEFAULT_SUITES = ("paths-dev", "paths-decide", "v4", "v4-comparison", "v4-ablation")
LEGACY_DIRS = {"candidates": "full-candidates", "comparison": "full-comparison"}
REAL_DATA = ("digits-2", "digits-3", "breast-cancer")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--render-only", action="store_true")
    parser.add_argument("--no-plots", action="store_true", help="keep docs/img/suite as it is")
    parser.add_argument("--suites", nargs="+", default=list(DEFAULT_SUITES))
    args = parser.parse_args(argv)
    timings = {}
    if not args.render_only:
        for name in args.suites:
            began = time.perf_counter()
            out = DATA / LEGACY_DIRS.get(name, name)
            if name == "candidates":
                bench.run("full", CANDIDATES, jobs=args.jobs, out=out, plots=False)
            else:
                bench.run(suite=name, jobs=args.jobs, out=out, plots=False)
            timings[name] = time.perf_counter() - began
            print(f"{name}: {timings[name] / 60:.1f} min", flush=True)
    report_runs = complete(
        {**load_runs(DATA / "v4"), **load_runs(DATA / "v4-comparison")}, ("v4", "v4-comparison")
    )
    report = BenchTable(sorted(report_runs.values(), key=_problem_order))
    if not args.no_plots and report_runs:  # plots of the v4 suite's main methods
        main_runs = [r for r in report_runs.values() if r["method"] in V4_METHODS]
        shutil.rmtree(IMG, ignore_errors=True)
        write_plots(main_runs, IMG.parent)  # writes into docs/img/plots, renamed below
        (IMG.parent / "plots").rename(IMG)
    v4_ablation = BenchTable(sorted(load_runs(DATA / "v4-ablation").values(), key=_problem_order))
    v3_ablation = BenchTable(list(load_runs(DATA / "ablation").values()))
    toy = _toy_results()
    meta = environment(timings)
    benchmarks_md = ROOT / "docs" / "benchmarks.md"
    write_between(benchmarks_md, BEGIN, END, render_full(report, toy, meta))
    write_between(
        benchmarks_md, V4_ABLATION_BEGIN, V4_ABLATION_END, render_ablation(v4_ablation, "v4")
    )
    write_between(benchmarks_md, ABLATION_BEGIN, ABLATION_END, render_ablation(v3_ablation, "v3"))
    paths = {
        name: BenchTable(sorted(load_runs(DATA / name).values(), key=_problem_order))
        for name in ("paths-dev", "paths-decide")
    }
    plc_md = ROOT / "docs" / "plc.md"
    write_between(plc_md, PLC_BEGIN, PLC_END, render_plc_v4(report))
    write_between(plc_md, PATHS_BEGIN, PATHS_END, render_paths(paths))
    write_between(ROOT / "README.md", README_BEGIN, README_END, render_summary(report))
    print(render_summary(report))
    return 0


def complete(runs: dict[str, dict], suites: tuple[str, ...]) -> dict[str, dict]:
    """Only the (problem, form, method) groups that have every seed their suite plans: a group
    still running (resumable, continued in a later sitting) is left out of the tables."""
    from moo_lenient.bench.runner import expand

    planned: dict[tuple[str, str, str], int] = {}
    for name in suites:
        s = SUITES[name]
        for c in expand(s.problems, s.methods, s.seeds, s.forms, exclude=s.exclude,
                        first_seed=s.first_seed):  # fmt: skip
            planned[(c.problem, c.form, c.method)] = (
                planned.get((c.problem, c.form, c.method), 0) + 1
            )
    have: dict[tuple[str, str, str], int] = {}
    for r in runs.values():
        key = (r["problem"], r["form"], r["method"])
        have[key] = have.get(key, 0) + 1
    return {k: r for k, r in runs.items() if have[(r["problem"], r["form"], r["method"])]
            >= planned.get((r["problem"], r["form"], r["method"]), 0)}  # fmt: skip


def _toy_results() -> dict[str, tuple[int, int]]:
    """Starts reached per toy variant ("plc", "plc-ref", ...) in docs/data/toy_results.json."""
    path = ROOT / "docs" / "data" / "toy_results.json"
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    reached: dict[str, list[bool]] = {}
    for run in data["runs"][: data["n_escape_runs"]]:  # the 8 starts; the sweep runs follow
        reached.setdefault(run["method"], []).append(bool(run["reached"]))
    return {m: (sum(v), len(v)) for m, v in reached.items()}


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


def hv_cell(by_method: dict, method: str, text) -> str:
    """One method's HV in a row of methods: ``text(cell)``, bold when tied-best, "-" if absent."""
    if method not in by_method:
        return "-"
    bold = best_methods({m: c["hv"] for m, c in by_method.items()}, True)
    shown = text(by_method[method]["hv"])
    return f"**{shown}**" if method in bold else shown


def overview(table: BenchTable, score: str, methods, higher: bool) -> str:
    """Rows: problem and form; columns: methods; the score's mean ± std, tied-best in bold."""
    labels = [METHODS[m].label for m in methods]
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


def _worst(cells: dict[str, Cell], method: str) -> bool:
    """``method`` has the lowest mean HV of the row, strictly below every other method's."""
    others = [c.mean for m, c in cells.items() if m != method]
    return bool(others) and cells[method].mean < min(others)


def _within_one_std(a: Cell, b: Cell) -> bool:
    """a is at least b's mean, or within one std (the larger of the two) of it."""
    return a.mean >= b.mean or b.mean - a.mean <= max(a.std, b.std)


def _paired(table: BenchTable, problem: str, form: str, method: str, base: str) -> str:
    d = table.paired(problem, form, method, base)
    if len(d) < 2:
        return "-"
    se = d.std(ddof=1) / np.sqrt(len(d))
    return f"{d.mean():+.4f} ± {se:.4f} (SE, {len(d)} seeds)"


def targets(table: BenchTable, dominated: dict, toy: dict[str, tuple[int, int]]) -> str:
    """Issue 14's targets for default PLC (with the reference), computed from the raw runs."""
    rows = table.rows
    keys = list(rows)
    hv = {k: {m: c["hv"] for m, c in rows[k].items()} for k in keys}
    best = [k for k in keys if "plc" in rows[k] and "plc" in best_methods(hv[k], True)]
    worst = [k for k in keys if "plc" in rows[k] and _worst(hv[k], "plc")]
    lines = [
        "| target | measured | met |",
        "|---|---|---|",
        f"| best or tied-best HV among all methods on ≥ 70% of problem-forms | {len(best)}/"
        f"{len(keys)} ({100 * len(best) / max(len(keys), 1):.0f}%) | "
        f"{_yes(len(best) >= 0.7 * len(keys))} |",
        f"| never the worst of the table on any problem-form | worst on {len(worst)} "
        f"({', '.join(f'{p} {f}' for p, f in worst) or 'none'}) | {_yes(not worst)} |",
    ]
    for form in FORMS:
        key = ("dtlz2-5", form)
        if key in rows and "epo" in rows[key] and "plc" in rows[key]:
            plc, epo = rows[key]["plc"]["hv"], rows[key]["epo"]["hv"]
            lines.append(
                f"| dtlz2-5 {form} within one std of EPO | PLC {fmt(plc)}, EPO {fmt(epo)} | "
                f"{_yes(_within_one_std(plc, epo))} |"
            )
    real = [k for k in keys if k[0] in REAL_DATA and "plc" in rows[k]]
    close = [k for k in real if "plc" in best_methods(hv[k], True)]
    dom = {k: dominated.get(k, {}).get("plc", (0, 0)) for k in real}
    hits = sum(d[0] for d in dom.values())
    runs = sum(d[1] for d in dom.values())
    lines += [
        f"| real data ({len(real)} problem-forms) within one std of the best method | "
        f"{len(close)}/{len(real)} (not: "
        f"{', '.join(f'{p} {f}' for p, f in real if (p, f) not in close) or 'none'}) | "
        f"{_yes(len(close) == len(real))} |",
        f"| real data: no dominated end points (LS lower by ≥ 0.01 in every objective) | "
        f"{hits} of {runs} runs | {_yes(hits == 0)} |",
    ]
    for method, what in (("plc", "without"), ("plc-ref", "with")):
        got, total = toy.get(method, (0, 0))
        lines.append(
            f"| toy escape 8/8 {what} a reference (`benchmarks/toy.py`, variant `{method}`) | "
            f"{got}/{total} | {_yes(total == 8 and got == 8)} |"
        )
    for problem in ("barrier-2", "barrier-3"):
        d = table.paired(problem, "noisy", "plc", "stch")
        if len(d) > 1:
            se = d.std(ddof=1) / np.sqrt(len(d))
            v3 = _paired(table, problem, "noisy", "plc-v3", "stch")
            lines.append(
                f"| barrier advantage over STCH kept, {problem} noisy (paired HV, mean > 2 SE; "
                f"v3: {v3}) | {d.mean():+.4f} ± {se:.4f} (SE, {len(d)} seeds) | "
                f"{_yes(d.mean() > 2 * se)} |"
            )
    misses = [f"{p} {f}" for p, f in keys if (p, f) not in best]
    lines += ["", f"Not best or tied-best in HV: {', '.join(misses) or 'none'}."]
    return "\n".join(lines)


def dominated_table(dominated: dict, methods: tuple[str, ...]) -> str:
    """Runs whose final normalized losses LS's run (same seed, preference, start) beats by at
    least 0.01 in every objective, per problem-form and method."""
    shown_methods = [m for m in methods if m != "ls"]
    lines = [
        "| problem | form | " + " | ".join(METHODS[m].label for m in shown_methods) + " |",
        "|---|---|" + "---|" * len(shown_methods),
    ]
    totals = {m: [0, 0] for m in shown_methods}
    for (problem, form), by_method in dominated.items():
        cells = []
        for m in shown_methods:
            if m not in by_method:
                cells.append("-")
                continue
            hit, total = by_method[m]
            totals[m][0] += hit
            totals[m][1] += total
            cells.append(f"**{hit}**/{total}" if hit else f"0/{total}")
        lines.append(f"| {problem} | {form} | " + " | ".join(cells) + " |")
    lines.append(
        "| all | | " + " | ".join(f"{totals[m][0]}/{totals[m][1]}" for m in shown_methods) + " |"
    )
    return "\n".join(lines)


def shown(table: BenchTable, comparison: bool = True) -> tuple[str, ...]:
    """The columns: the v4 suite's methods, then the comparison methods run."""
    present = {m for rows in table.rows.values() for m in rows}
    extra = V4_COMPARISON if comparison else ()
    return tuple(m for m in (*V4_METHODS, *extra) if m in present)


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def render_full(table: BenchTable, toy: dict[str, tuple[int, int]], meta: str) -> str:
    suite, comparison = SUITES["v4"], SUITES["v4-comparison"]
    if not table.records:
        return "No runs of the v4 suite yet: `python benchmarks/suite.py --jobs 2 --suites v4`."
    plots = sorted(p.name for p in IMG.glob("*.png")) if IMG.exists() else []
    methods = shown(table)
    dominated = dominated_counts(table.records)
    first = suite.first_seed
    parts = [
        f"The v4 suite: {len(table.records)} configurations ({len(table.rows)} problem-forms). "
        f"LS .. PLC (no reference) on seeds {first}-{first + suite.seeds - 1} (1 run for the "
        "toy's deterministic form, whose starts are fixed); "
        f"{', '.join(METHODS[m].label for m in V4_COMPARISON)} (the comparison methods, papers' "
        f"defaults, EPO given each loss's lower bound) on seeds {comparison.first_seed}-"
        f"{comparison.first_seed + comparison.seeds - 1} and without "
        f"{', '.join(f'{p} {f}' for p, f in comparison.exclude)} (shown as -): the compute one "
        "session allowed. No default was chosen on these seeds: the choices used seeds 100-101 "
        "and 200-202 ([docs/plc.md](plc.md)). `PLC (reference)` is spec v4's default given the "
        "problem's ideal and nadir (relative temperature, free descent after 0.2 H); `PLC v3` "
        'is the same with v3\'s rules (`temperature="absolute", free_descent=None`). Tied-best '
        f"in bold among all columns. {meta}.",
        "",
        "### Hypervolume (normalized losses, reference 1.1; mean ± std over seeds)",
        "",
        overview(table, "hv", methods, True),
        "",
        "### Dominated end points (per run: LS's run with the same seed, preference and start is "
        "lower by at least 0.01 in every normalized objective)",
        "",
        dominated_table(dominated, methods),
        "",
        "### Weighted Tchebycheff value max_k w_k f̃_k (lower: closer to the preference)",
        "",
        overview(table, "tcheb", methods, False),
        "",
        "### Escape rate (share of runs ending within 0.05 of the front)",
        "",
        overview(table, "escape", methods, True),
        "",
        "### Targets for default PLC (with the problem's reference; issue 14)",
        "",
        targets(table, dominated, toy),
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


def render_ablation(table: BenchTable, era: str) -> str:
    """Hypervolume of every variant, paired differences to its base and the Tchebycheff value.

    era "v4": the v4 ablation (base ``plc``, v4's default); "v3": the spec v3 era's ablation,
    whose ``plc`` column was v3's default (relabelled so)."""
    if not table.records:
        return f"No runs of the {era} ablation yet."
    order = V4_ABLATION_METHODS if era == "v4" else SUITES["ablation"].methods
    methods = [m for m in order if any(m in r for r in table.rows.values())]

    def label(m: str) -> str:
        if era == "v3" and m == "plc":
            return "PLC v3 default (reference) (`plc` in these runs)"
        if era == "v3" and m == "plc-noref":
            return "PLC v3 default, no reference (`plc-noref` in these runs)"
        return f"{METHODS[m].label} (`{m}`)"

    keys = list(table.rows)
    head = "| variant | " + " | ".join(f"{p} {f}" for p, f in keys) + " |"
    lines = [head, "|---|" + "---|" * len(keys)]
    for m in methods:
        cells = [hv_cell(table.rows[key], m, fmt) for key in keys]
        lines.append(f"| {label(m)} | " + " | ".join(cells) + " |")
    paired = [head, "|---|" + "---|" * len(keys)]
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
    tcheb = [head, "|---|" + "---|" * len(keys)]
    for m in methods:
        cells = [fmt(table.rows[k][m]["tcheb"]) if m in table.rows[k] else "-" for k in keys]
        tcheb.append(f"| {m} | " + " | ".join(cells) + " |")
    seeds = sorted({r["seed"] for r in table.records})
    return "\n".join(
        [
            f"{era} ablation: {len(table.records)} configurations, seeds "
            f"{', '.join(map(str, seeds))}. Hypervolume, mean ± std (tied-best in bold):",
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


def render_plc_v4(table: BenchTable) -> str:
    """docs/plc.md: v4 against v3 and LS on the report seeds, HV and dominated end points."""
    if not table.records:
        return "No runs of the v4 suite yet."
    methods = tuple(m for m in ("ls", "stch", "plc-v3", "plc", "plc-noref") if m in METHODS)
    dominated = dominated_counts([r for r in table.records if r["method"] in methods])
    lines = [
        "| problem | form | "
        + " | ".join(METHODS[m].label for m in methods)
        + " | PLC − PLC v3 (paired) | PLC dominated by LS |",
        "|---|---|" + "---|" * (len(methods) + 2),
    ]
    for (problem, form), by_method in table.rows.items():
        cells = {m: by_method[m]["hv"] for m in methods if m in by_method}
        bold = best_methods(cells, True)
        row = [
            (f"**{fmt(cells[m])}**" if m in bold else fmt(cells[m])) if m in cells else "-"
            for m in methods
        ]
        diff = _paired(table, problem, form, "plc", "plc-v3").split(" (")[0]
        hit, total = dominated.get((problem, form), {}).get("plc", (0, 0))
        lines.append(f"| {problem} | {form} | " + " | ".join(row) + f" | {diff} | {hit}/{total} |")
    seeds = sorted({r["seed"] for r in table.records if r["method"] in methods})
    return "\n".join(
        [
            f"Hypervolume on the v4 suite's report seeds ({', '.join(map(str, seeds))}; "
            "`python benchmarks/suite.py --render-only` regenerates this table; every method "
            "and score in [benchmarks.md](benchmarks.md)). Tied-best in bold among these "
            "columns:",
            "",
            *lines,
        ]
    )


def render_paths(paths: dict[str, BenchTable]) -> str:
    """docs/plc.md: the path study (no reference and/or no horizon), dev and decision seeds."""
    parts = []
    for name, title in (
        ("paths-dev", "Development seeds 100-101 (every choice)"),
        ("paths-decide", "Decision seeds 200-202 (the candidates left)"),
    ):
        table = paths.get(name)
        if table is None or not table.records:
            parts += [f"**{title}**: not run yet.", ""]
            continue
        present = {m for r in table.rows.values() for m in r}
        order = ("ls", *V4_ABLATION_METHODS, *LEADERS_TOO_METHODS, *PATH_METHODS)
        methods = [m for m in dict.fromkeys(order) if m in present]
        dominated = dominated_counts(table.records)
        keys = list(table.rows)
        head = "| method | " + " | ".join(f"{p} {f}" for p, f in keys) + " | dominated |"
        lines = [head, "|---|" + "---|" * (len(keys) + 1)]
        for m in methods:
            cells = [hv_cell(table.rows[key], m, lambda c: f"{c.mean:.3f}") for key in keys]
            hit = sum(d.get(m, (0, 0))[0] for d in dominated.values())
            total = sum(d.get(m, (0, 0))[1] for d in dominated.values())
            count = "-" if m == "ls" else f"{hit}/{total}"
            lines.append(f"| {METHODS[m].label} (`{m}`) | " + " | ".join(cells) + f" | {count} |")
        parts += [
            f"**{title}**: hypervolume, mean over seeds (tied-best in bold); the last column "
            "counts the runs LS dominates (lower by ≥ 0.01 in every normalized objective, same "
            "seed, preference and start), all problems together.",
            "",
            *lines,
            "",
        ]
    return "\n".join(parts).rstrip()


def render_summary(table: BenchTable) -> str:
    """The README's table: the v4 suite's methods, plus the best comparison method."""
    if not table.records:
        return "No runs of the v4 suite yet."
    lines = overview(table, "hv", shown(table, comparison=False), True).split("\n")
    lines[0] += " best comparison method |"
    lines[1] += "---|"
    for i, by_method in enumerate(table.rows.values(), start=2):
        cells = {m: by_method[m]["hv"] for m in V4_COMPARISON if m in by_method}
        if not cells:
            lines[i] += " - |"
            continue
        best = max(cells, key=lambda m: cells[m].mean)
        lines[i] += f" {METHODS[best].label} {fmt(cells[best])} |"
    return "\n".join(
        [
            "Hypervolume of the v4 suite (seeds 10-12; normalized losses, reference 1.1, mean ± "
            "std over seeds, tied-best in bold among the columns shown; the last column is the "
            "best of EPO, UPGrad and Nash-MTL by mean, on 2 seeds; every method, score and plot "
            "in [docs/benchmarks.md](docs/benchmarks.md)):",
            "",
            *lines,
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
