"""The ``moo-lenient`` command line.

moo-lenient bench [--suite quick|full|ablation] [--methods ...] [--problems ...]
                  [--preferences N] [--seeds N] [--steps N] [--forms det noisy]
                  [--jobs N] [--out DIR] [--no-plots]
moo-lenient bench --list          # the problems, methods and suites it knows
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence


def _names(text: str) -> list[str]:
    return [part for part in text.replace(",", " ").split() if part]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moo-lenient", description="Multi-objective gradient optimization benchmarks."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser(
        "bench",
        help="run the synthetic Pareto benchmark",
        description="Methods x problems x preference vectors x seeds; writes runs.jsonl (raw, "
        "resumable), table.md and plots/ into --out and prints the table.",
    )
    bench.add_argument("--suite", default="quick", help="quick (default), full or ablation")
    bench.add_argument("--methods", nargs="+", type=str, help="subset of methods")
    bench.add_argument("--problems", nargs="+", type=str, help="subset of problems")
    bench.add_argument("--forms", nargs="+", type=str, help="det and/or noisy")
    bench.add_argument("--preferences", type=_positive_int, help="preference vectors per problem")
    bench.add_argument("--seeds", type=_positive_int, help="number of seeds")
    bench.add_argument("--steps", type=_positive_int, help="optimizer steps per run")
    bench.add_argument(
        "--jobs", type=_positive_int, default=1, help="worker processes (same results)"
    )
    bench.add_argument("--out", default="bench-results", help="output folder (resumable)")
    bench.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    bench.add_argument("--no-progress", action="store_true", help="no progress bar")
    bench.add_argument("--list", action="store_true", help="list problems, methods, suites")
    return parser


def _flatten(values: Sequence[str] | None) -> list[str] | None:
    if not values:
        return None
    return [name for value in values for name in _names(value)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from moo_lenient import bench
    except ImportError as exc:  # pragma: no cover - depends on the environment
        parser.exit(2, f"moo-lenient: {exc}\n")
    if args.list:
        print(listing())
        return 0
    began = time.perf_counter()
    try:
        table = bench.run(
            suite=args.suite,
            methods=_flatten(args.methods),
            problems=_flatten(args.problems),
            forms=_flatten(args.forms),
            preferences=args.preferences,
            seeds=args.seeds,
            steps=args.steps,
            jobs=args.jobs,
            out=args.out,
            plots=not args.no_plots,
            progress=not args.no_progress,
        )
    except (ValueError, ImportError, OSError) as exc:
        parser.exit(2, f"moo-lenient bench: error: {exc}\n")
    except KeyboardInterrupt:
        parser.exit(130, f"\ninterrupted; rerun the same command to resume from {args.out}\n")
    print(table.to_markdown())
    print(
        f"\n{len(table.records)} configurations in {time.perf_counter() - began:.0f} s; "
        f"raw results, table.md and plots in {os.path.abspath(args.out)}"
    )
    return 0


def listing() -> str:
    from moo_lenient.bench import METHODS, PROBLEMS, SUITES

    lines = ["problems:"]
    lines += [f"  {k:<16} {spec.notes}" for k, spec in PROBLEMS.items()]
    lines.append("methods:")
    lines += [f"  {k:<20} {spec.label}" for k, spec in METHODS.items()]
    lines.append("suites:")
    for name, s in SUITES.items():
        lines.append(
            f"  {name:<8} {len(s.problems)} problems x {len(s.methods)} methods x "
            f"{s.seeds} seeds x forms {'/'.join(s.forms)}"
        )
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
