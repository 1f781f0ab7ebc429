"""The runner: configurations, preferences, jobs, resume, scores and tables."""

import json

import numpy as np
import pytest
from pymoo.indicators.hv import HV

from moo_lenient import bench
from moo_lenient.bench import scoring
from moo_lenient.bench.runner import RUNS_FILE, Config, execute, expand, load_runs
from moo_lenient.bench.suites import PROBLEMS, SUITES, das_dennis
from moo_lenient.bench.table import BenchTable, Cell, best_methods, dominated_counts
from moo_lenient.problems import DTLZ2, ZDT1
from moo_lenient.problems.barrier import Barrier

SMALL = {"problems": ["barrier-2", "zdt1"], "methods": ["ls", "plc"], "seeds": 1}


def small_configs(steps=25):
    return expand(SMALL["problems"], SMALL["methods"], 2, steps=steps, preferences=3)


@pytest.mark.parametrize(("m", "count", "expected"), [(2, 11, 11), (3, 15, 15), (5, 15, 15)])
def test_das_dennis_preferences_are_positive_and_on_the_simplex(m, count, expected):
    w = das_dennis(m, count)
    assert w.shape == (expected, m)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    assert w.min() > 0.0  # shifted off the boundary
    assert das_dennis(2, 1).shape == (2, 2)  # at least one partition


def test_expand_collapses_seeds_only_for_deterministic_fixed_starts():
    configs = expand(["toy-nash", "zdt1"], ["ls", "plc"], seeds=3)
    toy_det = [c for c in configs if c.problem == "toy-nash" and c.form == "det"]
    toy_noisy = [c for c in configs if c.problem == "toy-nash" and c.form == "noisy"]
    zdt_det = [c for c in configs if c.problem == "zdt1" and c.form == "det"]
    assert len(toy_det) == 2 and len(toy_noisy) == 6 and len(zdt_det) == 6
    assert len({c.key for c in configs}) == len(configs)
    assert all(c.steps == PROBLEMS[c.problem].steps for c in configs)
    kept = expand(["digits-2", "zdt1"], ["ls"], seeds=1, exclude=[("digits-2", "det")])
    assert [(c.problem, c.form) for c in kept] == [
        ("digits-2", "noisy"),
        ("zdt1", "det"),
        ("zdt1", "noisy"),
    ]


def test_first_seed_shifts_the_seed_range_and_keeps_keys_apart():
    base = expand(["zdt1", "toy-nash"], ["ls"], seeds=2)
    shifted = expand(["zdt1", "toy-nash"], ["ls"], seeds=2, first_seed=100)
    assert sorted({c.seed for c in base}) == [0, 1]
    assert sorted({c.seed for c in shifted}) == [100, 101]
    toy_det = [c for c in shifted if c.problem == "toy-nash" and c.form == "det"]
    assert [c.seed for c in toy_det] == [100]  # the one run of fixed starts: the first seed
    assert not {c.key for c in base} & {c.key for c in shifted}
    with pytest.raises(ValueError, match="first_seed"):
        expand(["zdt1"], ["ls"], seeds=1, first_seed=-1)
    assert SUITES["v4"].first_seed == 10 and SUITES["paths-dev"].first_seed == 100
    assert SUITES["paths-decide"].first_seed == 200
    run_seeds = {c.seed for c in expand(["zdt1"], ["ls"], 1, first_seed=7)}
    assert run_seeds == {7}


def test_first_seed_changes_starts_and_noise_but_not_the_protocol(tmp_path):
    one = bench.run(
        problems=["zdt1"], methods=["ls"], forms=["noisy"], seeds=1, steps=5, preferences=3,
        first_seed=200, out=tmp_path, plots=False, progress=False,
    )  # fmt: skip
    (record,) = one.records
    assert record["seed"] == 200 and "seed=200" in record["key"]
    zero = bench.run(
        problems=["zdt1"], methods=["ls"], forms=["noisy"], seeds=1, steps=5, preferences=3,
        plots=False, progress=False,
    )  # fmt: skip
    assert zero.records[0]["final_values"] != record["final_values"]
    with pytest.raises(ValueError, match="first_seed must be a non-negative integer"):
        bench.run(problems=["zdt1"], methods=["ls"], first_seed=-3)


def test_dominated_needs_every_objective_lower_by_the_margin():
    ideal, nadir = np.array([0.0, 10.0]), np.array([1.0, 20.0])  # ranges 1 and 10
    final = np.array([[0.5, 15.0], [0.5, 15.0], [0.5, 15.0], [np.nan, 15.0], [0.5, 15.0]])
    other = np.array(
        [
            [0.48, 14.8],  # 0.02 and 0.02 lower in normalized units: dominated
            [0.495, 14.0],  # 0.005 lower in f1 (0.1 in f2): not
            [0.4, 15.0],  # equal in f2: not
            [0.4, 14.0],  # a diverged run (NaN) counts as dominated
            [np.inf, 0.0],  # a diverged other run dominates nothing
        ]
    )
    mask = scoring.dominated(final, other, ideal, nadir)
    assert mask.tolist() == [True, False, False, True, False]
    with pytest.raises(ValueError, match="shapes"):
        scoring.dominated(final[:2], other, ideal, nadir)


def test_dominated_counts_pair_runs_by_seed_and_preference():
    zdt1 = PROBLEMS["zdt1"].build()  # ideal (0, 0), nadir (1, 1)
    assert np.allclose(zdt1.ideal(), 0) and np.allclose(zdt1.nadir(), 1)
    prefs = [[0.5, 0.5], [0.2, 0.8]]

    def rec(method, seed, final):
        key = f"zdt1|det|{method}|seed={seed}"
        return dict(key=key, problem="zdt1", form="det", method=method, seed=seed,
                    preference_vectors=prefs, final_values=final)  # fmt: skip

    records = [
        rec("ls", 0, [[0.2, 0.2], [0.1, 0.6]]),
        rec("plc", 0, [[0.3, 0.3], [0.1, 0.5]]),  # first run dominated, second not
        rec("ls", 1, [[0.2, 0.2], [0.1, 0.6]]),
        rec("plc", 1, [[0.2, 0.2], [0.2, 0.7]]),  # second dominated
        rec("mgda", 2, [[0.9, 0.9], [0.9, 0.9]]),  # no LS run on seed 2: not compared
    ]
    counts = dominated_counts(records)
    assert counts == {("zdt1", "det"): {"plc": (2, 4)}}
    records[1]["preference_vectors"] = [[0.5, 0.5], [0.8, 0.2]]
    with pytest.raises(ValueError, match="different preferences"):
        dominated_counts(records)


def test_jobs_do_not_change_results():
    configs = small_configs()
    one = execute(configs, None, jobs=1, progress=False)
    two = execute(configs, None, jobs=2, progress=False)
    for a, b in zip(one, two, strict=True):
        assert a["key"] == b["key"]
        assert a["final_values"] == b["final_values"]
        assert a["metrics"] == b["metrics"]


def test_resume_runs_only_what_is_missing(tmp_path):
    configs = small_configs(steps=10)
    first = execute(configs[:3], tmp_path, progress=False)
    lines = (tmp_path / RUNS_FILE).read_text().splitlines()
    assert len(lines) == 3
    with open(tmp_path / RUNS_FILE, "a") as fh:  # an interrupted write
        fh.write('{"key": "torn')
    records = execute(configs, tmp_path, progress=False)
    assert [r["key"] for r in records] == [c.key for c in configs]
    for old, new in zip(first, records[:3], strict=True):
        assert old["seconds"] == new["seconds"]  # reused, not rerun
    assert len(load_runs(tmp_path)) == len(configs)


def test_scores_of_points_on_the_front():
    problem = ZDT1(5)
    front = problem.pareto_front(11)
    prefs = das_dennis(2, 11)
    s = scoring.score(problem, PROBLEMS["zdt1"], prefs, front)
    assert s["escape"] == 1.0
    assert s["hv"] == pytest.approx(HV(ref_point=np.full(2, 1.1))(front))  # ideal 0, nadir 1
    assert s["ms"] == pytest.approx(1.0)
    assert s["igd"] < 0.05
    behind = front + np.array([0.0, 0.1])
    assert scoring.score(problem, PROBLEMS["zdt1"], prefs, behind)["escape"] < 1.0


def test_dtlz2_distance_is_exact():
    problem = DTLZ2(5)
    f = np.array([[1.0, 0, 0, 0, 0], [0.6, 0.8, 0, 0, 0], [2.0, 0, 0, 0, 0]])
    np.testing.assert_allclose(scoring.front_distance(problem, f, None), [0.0, 0.0, 1.0])


def test_scores_refuse_nothing_and_mark_diverged_runs():
    problem = Barrier(2)
    f = np.array([[0.5, 0.5], [np.nan, 1.0]])
    s = scoring.score(problem, PROBLEMS["barrier-2"], np.full((2, 2), 0.5), f)
    assert s["escape"] == 0.5 and np.isfinite(s["hv"])


def test_best_and_tied_best():
    cells = {
        "a": Cell(0.80, 0.01, 3),
        "b": Cell(0.795, 0.002, 3),  # within a's std: tied
        "c": Cell(0.70, 0.01, 3),
    }
    assert best_methods(cells, higher=True) == {"a", "b"}
    assert best_methods(cells, higher=False) == {"c"}


def test_run_returns_a_table_and_writes_outputs(tmp_path):
    table = bench.run(
        suite="quick",
        problems=["barrier-2"],
        methods=["ls", "plc"],
        seeds=2,
        steps=20,
        preferences=3,
        out=tmp_path,
        progress=False,
    )
    assert isinstance(table, BenchTable)
    text = str(table)
    assert "**barrier-2**, det (2 seeds)" in text and "| PLC (reference) |" in text
    assert "**" in text.split("| LS |")[1]  # some cell is bold
    assert (tmp_path / "table.md").read_text().strip() == text.strip()
    plots = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert "barrier-2-det-front.png" in plots and "barrier-2-det-trajectories.png" in plots
    records = [json.loads(line) for line in (tmp_path / RUNS_FILE).read_text().splitlines()]
    assert len(records) == 2 * 2 * 2  # forms x methods x seeds
    diffs = table.paired("barrier-2", "noisy", "plc", "ls")
    assert diffs.shape == (2,)


def test_bad_names_are_refused():
    with pytest.raises(ValueError, match="unknown suite"):
        bench.run(suite="huge")
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        bench.run(methods=["nope"])
    with pytest.raises(ValueError, match="unknown problem"):
        bench.run(problems=["zdt9"])
    with pytest.raises(ValueError, match="seeds must be a positive integer"):
        bench.run(seeds=0)


def test_suites_name_known_things():
    for suite in SUITES.values():
        assert set(suite.problems) <= set(PROBLEMS)
        assert set(suite.methods) <= set(bench.METHODS)
    assert Config("zdt1", "det", "ls", 0, 10, 3).key == "zdt1|det|ls|seed=0|steps=10|prefs=3"


@pytest.mark.parametrize("problem", ["dtlz2-3", "dtlz2-5", "toy-nash"])
def test_plots_for_three_five_objectives_and_the_toy(tmp_path, problem):
    bench.run(
        problems=[problem],
        methods=["ls", "plc"],
        forms=["det"],
        seeds=1,
        steps=4,
        preferences=3,
        out=tmp_path,
        progress=False,
    )
    plots = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert f"{problem}-det-front.png" in plots
    assert (f"{problem}-det-trajectories.png" in plots) == (problem == "toy-nash")
