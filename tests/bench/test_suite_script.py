"""benchmarks/suite.py --render-only: every table is computed from the raw runs it finds."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from moo_lenient import bench
from moo_lenient.bench.table import BenchTable, Cell

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "suite.py"


@pytest.fixture
def suite_script(monkeypatch, tmp_path):
    """The script writing into a temporary tree with the documents' markers."""
    spec = importlib.util.spec_from_file_location("suite_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (tmp_path / "docs").mkdir()
    for name in ("docs/benchmarks.md", "docs/plc.md", "README.md"):
        (tmp_path / name).write_text("# page\n")
    monkeypatch.setattr(module, "ROOT", tmp_path)
    monkeypatch.setattr(module, "DATA", tmp_path / "data")
    monkeypatch.setattr(module, "IMG", tmp_path / "docs" / "img" / "suite")
    return module


def _run(out: Path, methods, first_seed: int, seeds: int = 2) -> None:
    bench.run(
        problems=["barrier-2"],
        methods=methods,
        seeds=seeds,
        first_seed=first_seed,
        steps=15,
        preferences=3,
        out=out,
        plots=False,
        progress=False,
    )


def test_render_only_writes_every_block_from_the_raw_runs(suite_script, tmp_path):
    data = tmp_path / "data"
    _run(data / "v4", ["ls", "stch", "plc-v3", "plc", "plc-noref"], first_seed=10, seeds=3)
    _run(data / "v4", ["pcgrad"], first_seed=10, seeds=1)  # still running: 1 of its 3 seeds
    _run(data / "v4-comparison", ["epo"], first_seed=10)
    _run(data / "v4-ablation", ["plc", "plc-v3", "plc-no-fd"], first_seed=10)
    _run(data / "paths-dev", ["ls", "plc", "plc-noref-v3", "plc-noref-rel-fd0"], first_seed=100)
    toy = {"n_escape_runs": 2, "runs": [{"method": "plc", "reached": True}] * 2}
    (tmp_path / "docs" / "data").mkdir()
    (tmp_path / "docs" / "data" / "toy_results.json").write_text(json.dumps(toy))
    assert suite_script.main(["--render-only", "--no-plots"]) == 0
    benchmarks_md = (tmp_path / "docs" / "benchmarks.md").read_text()
    for marker in ("suite", "v4-ablation", "ablation"):
        assert f"<!-- {marker}:begin -->" in benchmarks_md
    assert "| barrier-2 | det |" in benchmarks_md and "EPO" in benchmarks_md
    hv_table = benchmarks_md.split("### Hypervolume")[1].split("###")[0]
    assert "PLC (no reference)" in hv_table and "PCGrad" not in hv_table  # incomplete: left out
    assert "### Dominated end points" in benchmarks_md
    assert "| toy escape 8/8 without a reference" in benchmarks_md
    assert "2/2 | **no** |" in benchmarks_md  # 2 of 8 starts stored: not met
    assert "No runs of the v3 ablation yet." in benchmarks_md
    plc_md = (tmp_path / "docs" / "plc.md").read_text()
    assert "PLC − PLC v3 (paired)" in plc_md
    assert "Development seeds 100-101" in plc_md and "Decision seeds 200-202" in plc_md
    assert "`plc-noref-rel-fd0`" in plc_md
    readme = (tmp_path / "README.md").read_text()
    assert "best comparison method" in readme and "EPO" in readme
    # rendering twice gives the same documents (the blocks are replaced, not appended)
    assert suite_script.main(["--render-only", "--no-plots"]) == 0
    assert (tmp_path / "docs" / "benchmarks.md").read_text() == benchmarks_md


def test_targets_count_best_worst_and_epo(suite_script):
    def cell(mean, std=0.01):
        return Cell(mean, std, 3)

    table = BenchTable([])
    table.rows = {
        ("dtlz2-5", "det"): {
            "plc": {"hv": cell(0.78)},
            "epo": {"hv": cell(0.785)},
            "ls": {"hv": cell(0.40)},
        },
        ("zdt2", "noisy"): {"plc": {"hv": cell(0.10)}, "ls": {"hv": cell(0.21)}},
    }
    text = suite_script.targets(table, dominated={}, toy={"plc": (8, 8), "plc-ref": (7, 8)})
    assert "| best or tied-best HV among all methods on ≥ 70% of problem-forms | 1/2 (50%)" in text
    assert "worst on 1 (zdt2 noisy) | **no** |" in text
    assert (
        "| dtlz2-5 det within one std of EPO | PLC 0.780 ± 0.010, EPO 0.785 ± 0.010 | yes |" in text
    )
    assert "without a reference (`benchmarks/toy.py`, variant `plc`) | 8/8 | yes |" in text
    assert "with a reference (`benchmarks/toy.py`, variant `plc-ref`) | 7/8 | **no** |" in text
