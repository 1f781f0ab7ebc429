"""What a fresh machine needs is declared: README's commands, .ci/run and the extras agree.

A test that imports a package no extra declares passes on a developer's machine and fails on a
user's (it happened: hypothesis, and TorchJD's solvers behind extras pip 23 could not resolve).
These tests read the installed package's metadata (what pip resolved from pyproject.toml) and
every import in the sources, so an undeclared import fails here first.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / ".ci"))
from readme_command import readme_commands  # noqa: E402

#: Which extras may serve the imports of each part of the tree (first matching prefix wins).
#: The core dependencies are always allowed.
ALLOWED_EXTRAS = [
    ("tests/", {"test"}),
    ("moo_lenient/llm/", {"llm", "llm-embeddings"}),
    ("moo_lenient/", {"bench"}),
    ("benchmarks/", {"bench", "llm", "test"}),
]
#: Imports whose module name differs from nothing installed: the project itself.
OWN = {"moo_lenient", "tests", "readme_command"}


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> dict[str | None, set[str]]:
    """Distribution names per extra (None: the core dependencies), from the installed metadata."""
    out: dict[str | None, set[str]] = {None: set()}
    for req in md.requires("moo_lenient") or []:
        name = _normalize(re.match(r"[A-Za-z0-9._-]+", req).group(0))
        extra = re.search(r"""extra\s*==\s*["']([^"']+)["']""", req)
        out.setdefault(None if extra is None else _normalize(extra.group(1)), set()).add(name)
    return out


def _imports(path: Path) -> set[tuple[str, int, bool]]:
    """Top-level third-party module names imported in ``path`` (lazily or not), with the line
    and whether it is a ``pytest.importorskip("x")`` (True) or an import statement (False)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        names: list[str] = []
        skip = False
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "importorskip"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names, skip = [node.args[0].value], True
        for name in names:
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names and top not in OWN:
                found.add((top, node.lineno, skip))
    return found


def _sources() -> list[Path]:
    return sorted(
        p
        for folder in ("moo_lenient", "tests", "benchmarks")
        for p in (ROOT / folder).rglob("*.py")
    )


def test_every_import_is_declared_in_the_extra_that_needs_it():
    """Each import's package is a core dependency or in the extra that part of the tree runs
    with (tests: ``test``; the library: ``bench``, or ``llm`` for ``moo_lenient.llm``). A
    ``pytest.importorskip`` may only name a package of another extra (an optional one the
    test extra does not install): skipping for a package the test extra declares would hide a
    broken install."""
    declared = _declared()
    every_extra = set().union(*(names for extra, names in declared.items() if extra))
    providers = md.packages_distributions()
    problems = []
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        extras = next(allowed for prefix, allowed in ALLOWED_EXTRAS if rel.startswith(prefix))
        allowed = set(declared[None]).union(*(declared.get(e, set()) for e in extras))
        for module, line, skip in sorted(_imports(path)):
            # not installed (an optional extra): its distribution is named like the module
            dists = {_normalize(d) for d in providers.get(module, [module])}
            where = f"{rel}:{line}: {module} (package {sorted(dists)})"
            if skip and dists & allowed:
                problems.append(f"{where} is declared, so importorskip would hide its absence")
            elif skip and not dists & every_extra:
                problems.append(f"{where} is skipped for but no extra declares it")
            elif not skip and not dists & allowed:
                problems.append(
                    f"{where} is not declared in the core dependencies or the extra(s) "
                    f"{sorted(extras)}"
                )
    assert not problems, "\n".join(problems)


def test_extras_are_spelled_as_their_packages_declare_them():
    """pip 23 does not normalize extra names: 'pkg[a_b]' finds nothing where pkg declares
    'a-b'. So every extra we ask of another package must be one it provides, spelled alike."""
    problems = []
    for req in md.requires("moo_lenient") or []:
        match = re.match(r"([A-Za-z0-9._-]+)\[([^\]]+)\]", req)
        if not match:
            continue
        provided = set(md.metadata(match.group(1)).get_all("Provides-Extra") or [])
        for extra in match.group(2).split(","):
            if extra.strip() not in provided:
                problems.append(f"{req}: {match.group(1)} provides {sorted(provided)}")
    assert not problems, "\n".join(problems)


def test_readme_has_the_two_commands_ci_runs():
    bench, test = readme_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    assert bench.startswith("pip install torch==2.13.0 && ")
    assert 'pip install -e ".[bench]"' in bench and "moo-lenient bench" in bench
    assert test.startswith("pip install torch==2.13.0 && ")
    assert 'pip install -e ".[test]"' in test and "python -m pytest" in test
    assert "python -m ruff check ." in test


def test_ci_runs_readme_test_command_in_a_new_venv():
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    code = [line.split("#")[0] for line in script.splitlines()]
    body = "\n".join(code)
    assert re.search(r"-m venv \"\$work/venv\"", body), "CI must make a new venv every run"
    assert "mktemp -d" in body and "--system-site-packages" not in body
    assert "cmd=$(python .ci/readme_command.py test)" in body
    assert 'bash -c "$cmd"' in body
    assert "set -euo pipefail" in body


@pytest.mark.parametrize("which", ["bench", "test"])
def test_readme_command_script_prints_the_block(which):
    out = subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "readme_command.py"), which],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    bench, test = readme_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    assert out == {"bench": bench, "test": test}[which]


def test_readme_command_script_refuses_a_bad_argument():
    proc = subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "readme_command.py"), "lint"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "usage" in proc.stderr
