"""Every third-party module the package imports comes from a distribution pyproject.toml declares."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import tomllib

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> dict[str, set[str]]:
    """Normalised distribution names: ``required`` and those of each optional extra."""
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
        "project"
    ]
    name = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
    declared = {"required": {_normalised(name.match(r).group(1)) for r in project["dependencies"]}}
    for extra, requirements in project.get("optional-dependencies", {}).items():
        declared[extra] = {_normalised(name.match(r).group(1)) for r in requirements}
    return declared


def _imported_modules(paths: list[Path]) -> dict[str, Path]:
    """Top-level names of the absolute imports in ``paths`` (module -> a file importing it)."""
    modules: dict[str, Path] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for module in names:
                modules.setdefault(module.split(".")[0], path)
    return modules


def test_every_imported_distribution_is_declared():
    sources = sorted((PROJECT_ROOT / "elmo_tasks").rglob("*.py")) + [PROJECT_ROOT / "train.py"]
    declared = _declared()
    everything = set().union(*declared.values())
    optional = everything - declared["required"]
    by_module = importlib.metadata.packages_distributions()
    undeclared = []
    for module, path in sorted(_imported_modules(sources).items()):
        if module in sys.stdlib_module_names or module in ("elmo_tasks", "__future__"):
            continue
        distributions = {_normalised(d) for d in by_module.get(module, [])}
        if not distributions and _normalised(module) in optional:
            continue  # an extra's module that this install leaves out (gensim: [word2vec])
        assert distributions, (
            f"{module} (imported in {path.relative_to(PROJECT_ROOT)}) is not installed"
        )
        if not distributions & everything:
            undeclared.append(
                f"{module} ({', '.join(sorted(distributions))}, imported in {path.relative_to(PROJECT_ROOT)})"
            )
    assert not undeclared, "imported but not declared in pyproject.toml: " + "; ".join(undeclared)


def test_the_check_sees_a_module_that_is_not_declared(tmp_path):
    source = tmp_path / "example.py"
    source.write_text("import omegaconf\nfrom yaml import safe_load\nfrom . import sibling\n")
    assert set(_imported_modules([source])) == {"omegaconf", "yaml"}
