"""benchmarks/perf.py: a tiny grid end to end (no timing assertions) and the targets table
computed from the numbers."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "perf.py"
MODES = ["params", "params_batched", "gramian", "features", "subset"]


@pytest.fixture(scope="module")
def perf():
    spec = importlib.util.spec_from_file_location("perf_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def _tables(text: str) -> list[list[str]]:
    tables, current = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


def _check_tables(text: str) -> None:
    tables = _tables(text)
    assert tables
    for table in tables:
        assert len(table) >= 3, table  # header, separator, at least one row
        assert set(table[1].replace("|", "")) == {"-"}, table[1]
        widths = {line.count("|") for line in table}
        assert len(widths) == 1, table


def test_tiny_grid_end_to_end(tmp_path, perf):
    methods = ["ls", "upgrad"]
    cmd = [sys.executable, str(SCRIPT), "--ks", "2", "--ds", "2000", "--models", "mlp"]
    cmd += ["transformer", "--modes", *MODES, "--methods", *methods, "--repeats", "1"]
    cmd += ["--warmup", "0", "--threads", "1", "--device", "cpu", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]

    records = [json.loads(line) for line in (tmp_path / "perf.jsonl").read_text().splitlines()]
    assert [(r["kind"], r.get("model")) for r in records] == [
        ("aggregation", None),
        ("step", "mlp"),
        ("step", "transformer"),
    ]
    variants = ["bwd1", "bwdK", *(f"{m}/{x}" for m in MODES for x in methods)]
    variants += [f"torchjd.{v}/{x}" for v in ("backward", "mtl") for x in methods]
    for rec in records:
        env = rec["env"]
        assert env["torch"] and env["threads"] == 1 and env["cpu"] and env["device"] == "cpu"
        assert rec["errors"] == {}, rec["errors"]
        assert all(len(v) == 1 for v in rec["times_ms"].values())  # one repeat each
        if rec["kind"] == "aggregation":
            assert set(rec["median_ms"]) == {
                f"{who}/{x}" for who in ("ours", "ours-unchecked", "torchjd") for x in methods
            }
            continue
        assert rec["k"] == 2 and rec["d_target"] == 2000 and rec["d"] > 0
        assert 0 < rec["d_subset"] < rec["d"] < rec["d_all"]
        assert set(rec["median_ms"]) == set(variants)
        assert all(v > 0 for v in rec["median_ms"].values())
        assert rec["ratio_to_bwd1"]["bwd1"] == pytest.approx(1.0)
        assert rec["ratio_to_bwdK"]["bwdK"] == pytest.approx(1.0)
        assert rec["memory_method"] == "upgrad"
        mem = rec["memory"]
        assert set(mem) == {n for n in variants if "/" not in n or n.endswith("/upgrad")}
        assert all(m["how"] in ("VmHWM reset", "ru_maxrss delta") for m in mem.values())
        assert all(m["peak_mib"] > 0 for m in mem.values())

    text = (tmp_path / "perf.md").read_text()
    for section in ("## Step time", "## Aggregation only", "## Memory", "## Targets"):
        assert section in text
    assert "### Method `ls`" in text and "### Method `upgrad`" in text
    assert "TorchJD mtl_backward" in text and "not measured" in text  # features target: d < 4M
    _check_tables(text)
    target_rows = _tables(text.split("## Targets")[1])[0][2:]
    assert len(target_rows) == 2 + 2 * len(methods) + 2
    assert all(row.rstrip(" |").endswith(("met", "missed", "not measured")) for row in target_rows)

    (tmp_path / "perf.md").unlink()  # --render-only writes the same text again
    assert perf.main(["--render-only", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "perf.md").read_text() == text


def _step(model, k, d, *, params_k, features_1, mem_params, mem_gramian):
    return {
        "kind": "step",
        "model": model,
        "k": k,
        "d_target": d,
        "d": d,
        "env": {"torch": "x", "torchjd": "y", "threads": 2, "cpu": "c", "device": "cpu"},
        "median_ms": {"bwd1": 1.0, "bwdK": float(k), "params/ls": params_k * k},
        "ratio_to_bwdK": {"params/ls": params_k},
        "ratio_to_bwd1": {"features/ls": features_1},
        "memory": {
            "params/ls": {"step_mib": mem_params, "forward_mib": 1.0, "how": "VmHWM reset"},
            "gramian/ls": {"step_mib": mem_gramian, "forward_mib": 1.0, "how": "VmHWM reset"},
        },
        "memory_method": "ls",
        "errors": {},
    }


def test_targets_are_computed_from_the_numbers(perf):
    env = {"torch": "x", "torchjd": "y", "threads": 2, "cpu": "c", "device": "cpu"}
    agg = {
        "kind": "aggregation",
        "k": 4,
        "d_target": 1000,
        "env": env,
        "median_ms": {"ours/ls": 1.0, "torchjd/ls": 2.0, "ours/plc": 5.0},
        "errors": {},
    }
    records = [
        agg,
        _step("mlp", 4, 4_000_000, params_k=1.05, features_1=1.2, mem_params=9, mem_gramian=5),
        _step("mlp", 16, 4_000_000, params_k=1.2, features_1=9.0, mem_params=9, mem_gramian=5),
        _step("mlp", 2, 1_000, params_k=1.0, features_1=3.0, mem_params=1, mem_gramian=2),
    ]
    status = {t.name: t.row() for t in perf.compute_targets(records)}
    agg_ls = status["aggregation `ls` no slower than TorchJD"]
    assert agg_ls[2:] == ["1", "0.50 (K=4, d=1k)", "met"]
    assert not any("`plc` no slower" in name for name in status)  # TorchJD has no PLC
    params = status["params step `ls` within 1.10x of K backward"]
    assert params[2:] == ["3", "1.20 (mlp K=16 d=4M)", "missed"]
    features = status["features step `ls` within 1.5x of one backward"]
    assert features[2:] == ["1", "1.20 (mlp K=4 d=4M)", "met"]  # K=16 and d=1k out of scope
    memory = status["gramian-mode memory below params mode (mlp)"]
    assert memory[2] == "2" and memory[4] == "met"  # at the largest d only
    assert status["gramian-mode memory below params mode (transformer)"][4] == "not measured"

    records[1]["ratio_to_bwd1"]["features/ls"] = 1.6
    records[2]["memory"]["gramian/ls"]["step_mib"] = 9  # equal is not below
    status = {t.name: t.row() for t in perf.compute_targets(records)}
    assert status["features step `ls` within 1.5x of one backward"][4] == "missed"
    assert status["gramian-mode memory below params mode (mlp)"][4] == "missed"
    text = perf.render(records)
    _check_tables(text)
    assert "not measured" in text


def test_model_sizes_follow_d(perf):
    for model in ("mlp", "transformer"):
        for d in (10_000, 1_000_000, 10_000_000):
            size = perf.mlp_trunk_size if model == "mlp" else perf.transformer_trunk_size
            assert abs(size(perf.trunk_width(model, d)) - d) / d < 0.25  # width step 4
    bench = perf.build_bench("transformer", 3, 20_000, "cpu")
    width = perf.trunk_width("transformer", 20_000)
    assert sum(p.numel() for p in bench.trunk) == perf.transformer_trunk_size(width)
    bench = perf.build_bench("mlp", 3, 20_000, "cpu")
    width = perf.trunk_width("mlp", 20_000)
    assert sum(p.numel() for p in bench.trunk) == perf.mlp_trunk_size(width)
    losses, z = bench.forward()
    assert len(losses) == 3 and z.shape[0] == perf.MLP_BATCH
