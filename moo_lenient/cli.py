"""The ``moo-lenient`` command line.

moo-lenient bench [--suite quick|full|ablation] [--methods ...] [--problems ...]
                  [--preferences N] [--seeds N] [--steps N] [--forms det noisy]
                  [--jobs N] [--out DIR] [--no-plots]
moo-lenient bench --list          # the problems, methods and suites it knows
moo-lenient align --preset tiny --method plc --preference 0.6,0.4 --steps N --out DIR
moo-lenient align-sweep --preset tiny [--methods plc ls mgda pcgrad] [--preferences 5]
                        [--steps N] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any


def _names(text: str) -> list[str]:
    return [part for part in text.replace(",", " ").split() if part]


def _int_at_least(low: int, what: str):
    """An argparse type: an integer >= ``low``, refused with "expected <what>, got ..."."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        return value

    return parse


_non_negative_int = _int_at_least(0, "an integer >= 0")
_positive_int = _int_at_least(1, "a positive integer")


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
    bench.add_argument(
        "--first-seed", type=_non_negative_int, help="the first seed (default: the suite's)"
    )
    bench.add_argument("--steps", type=_positive_int, help="optimizer steps per run")
    bench.add_argument(
        "--jobs", type=_positive_int, default=1, help="worker processes (same results)"
    )
    bench.add_argument("--out", default="bench-results", help="output folder (resumable)")
    bench.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    bench.add_argument("--no-progress", action="store_true", help="no progress bar")
    bench.add_argument("--list", action="store_true", help="list problems, methods, suites")
    _add_align_parsers(sub)
    return parser


def _preference(text: str) -> list[float]:
    try:
        return [float(x) for x in _names(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers such as 0.6,0.4, got {text!r}"
        ) from None


def _add_align_parsers(sub: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--preset", default="tiny", help="model preset (default tiny)")
    common.add_argument("--model-path", help="a local pretrained model folder instead")
    common.add_argument(
        "--rewards", nargs="+", default=["words", "brevity"], help="reward names (K of them)"
    )
    common.add_argument("--steps", type=_positive_int, default=80, help="optimizer steps")
    common.add_argument("--seed", type=int, default=0)
    common.add_argument("--lr", type=float, default=1e-2, help="learning rate (AdamW)")
    common.add_argument(
        "--scope",
        choices=["auto", "lora", "full"],
        default="auto",
        help="trainable parameters: LoRA adapters or the full model (auto: full for the "
        "random tiny preset, LoRA for --model-path)",
    )
    common.add_argument(
        "--eval-prompts", type=_positive_int, default=32, help="held-out prompts to score"
    )
    common.add_argument("--no-progress", action="store_true", help="no progress bar")
    align = sub.add_parser(
        "align",
        parents=[common],
        help="multi-reward policy-gradient fine-tuning of a causal LM under a preference",
        description="Trains LoRA adapters (or the full model) against K rewards with one "
        "method; writes log.csv, checkpoint.pt and result.json into --out.",
    )
    align.add_argument("--method", default="plc", help="aggregation method (default plc)")
    align.add_argument("--preference", type=_preference, help="K weights, e.g. 0.6,0.4")
    align.add_argument("--beta", type=float, default=0.0, help="KL weight (shared)")
    align.add_argument(
        "--log-every", type=int, default=10, help="print a summary every N steps (0: never)"
    )
    align.add_argument("--out", default="align-results", help="output folder")
    sweep = sub.add_parser(
        "align-sweep",
        parents=[common],
        help="a front over preferences for several methods (tiny LM and tabular policy)",
        description="Trains one policy per method x preference, evaluates it on held-out "
        "prompts, and writes sweep.json, table.md and front plots into --out.",
    )
    sweep.add_argument("--methods", nargs="+", default=["plc", "ls", "mgda", "pcgrad"])
    sweep.add_argument("--preferences", type=_positive_int, default=5)
    sweep.add_argument("--seeds", type=_positive_int, default=3, help="seeds per preference")
    sweep.add_argument(
        "--render-only", action="store_true", help="redo table.md and plots from sweep.json"
    )
    sweep.add_argument(
        "--tabular-steps", type=_positive_int, default=300, help="steps of the tabular sweep"
    )
    sweep.add_argument("--out", default="align-results", help="output folder")


def _align_config(args: argparse.Namespace) -> Any:
    from moo_lenient.llm.sweep import default_config

    config = default_config(args.model_path)
    lora = config.lora if args.scope == "auto" else args.scope == "lora"
    return replace(config, learning_rate=args.lr, lora=lora)


def _align_main(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        from moo_lenient.llm import sweep as llm_sweep
    except ImportError as exc:
        parser.exit(2, f"moo-lenient {args.command}: {exc}\n")
    if args.model_path is not None and args.preset != "tiny":
        parser.exit(2, f"moo-lenient {args.command}: error: give --preset or --model-path\n")
    began = time.perf_counter()
    try:
        if args.command == "align-sweep" and args.render_only:
            print(llm_sweep.render(args.out))
        elif args.command == "align-sweep":
            result = llm_sweep.align_sweep(
                _flatten(args.methods) or [],
                args.preferences,
                rewards=_flatten(args.rewards) or [],
                steps=args.steps,
                seeds=args.seeds,
                seed=args.seed,
                out=args.out,
                tabular_steps=args.tabular_steps,
                eval_prompts=args.eval_prompts,
                config=_align_config(args),
                model_path=args.model_path,
                progress=not args.no_progress,
            )
            print(result["table"])
        else:
            rewards = _flatten(args.rewards) or []
            config = replace(
                _align_config(args),
                method=args.method,
                preference=args.preference,
                beta=args.beta,
                log_every=args.log_every,
            )
            result = llm_sweep.align_cli_run(args, rewards, config)
            print(result["summary"])
    except (ValueError, ImportError, OSError) as exc:
        parser.exit(2, f"moo-lenient {args.command}: error: {exc}\n")
    print(f"\ndone in {time.perf_counter() - began:.0f} s; outputs in {os.path.abspath(args.out)}")
    return 0


def _flatten(values: Sequence[str] | None) -> list[str] | None:
    if not values:
        return None
    return [name for value in values for name in _names(value)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("align", "align-sweep"):
        return _align_main(args, parser)
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
            first_seed=args.first_seed,
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
