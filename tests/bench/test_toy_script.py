"""benchmarks/toy.py's --merge: new methods' runs join the stored ones, tables and commands too."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

import moo_lenient.toy_benchmark as toy_benchmark
from moo_lenient.problems.toy import ToyProtocol

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "toy.py"


@pytest.fixture
def toy_script(monkeypatch):
    """The script with both protocols cut to one start and 30 steps."""
    spec = importlib.util.spec_from_file_location("toy_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    short = {
        "cagrad": ToyProtocol("cagrad", 1.0, ((-8.5, -5.0),), 30),
        "nash": ToyProtocol("nash", 0.1, ((0.0, 0.0),), 30),
    }
    monkeypatch.setattr(module, "PROTOCOLS", short)
    monkeypatch.setattr(toy_benchmark, "PROTOCOLS", short)
    monkeypatch.setattr(module, "ROOT", Path("/nonexistent"))  # README is never touched
    monkeypatch.setattr(module, "replace_section", _replace_in_out_only)
    return module


def _replace_in_out_only(path, section, create_title=None):
    if "nonexistent" not in str(path):
        path.write_text((create_title or "") + section + "\n")


def test_merge_keeps_other_methods_and_lists_every_command(toy_script, tmp_path):
    args = ["--out", str(tmp_path), "--no-sweep"]
    assert toy_script.main(["--methods", "ls,mgda", *args]) == 0
    assert toy_script.main(["--methods", "epo,mgda", "--merge", *args]) == 0
    data = json.loads((tmp_path / "data" / "toy_results.json").read_text())
    methods = [r["method"] for r in data["runs"]]
    assert methods == ["ls", "ls", "mgda", "mgda", "epo", "epo"]  # variant order, 2 protocols
    assert data["n_escape_runs"] == 6
    assert [c["methods"] for c in data["commands"]] == [["ls"], ["epo", "mgda"]]
    text = (tmp_path / "benchmarks.md").read_text()
    assert "| EPO |" in text and "| MGDA |" in text and "| LS (uniform weights) |" in text
    assert "--methods ls,mgda" in text and "--merge" in text
    # Re-rendering from the stored results gives the same section.
    escape, sweep, commands = toy_script.load_results(tmp_path / "data" / "toy_results.json")
    assert [r.method for r in escape] == methods and sweep == []
    assert commands == data["commands"]


def test_without_merge_the_stored_runs_are_replaced(toy_script, tmp_path):
    args = ["--out", str(tmp_path), "--no-sweep"]
    toy_script.main(["--methods", "ls", *args])
    toy_script.main(["--methods", "famo", *args])
    data = json.loads((tmp_path / "data" / "toy_results.json").read_text())
    assert {r["method"] for r in data["runs"]} == {"famo"}
