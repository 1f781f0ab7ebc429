"""Tables of raw results: mean ± std over seeds per problem, form and method, best in bold."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from moo_lenient.bench.suites import METHODS

#: (score key, column title, True if higher is better)
COLUMNS = (
    ("hv", "HV ↑", True),
    ("igd", "IGD ↓", False),
    ("ms", "MS ↑", True),
    ("pc", "PC ↑", True),
    ("tcheb", "Tcheb ↓", False),
    ("escape", "escape ↑", True),
)


@dataclass(frozen=True)
class Cell:
    mean: float
    std: float
    n: int


@dataclass
class BenchTable:
    """Results of a benchmark run: the raw records and their summary.

    ``rows[(problem, form)][method][score]`` is a :class:`Cell` (mean and sample std over seeds).
    ``str(table)`` / :meth:`to_markdown` render one markdown table per problem and form.
    """

    records: list[dict]

    def __post_init__(self) -> None:
        self.rows = summarize(self.records)

    def to_markdown(self, problems: Sequence[str] | None = None) -> str:
        return "\n\n".join(
            problem_table(self.rows, key)
            for key in self.rows
            if problems is None or key[0] in problems
        )

    def __str__(self) -> str:
        return self.to_markdown()

    def paired(self, problem: str, form: str, method: str, baseline: str, score: str = "hv"):
        """Per-seed differences ``method - baseline`` of a score (seeds both have)."""
        return paired_difference(self.records, problem, form, method, baseline, score)


def summarize(records: Sequence[dict]) -> dict[tuple[str, str], dict[str, dict[str, Cell]]]:
    groups: dict[tuple[str, str], dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for rec in records:
        groups[(rec["problem"], rec["form"])][rec["method"]].append(rec["metrics"])
    rows: dict = {}
    for key, by_method in groups.items():
        rows[key] = {}
        for method, scores in by_method.items():
            rows[key][method] = {}
            for name, _, _ in COLUMNS:
                values = np.array([s[name] for s in scores], dtype=np.float64)
                std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
                rows[key][method][name] = Cell(float(values.mean()), std, len(values))
    return rows


def best_methods(cells: dict[str, Cell], higher: bool) -> set[str]:
    """The best mean and every method within one std of it (the larger of the two stds)."""
    finite = {m: c for m, c in cells.items() if np.isfinite(c.mean)}
    if not finite:
        return set()
    best = max(finite, key=lambda m: finite[m].mean if higher else -finite[m].mean)
    top = finite[best]
    return {
        m
        for m, c in finite.items()
        if abs(c.mean - top.mean) <= max(c.std, top.std) or c.mean == top.mean
    }


def _fmt(cell: Cell) -> str:
    if not np.isfinite(cell.mean):
        return "diverged"
    if cell.n > 1:
        return f"{cell.mean:.3f} ± {cell.std:.3f}"
    return f"{cell.mean:.3f}"


def problem_table(rows: dict, key: tuple[str, str]) -> str:
    problem, form = key
    by_method = rows[key]
    methods = [m for m in METHODS if m in by_method] + [m for m in by_method if m not in METHODS]
    bold = {
        name: best_methods({m: by_method[m][name] for m in methods}, higher)
        for name, _, higher in COLUMNS
    }
    seeds = max(c.n for m in methods for c in by_method[m].values())
    lines = [
        f"**{problem}**, {form} ({seeds} seed{'s' if seeds > 1 else ''})",
        "",
        "| method | " + " | ".join(title for _, title, _ in COLUMNS) + " |",
        "|---|" + "---|" * len(COLUMNS),
    ]
    for m in methods:
        cells = []
        for name, _, _ in COLUMNS:
            text = _fmt(by_method[m][name])
            cells.append(f"**{text}**" if m in bold[name] else text)
        label = METHODS[m].label if m in METHODS else m
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def dominated_counts(
    records: Sequence[dict], baseline: str = "ls"
) -> dict[tuple[str, str], dict[str, tuple[int, int]]]:
    """Per problem and form, per method: (runs dominated by ``baseline``'s run with the same seed,
    preference and start, runs compared); see :func:`moo_lenient.bench.scoring.dominated`."""
    from moo_lenient.bench.scoring import dominated
    from moo_lenient.bench.suites import PROBLEMS

    base = {(r["problem"], r["form"], r["seed"]): r for r in records if r["method"] == baseline}
    references: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    out: dict[tuple[str, str], dict[str, tuple[int, int]]] = defaultdict(dict)
    for rec in records:
        other = base.get((rec["problem"], rec["form"], rec["seed"]))
        if rec["method"] == baseline or other is None:
            continue
        if rec["preference_vectors"] != other["preference_vectors"]:
            raise ValueError(f"{rec['key']} and {other['key']} ran different preferences")
        if rec["problem"] not in references:
            problem = PROBLEMS[rec["problem"]].build()
            references[rec["problem"]] = (problem.ideal(), problem.nadir())
        mask = dominated(rec["final_values"], other["final_values"], *references[rec["problem"]])
        hit, total = out[(rec["problem"], rec["form"])].get(rec["method"], (0, 0))
        out[(rec["problem"], rec["form"])][rec["method"]] = (
            hit + int(mask.sum()),
            total + len(mask),
        )
    return dict(out)


def paired_difference(
    records: Sequence[dict], problem: str, form: str, method: str, baseline: str, score: str
) -> np.ndarray:
    by_seed: dict[str, dict[int, float]] = {method: {}, baseline: {}}
    for rec in records:
        if rec["problem"] == problem and rec["form"] == form and rec["method"] in by_seed:
            by_seed[rec["method"]][rec["seed"]] = rec["metrics"][score]
    seeds = sorted(set(by_seed[method]) & set(by_seed[baseline]))
    return np.array([by_seed[method][s] - by_seed[baseline][s] for s in seeds])
