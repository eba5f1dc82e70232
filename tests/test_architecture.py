"""The package's layers: imports point one way (down), never in a circle, and the ELMo model
stays plain PyTorch. The layer picture is docs/architecture.md; this test keeps it true."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from elmo_tasks.cli import COMMANDS
from elmo_tasks.core.moved import MOVED

PACKAGE = Path(__file__).resolve().parents[1] / "elmo_tasks"

# Bottom to top: a module may import its own layer and the layers below it.
LAYERS = [
    "core",
    "elmo",
    "data",
    "encoders",
    "heads",
    "tasks",
    "results",
    "search",
    "runs",
    "pretraining",
    "cli",
]
TOP = len(LAYERS)  # elmo_tasks/__init__.py and the `python -m elmo_tasks.<command>` aliases
ALIASES = sorted(command.replace("-", "_") for command in COMMANDS)  # one per elmo-tasks command
FRAMEWORKS = (
    "hydra",
    "omegaconf",
    "pytorch_lightning",
    "lightning",
    "lightning_fabric",
    "torchmetrics",
    "datasets",
)
MAX_LINES = 450  # "about 400": a module that outgrows this has more than one job


def module_files() -> dict[str, Path]:
    files = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[1:2] == ("conf",):
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        files[name] = path
    return files


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules that ``name`` imports, at any depth (function-level imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, (
                f"{path}: relative import; write absolute imports (elmo_tasks.<layer>...)"
            )
            targets = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module or ""]
        else:
            continue
        for target in targets:
            while target and target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in modules and target != name and target != "elmo_tasks":
                found.add(target)
    return found


def layer(name: str) -> int:
    parts = name.split(".")
    return (
        LAYERS.index(parts[1])
        if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS)
        else TOP
    )


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def test_every_module_lives_in_a_layer_or_is_an_alias(graph):
    """Beside the layers: the ``python -m`` command aliases and the old paths of moved modules."""
    loose = [name for name in graph if layer(name) == TOP and name != "elmo_tasks"]
    commands = [
        "elmo_tasks.__main__",  # python -m elmo_tasks: the elmo-tasks command
        *(f"elmo_tasks.{module}" for module in ALIASES),  # python -m elmo_tasks.<command>
    ]
    assert sorted(loose) == sorted({*commands, *MOVED})
    for alias in loose:
        assert len(module_files()[alias].read_text().splitlines()) < 12, (
            f"{alias} should only re-export its command or its new module"
        )


def test_imports_point_down_the_layers(graph):
    upward = [
        f"{name} ({LAYERS[layer(name)]}) imports {target} ({LAYERS[layer(target)]})"
        for name, targets in graph.items()
        if layer(name) < TOP
        for target in targets
        if layer(target) > layer(name)
    ]
    assert not upward, "imports against the layers:\n" + "\n".join(sorted(upward))


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return cycles


def test_no_import_cycles(graph):
    cycles = find_cycles(graph)
    assert not cycles, f"import cycles: {cycles}"


def test_a_cycle_through_a_function_level_import_is_found(tmp_path):
    (tmp_path / "a.py").write_text("from elmo_tasks.core.b import x\n")
    (tmp_path / "b.py").write_text("def f():\n    import elmo_tasks.core.a\n")
    (tmp_path / "c.py").write_text("from elmo_tasks.core import a\n")
    modules = {f"elmo_tasks.core.{n}": tmp_path / f"{n}.py" for n in "abc"}
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    assert graph["elmo_tasks.core.c"] == {"elmo_tasks.core.a"}
    assert find_cycles(graph) == [["elmo_tasks.core.a", "elmo_tasks.core.b"]]


def test_the_elmo_model_knows_no_framework():
    for path in (PACKAGE / "elmo").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for imported in names:
                assert imported.split(".")[0] not in FRAMEWORKS, f"{path.name} imports {imported}"


def test_modules_stay_small():
    large = {
        name: n
        for name, path in module_files().items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not large, f"modules over {MAX_LINES} lines (split them along their jobs): {large}"


@pytest.mark.parametrize("command", ALIASES)
def test_python_m_commands_keep_their_paths(command):
    """Every `elmo-tasks <command>` is `python -m elmo_tasks.<command, _ for ->`; a command
    whose module moved warns of nothing when run."""
    result = subprocess.run(
        [sys.executable, "-W", "always::DeprecationWarning"]
        + ["-m", f"elmo_tasks.{command}", "--help"],
        capture_output=True,
        text=True,
        cwd=PACKAGE.parent,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip(), "help text expected"
    assert "moved to elmo_tasks" not in result.stderr, result.stderr
