"""Smoke test of benchmarks/llm_cost.py: one timed step per variant on the tiny model."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "llm_cost.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("llm_cost_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[spec.name]
        raise
    return module


@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")
def test_llm_cost_table_has_every_variant_with_positive_times(tmp_path, capsys):
    script = _load_script()
    out = tmp_path / "llm_cost.md"
    argv = ["--repeats", "1", "--warmup", "0", "--models", "tiny", "--out", str(out), "--quiet"]
    assert script.main(argv) == 0
    text = out.read_text(encoding="utf-8")
    assert text == capsys.readouterr().out
    assert "threads: 1" in text and "shared" in text

    rows = [line for line in text.splitlines() if line.startswith("| tiny |")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in rows]
    keys = {(c[1], int(c[3]), c[5]) for c in cells}
    expected = {
        (mode, k, variant)
        for mode in ("lora", "full")
        for k in (2, 3)
        for variant in ("single", "moo-plc", "moo-mgda", "moo-pcgrad", "moo-ls", "K backward floor")
    }
    assert keys == expected and len(rows) == len(expected)
    for c in cells:
        params, k, buffer_mb = int(c[2].replace(",", "")), int(c[3]), float(c[4])
        step, after, ratio, after_ratio = (float(x) for x in c[6:10])
        assert params > 0 and buffer_mb == pytest.approx(k * params * 4 / 1e6, abs=0.01)
        assert step > 0 and after > 0 and ratio > 0 and after_ratio > 0
        assert after <= step
        if c[5] == "single":
            assert ratio == after_ratio == 1.0
    lora = {int(c[2].replace(",", "")) for c in cells if c[1] == "lora"}
    full = {int(c[2].replace(",", "")) for c in cells if c[1] == "full"}
    assert lora == {4096} and len(full) == 1 and full.pop() > 100_000
