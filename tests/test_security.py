"""Static checks of the package source: no unpickling of untrusted data, no network at run time.

Every ``torch.load`` passes ``weights_only=True`` (tensors and primitives only, no arbitrary
code on load); nothing imports ``pickle``/``dill``/``shelve`` or a network client; every Hugging
Face ``from_pretrained`` call passes ``local_files_only=True``. See docs/security.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "moo_lenient"
SOURCES = sorted(PACKAGE.rglob("*.py"))
FORBIDDEN_MODULES = {
    "pickle",
    "cPickle",
    "dill",
    "shelve",
    "marshal",
    "socket",
    "urllib",
    "urllib3",
    "requests",
    "http",
    "httpx",
    "aiohttp",
    "ftplib",
}


def _calls(tree: ast.AST, name: str):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called == name:
                yield node


def _keyword_is_true(call: ast.Call, keyword: str) -> bool:
    return any(
        k.arg == keyword and isinstance(k.value, ast.Constant) and k.value.value is True
        for k in call.keywords
    )


def test_the_package_has_sources():
    assert len(SOURCES) > 20


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_unsafe_load_and_no_network(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for call in _calls(tree, "load"):
        func = call.func
        if isinstance(func, ast.Attribute) and getattr(func.value, "id", None) == "torch":
            assert _keyword_is_true(call, "weights_only"), f"{path}:{call.lineno}"
    for call in _calls(tree, "from_pretrained"):
        assert _keyword_is_true(call, "local_files_only"), f"{path}:{call.lineno}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            assert name.split(".")[0] not in FORBIDDEN_MODULES, f"{path}:{node.lineno} {name}"


def test_the_checks_catch_what_they_claim(tmp_path):
    bad = "import pickle\nimport torch\ntorch.load('x')\nAutoModel.from_pretrained('gpt2')\n"
    tree = ast.parse(bad)
    loads = list(_calls(tree, "load"))
    assert loads and not _keyword_is_true(loads[0], "weights_only")
    fp = list(_calls(tree, "from_pretrained"))
    assert fp and not _keyword_is_true(fp[0], "local_files_only")
