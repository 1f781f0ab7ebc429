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


def _breast_cancer() -> ProblemSpec:
    def build() -> Problem:
        from moo_lenient.problems.breast_cancer import BreastCancerMTL

        return BreastCancerMTL()

    return ProblemSpec(
        key="breast-cancer",
        build=build,
        lr=1e-2,
        steps=1000,
        preferences=11,
        notes="sklearn's breast cancer: diagnosis + withheld tumour size, 1-unit bottleneck; "
        "front estimated",
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
        _breast_cancer(),
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


# PLC as spec v3 defined it with a reference (absolute temperature, no free descent): the
# reference column of the v4 suite.
PLC_V3: dict = {"temperature": "absolute", "free_descent": None}

_MAIN = (
    MethodSpec("ls", lambda p, s: LinearScalarization(), "LS"),
    MethodSpec("mgda", lambda p, s: MGDA(), "MGDA"),
    MethodSpec("pcgrad", lambda p, s: PCGrad(seed=0), "PCGrad"),
    MethodSpec("stch", _stch, "STCH (reference)"),
    MethodSpec("plc", _plc(), "PLC (reference)"),
    MethodSpec("plc-noref", lambda p, s: PLC(horizon=s), "PLC (no reference)"),
    MethodSpec("plc-v3", _plc(**PLC_V3), "PLC v3 (reference)", options=PLC_V3),
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
METHODS["stch-rel"] = MethodSpec(
    "stch-rel",
    lambda p, s: get("stch", temperature="relative", **_reference(p)),
    "STCH, relative temperature (reference)",
    ablation_of="stch",
    options={"temperature": "relative"},
)
METHODS.update(
    {
        # the v3 era's variants keep v3's rules, as their stored runs had them
        key: MethodSpec(key, _plc(**PLC_V3, **opts), label, ablation_of="plc", options=opts)
        for key, label, opts in _ABLATIONS
    }
)
# Spec v4's variants that lost, kept in the ablation (issue 14): PLC with the reference.
_V4_ABLATIONS = (
    ("plc-abs-temp", "v4, absolute temperature", {"temperature": "absolute"}),
    ("plc-no-fd", "v4, free descent off (relative temperature only)", {"free_descent": None}),
    ("plc-fd-start0", "v4, free descent warm-up 0", {"free_descent": {"start": 0.0}}),
    ("plc-fd-start0.1", "v4, free descent warm-up 0.1 H", {"free_descent": {"start": 0.1}}),
    ("plc-fd-start0.3", "v4, free descent warm-up 0.3 H", {"free_descent": {"start": 0.3}}),
    ("plc-fd-tie1", "v4, free descent tie width 1", {"free_descent": {"tie": 1.0}}),
    ("plc-fd-coef2", "v4, free descent coefficient 2", {"free_descent": {"coef": 2.0}}),
    ("plc-mu0.05", "v4, μ = 0.05", {"mu": 0.05}),
    # κ ≡ 1: the coalition rule off (nothing rectified, no decay); with free descent off too it
    # is STCH at the relative temperature (the stch-rel column), as spec v4's special case says.
    ("plc-kappa1", "v4, κ ≡ 1 (no coalition rule)", {"kappa0": 1.0, "schedule": "constant"}),
)
METHODS.update(
    {
        key: MethodSpec(key, _plc(**opts), label, ablation_of="plc", options=opts)
        for key, label, opts in _V4_ABLATIONS
    }
)

# The paths most users take (no reference and/or no horizon), v3's rules against v4's: the
# candidates measured for PLC's defaults there (issue 14, item 2).
_REL_FD0 = {"temperature": "relative", "free_descent": {"start": 0.0}}
_V3_RULES = {"temperature": "absolute", "free_descent": None}
_PATHS = (
    # (key, label, reference, horizon, options)
    ("plc-noref-v3", "no reference, v3 rules", False, True, _V3_RULES),
    ("plc-noref-rel-fd0", "no reference, relative + free descent from 0", False, True, _REL_FD0),
    (
        "plc-noref-rel-fd0.2",
        "no reference, relative + free descent from 0.2 H",
        False,
        True,
        {"temperature": "relative", "free_descent": {"start": 0.2}},
    ),
    (
        "plc-noref-rel-fd0-coef2",
        "no reference, relative + free descent from 0, coefficient 2",
        False,
        True,
        {"temperature": "relative", "free_descent": {"start": 0.0, "coef": 2.0}},
    ),
    (
        "plc-noref-fd0",
        "no reference, absolute + free descent from 0",
        False,
        True,
        {"temperature": "absolute", "free_descent": {"start": 0.0}},
    ),
    ("plc-nohorizon-v3", "no reference, no horizon, v3 rules", False, False, _V3_RULES),
    (
        "plc-nohorizon-rel-fd0",
        "no reference, no horizon, relative + free descent from 0",
        False,
        False,
        _REL_FD0,
    ),
    ("plc-ref-nohorizon-v3", "reference, no horizon, v3 rules", True, False, _V3_RULES),
    (
        "plc-ref-nohorizon-rel-fd0",
        "reference, no horizon, relative + free descent from 0",
        True,
        False,
        _REL_FD0,
    ),
)


def _path(
    reference: bool, horizon: bool, options: dict, leaders_too: bool = False
) -> Callable[[Problem, int], Method]:
    def build(problem: Problem, steps: int) -> Method:
        ref = _reference(problem) if reference else {}
        method = PLC(**ref, **({"horizon": steps} if horizon else {}), **options)
        method._fd_leaders_too = leaders_too  # research variant: free descent targets w everywhere
        return method

    return build


METHODS.update(
    {
        key: MethodSpec(key, _path(ref, hor, opts), label, ablation_of="plc-noref", options=opts)
        for key, label, ref, hor, opts in _PATHS
    }
)
# A research variant of free descent (not the spec's rule): its target is w on every voiced
# objective, leaders included, so tied leaders also get the common descent of the
# preference-weighted direction (Study 9's "no objective may increase with target w").
_LEADERS_TOO = (
    ("plc-fd-all", "v4, free descent targets every objective", True, True, {}),
    (
        "plc-noref-rel-fd-all",
        "no reference, relative + free descent targeting every objective",
        False,
        True,
        {"temperature": "relative", "free_descent": {"start": 0.2}},
    ),
)
METHODS.update(
    {
        key: MethodSpec(key, _path(ref, hor, opts, True), label, ablation_of="plc", options=opts)
        for key, label, ref, hor, opts in _LEADERS_TOO
    }
)
PATH_METHODS = tuple(key for key, *_ in _PATHS)
LEADERS_TOO_METHODS = tuple(key for key, *_ in _LEADERS_TOO)
V4_ABLATION_METHODS = ("plc", "plc-v3", *(key for key, *_ in _V4_ABLATIONS), "stch", "stch-rel")

METHODS["plc-noref-constmu"] = MethodSpec(
    "plc-noref-constmu",
    lambda p, s: PLC(horizon=s, mu_start=None, **PLC_V3),
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
    first_seed: int = 0  # seeds first_seed .. first_seed + seeds - 1


MAIN_METHODS = tuple(spec.key for spec in _MAIN if spec.key != "plc-v3")
# The v4 suite (issue 14): the main methods, PLC v3 as the reference column, on seeds 10-12
# (report only: no default was chosen on them); EPO, UPGrad and Nash-MTL on 2 of the seeds.
V4_METHODS = ("ls", "mgda", "pcgrad", "stch", "plc-v3", "plc", "plc-noref")
V4_COMPARISON = ("epo", "upgrad", "nashmtl")
COMPARISON_METHODS = tuple(spec.key for spec in _COMPARISON)
ABLATION_METHODS = (
    "plc",
    "stch",
    "plc-noref",
    *(
        k
        for k in METHODS
        if k
        not in (
            *MAIN_METHODS,
            *COMPARISON_METHODS,
            *V4_ABLATION_METHODS,
            *PATH_METHODS,
            *LEADERS_TOO_METHODS,
        )
    ),
)
ABLATION_PROBLEMS = ("barrier-2", "barrier-3", "dtlz2-5", "digits-2")
# Problems of the path study: the real-data ones, the toy, a concave front, 5 objectives, a
# barrier (the cells where v4 moved most or cost something).
PATH_PROBLEMS = (
    "toy-cagrad",
    "zdt2",
    "dtlz2-5",
    "barrier-3",
    "digits-2",
    "digits-3",
    "breast-cancer",
)
# one form each where the other costs much more or says little new (compute, not choice)
PATH_EXCLUDE = (
    ("toy-cagrad", "noisy"),
    ("barrier-3", "noisy"),
    ("dtlz2-5", "noisy"),
    ("digits-3", "det"),
)

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
    "v4": Suite("v4", tuple(PROBLEMS), V4_METHODS, seeds=3, first_seed=10),
    "v4-comparison": Suite(
        "v4-comparison",
        tuple(PROBLEMS),
        V4_COMPARISON,
        seeds=2,
        exclude=(("digits-2", "det"), ("digits-3", "det")),
        first_seed=10,
    ),
    # Issue 14's choices for the paths without a reference or a horizon: development seeds
    # 100-101 for every choice, seeds 200-202 to decide between the candidates.
    "paths-dev": Suite(
        "paths-dev",
        PATH_PROBLEMS,
        ("ls", "plc", *PATH_METHODS),
        seeds=2,
        exclude=PATH_EXCLUDE,
        first_seed=100,
    ),
    "paths-decide": Suite(
        "paths-decide",
        PATH_PROBLEMS,
        ("ls", "plc", *PATH_METHODS),
        seeds=3,
        exclude=PATH_EXCLUDE,
        first_seed=200,
    ),
    # v4's ablation: every variant that lost, on the ablation problems, report seeds 10-12.
    "v4-ablation": Suite(
        "v4-ablation",
        (*ABLATION_PROBLEMS, "digits-3", "zdt2", "breast-cancer"),
        V4_ABLATION_METHODS,
        seeds=3,
        exclude=(("digits-2", "det"), ("digits-3", "det")),
        first_seed=10,
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
