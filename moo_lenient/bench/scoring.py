"""Front-quality scores of one configuration's final points (never computed during a run).

All scores use normalized losses f̃ = (f - ideal) / (nadir - ideal), with the ideal and nadir of
the problem's front (estimated for the real-data problems), so that every problem's true front
spans [0, 1] per objective:

- ``hv``: hypervolume of the final points at the reference point 1.1 per objective;
- ``igd``: IGD of the final points to the front sample;
- ``ms``: maximum spread (paper eq. 32) of the final points;
- ``pc``: preference compliance (paper eq. 33) with y = z_ref - f̃, z_ref = 1.1 per objective
  (the hypervolume reference);
- ``tcheb``: the mean over runs of max_k w_k f̃_k against each run's own preference;
- ``escape``: the share of runs ending within 0.05 of the front: Euclidean distance to the true
  front in f̃ units (in raw loss units for the toy, as in its core protocol); for an estimated
  front the distance to the region it dominates, ||max(f̃ - p̃, 0)|| minimized over its points
  (a run that beats the estimate counts as on it).

Across methods (:func:`dominated`): a run's final normalized loss vector is *dominated* by
another method's run with the same problem, form, seed, preference and start when that run's is
lower by at least ``DOMINATION_MARGIN`` (0.01) in every objective: the point a method should
never end at, since linear scalarization with the same budget reached a better one.
"""

from __future__ import annotations

import numpy as np

from moo_lenient import metrics
from moo_lenient.problems import DTLZ2, CAGradToy, Problem

HV_REFERENCE = 1.1
ESCAPE_TOLERANCE = 0.05
DOMINATION_MARGIN = 0.01
FRONT_SAMPLE = {2: 5000, 3: 20000}


def score(problem: Problem, spec, preferences: np.ndarray, final: np.ndarray) -> dict:
    """The scores above for (B, K) final values run with (B, K) preferences."""
    ideal, nadir = problem.ideal(), problem.nadir()
    scale = nadir - ideal
    f = (np.asarray(final, dtype=np.float64) - ideal) / scale
    k = f.shape[1]
    ref = np.full(k, HV_REFERENCE)
    front = (dense_front(problem) - ideal) / scale
    finite = np.all(np.isfinite(f), axis=1)
    f_ok = f[finite]  # a diverged run is absent from the set and counts as not escaped
    distance = np.full(len(f), np.inf)
    if spec.escape_in_raw_units:
        distance[finite] = [problem.nearest_on_front(v)[0] for v in np.asarray(final)[finite]]
    elif finite.any():
        distance[finite] = front_distance(problem, f_ok, front)
    prefs = np.asarray(preferences, dtype=np.float64)
    return {
        "hv": metrics.hypervolume(f_ok, ref) if len(f_ok) else 0.0,
        "igd": metrics.igd(f_ok, front) if len(f_ok) else float("inf"),
        "ms": metrics.maximum_spread(f_ok) if len(f_ok) else 0.0,
        "pc": metrics.preference_compliance(prefs[finite], f_ok, reference=ref)
        if len(f_ok)
        else 0.0,
        "tcheb": float(np.mean(np.max(prefs * np.where(finite[:, None], f, np.inf), axis=1))),
        "escape": float(np.mean(distance <= ESCAPE_TOLERANCE)),
    }


_FRONTS: dict[str, np.ndarray] = {}


def dense_front(problem: Problem) -> np.ndarray:
    """A dense sample of the front (cached per problem)."""
    key = f"{problem.name}:{problem.num_variables}:{getattr(problem, 'scale', '')}"
    if key not in _FRONTS:
        if isinstance(problem, CAGradToy):
            _FRONTS[key] = problem.pareto_front()
        else:
            _FRONTS[key] = problem.pareto_front(FRONT_SAMPLE.get(problem.num_objectives, 20000))
    return _FRONTS[key]


def front_distance(problem: Problem, f: np.ndarray, front: np.ndarray) -> np.ndarray:
    """Distance of each normalized point to the normalized front (see the module docstring)."""
    if isinstance(problem, DTLZ2):  # f >= 0 and the front is the unit sphere there; r = 1
        return np.abs(np.linalg.norm(f, axis=1) - 1.0)
    out = np.empty(len(f))
    for i, point in enumerate(f):
        diff = point - front
        if problem.front_is_estimated:
            diff = np.maximum(diff, 0.0)
        out[i] = np.sqrt(np.min(np.einsum("ij,ij->i", diff, diff)))
    return out


def dominated(
    final: np.ndarray,
    other: np.ndarray,
    ideal: np.ndarray,
    nadir: np.ndarray,
    margin: float = DOMINATION_MARGIN,
) -> np.ndarray:
    """(B,) bool: run b's normalized final values are worse than ``other[b]``'s by at least
    ``margin`` in every objective (non-finite values count as dominated, a diverged ``other``
    dominates nothing)."""
    scale = np.asarray(nadir, dtype=np.float64) - np.asarray(ideal, dtype=np.float64)
    f = (np.asarray(final, dtype=np.float64) - ideal) / scale
    g = (np.asarray(other, dtype=np.float64) - ideal) / scale
    if f.shape != g.shape:
        raise ValueError(f"runs to compare have shapes {f.shape} and {g.shape}")
    finite_g = np.all(np.isfinite(g), axis=1)
    with np.errstate(invalid="ignore"):
        worse = np.all(f - g >= margin, axis=1) | ~np.all(np.isfinite(f), axis=1)
    return worse & finite_g
