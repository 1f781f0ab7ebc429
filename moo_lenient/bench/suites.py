"""What the benchmark runs: problems with their protocol, methods with their settings, suites.

Every problem runs in two forms, ``det`` (exact gradients) and ``noisy`` (its stochastic form:
minibatches for the real-data problems, additive gradient noise of the documented size for the
others). Methods that take a reference point get the problem's ideal and nadir (for the
real-data problems: those of the estimated front); ``plc-noref`` is PLC as a user who knows no
reference would run it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from moo_lenient.methods import MGDA, PLC, LinearScalarization, PCGrad, get
from moo_lenient.methods.base import Method
from moo_lenient.problems import DTLZ2, VLMOP2, ZDT1, ZDT2, ZDT3, FonsecaFleming, Problem
from moo_lenient.problems.barrier import Barrier
from moo_lenient.problems.base import lattice_divisions
from moo_lenient.problems.toy import PROTOCOLS, CAGradToy

FORMS = ("det", "noisy")
PREFERENCE_OFFSET = 0.02  # w <- (w + 0.02) / (1 + 0.02 K): off the simplex's boundary


@dataclass(frozen=True)
class ProblemSpec:
    """A problem and its protocol: Adam learning rate, steps, number of preference vectors."""

    key: str
    build: Callable[[], Problem]
    lr: float
    steps: int
    preferences: int
    starts: tuple[tuple[float, ...], ...] | None = None  # fixed starts (the toy); else sampled
    escape_in_raw_units: bool = False  # the toy: escape measured in raw loss units
    notes: str = ""


@dataclass(frozen=True)
class MethodSpec:
    """A method configuration; ``build(problem, steps)`` returns a fresh instance."""

    key: str
    build: Callable[[Problem, int], Method]
    label: str
    ablation_of: str | None = None
    options: dict = field(default_factory=dict)


def _toy(protocol: str) -> ProblemSpec:
    proto = PROTOCOLS[protocol]
    return ProblemSpec(
        key=f"toy-{protocol}",
        build=lambda: CAGradToy(proto.scale),
        lr=1e-2,
        steps=3000,
        preferences=3,
        starts=proto.starts,
        escape_in_raw_units=True,
        notes=f"loss scale {proto.scale}, {len(proto.starts)} starts of the {protocol} protocol",
    )


def _digits(tasks: int) -> ProblemSpec:
    def build() -> Problem:
        from moo_lenient.problems.digits import DigitsMTL

        return DigitsMTL(tasks=tasks)

    return ProblemSpec(
        key=f"digits-{tasks}",
        build=build,
        lr=1e-2,
        steps=1000,
        preferences=11 if tasks == 2 else 15,
        notes="sklearn's 8x8 digits, shared MLP, one head per task; front estimated",
    )


PROBLEMS: dict[str, ProblemSpec] = {
    spec.key: spec
    for spec in (
        _toy("cagrad"),
        _toy("nash"),
        ProblemSpec("zdt1", lambda: ZDT1(30), 1e-2, 1000, 11, notes="30 variables, convex"),
        ProblemSpec("zdt2", lambda: ZDT2(30), 1e-2, 1000, 11, notes="30 variables, concave"),
        ProblemSpec("zdt3", lambda: ZDT3(30), 1e-2, 1000, 11, notes="30 variables, disconnected"),
        ProblemSpec("dtlz2-3", lambda: DTLZ2(3), 1e-2, 1000, 15, notes="12 variables"),
        ProblemSpec("dtlz2-5", lambda: DTLZ2(5), 1e-2, 1000, 15, notes="14 variables"),
        ProblemSpec("vlmop2", VLMOP2, 1e-2, 1000, 11, notes="2 variables in [-2, 2], concave"),
        ProblemSpec(
            "fonseca-fleming", lambda: FonsecaFleming(3), 1e-2, 1000, 11, notes="3 variables"
        ),
        ProblemSpec("barrier-2", lambda: Barrier(2), 1e-2, 1000, 11, notes="ridge in f1"),
        ProblemSpec("barrier-3", lambda: Barrier(3), 1e-2, 1000, 15, notes="ridge in f1"),
        _digits(2),
        _digits(3),
    )
}


def _reference(problem: Problem) -> dict:
    return {"ideal": problem.ideal().tolist(), "nadir": problem.nadir().tolist()}


def _plc(**options) -> Callable[[Problem, int], Method]:
    def build(problem: Problem, steps: int) -> Method:
        return PLC(horizon=steps, **_reference(problem), **options)

    return build


def _stch(problem: Problem, steps: int) -> Method:
    return get("stch", **_reference(problem))


_MAIN = (
    MethodSpec("ls", lambda p, s: LinearScalarization(), "LS"),
    MethodSpec("mgda", lambda p, s: MGDA(), "MGDA"),
    MethodSpec("pcgrad", lambda p, s: PCGrad(seed=0), "PCGrad"),
    MethodSpec("stch", _stch, "STCH (reference)"),
    MethodSpec("plc", _plc(), "PLC (reference)"),
    MethodSpec("plc-noref", lambda p, s: PLC(horizon=s), "PLC (no reference)"),
)

_ABLATIONS = (
    ("plc-nodecay", "no decay (constant κ = 1.5)", {"schedule": "constant"}),
    ("plc-noescape", "no stall escape (ε = 0)", {"stall_eps": 0.0}),
    ("plc-rigid", "always rectify (κ = ∞, ε = 0)", {"kappa0": math.inf, "stall_eps": 0.0}),
    ("plc-annealed", "annealed temperature (μ 1 → 0.02)", {"mu_start": 1.0}),
    ("plc-ema-l2", "ema_l2 voices", {"voices": "ema_l2"}),
    ("plc-l2", "l2 voices", {"voices": "l2"}),
    ("plc-l2-harmonic", "l2 voices + harmonic rescale", {"voices": "l2", "rescale": "harmonic"}),
    ("plc-linear", "linear proposal (π = w)", {"proposal": "linear"}),
    ("plc-mu0.1", "μ = 0.1", {"mu": 0.1}),
    ("plc-kappa3", "κ_0 = 3", {"kappa0": 3.0}),
    ("plc-cosine", "cosine schedule", {"schedule": "cosine"}),
    ("plc-excursion", "coalition excursion (opt-in)", {"excursion": {}}),
)


def lower_bounds(problem: Problem) -> list[float]:
    """A lower bound of each loss, for the methods that work with ``f - f_min`` (FAMO, EPO):
    0 where the sampled ideal is non-negative (every loss of those problems is >= 0), else the
    sampled ideal less 1% of the front's range (the toy's losses and ZDT3's f2 are negative, and
    a sampled ideal can sit slightly above the true minimum)."""
    ideal, nadir = problem.ideal(), problem.nadir()
    low = np.where(ideal >= 0.0, 0.0, ideal - 0.01 * (nadir - ideal))
    return low.tolist()


# The comparison methods with their papers' defaults; FAMO and EPO get the problem's lower bounds.
_COMPARISON = (
    MethodSpec("cagrad", lambda p, s: get("cagrad"), "CAGrad"),
    MethodSpec("nashmtl", lambda p, s: get("nashmtl"), "Nash-MTL"),
    MethodSpec("imtlg", lambda p, s: get("imtlg"), "IMTL-G"),
    MethodSpec("alignedmtl", lambda p, s: get("alignedmtl"), "Aligned-MTL"),
    MethodSpec("upgrad", lambda p, s: get("upgrad"), "UPGrad"),
    MethodSpec("dualproj", lambda p, s: get("dualproj"), "DualProj"),
    MethodSpec("famo", lambda p, s: get("famo", min_losses=lower_bounds(p)), "FAMO"),
    MethodSpec("epo", lambda p, s: get("epo", min_losses=lower_bounds(p)), "EPO"),
)

METHODS: dict[str, MethodSpec] = {spec.key: spec for spec in (*_MAIN, *_COMPARISON)}
METHODS.update(
    {
        key: MethodSpec(key, _plc(**opts), label, ablation_of="plc", options=opts)
        for key, label, opts in _ABLATIONS
    }
)
METHODS["plc-noref-constmu"] = MethodSpec(
    "plc-noref-constmu",
    lambda p, s: PLC(horizon=s, mu_start=None),
    "no reference, constant temperature",
    ablation_of="plc-noref",
    options={"mu_start": None},
)


@dataclass(frozen=True)
class Suite:
    name: str
    problems: tuple[str, ...]
    methods: tuple[str, ...]
    seeds: int
    forms: tuple[str, ...] = FORMS
    steps: int | None = None  # overrides every problem's steps
    preferences: int | None = None  # overrides every problem's count
    exclude: tuple[tuple[str, str], ...] = ()  # (problem, form) pairs left out


MAIN_METHODS = tuple(spec.key for spec in _MAIN)
COMPARISON_METHODS = tuple(spec.key for spec in _COMPARISON)
ABLATION_METHODS = (
    "plc",
    "stch",
    "plc-noref",
    *(k for k in METHODS if k not in MAIN_METHODS and k not in COMPARISON_METHODS),
)
ABLATION_PROBLEMS = ("barrier-2", "barrier-3", "dtlz2-5", "digits-2")

SUITES: dict[str, Suite] = {
    "quick": Suite(
        "quick",
        ("zdt1", "dtlz2-3", "barrier-2", "digits-2"),
        MAIN_METHODS,
        seeds=2,
        steps=300,
        preferences=6,
    ),
    "full": Suite("full", tuple(PROBLEMS), MAIN_METHODS, seeds=3),
    # The comparison methods on the full suite's problems, same protocol and starts, with 2 of
    # the 3 seeds and without the real-data problems' full-batch forms (together 60% of the
    # full suite's time): what one working session's compute allowed; stated in the tables.
    "comparison": Suite(
        "comparison",
        tuple(PROBLEMS),
        COMPARISON_METHODS,
        seeds=2,
        exclude=(("digits-2", "det"), ("digits-3", "det")),
    ),
    # The real-data problem only in its stochastic (minibatch) form: its full-batch form costs
    # about 10x more per step.
    "ablation": Suite(
        "ablation",
        ABLATION_PROBLEMS,
        ABLATION_METHODS,
        seeds=5,
        exclude=(("digits-2", "det"),),
    ),
}


def das_dennis(num_objectives: int, count: int) -> np.ndarray:
    """About ``count`` preference vectors: pymoo's Das-Dennis grid with the most partitions that
    gives at most ``count`` points (at least 1 partition), shifted off the simplex's boundary."""
    from pymoo.util.ref_dirs import get_reference_directions

    m = num_objectives
    partitions = lattice_divisions(m, count)
    grid = get_reference_directions("das-dennis", m, n_partitions=partitions)
    return (grid + PREFERENCE_OFFSET) / (1 + PREFERENCE_OFFSET * m)
