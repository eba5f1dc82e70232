"""Every documentation file a message of the package cites exists where the user is: messages
name docs through ``elmo_tasks.core.docs.doc`` (the docs shipped inside the package), never as
a ``docs/...`` path relative to a checkout the user may not have, or they give a URL."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from elmo_tasks.core.docs import DOCS_DIR, doc

PACKAGE = Path(__file__).resolve().parents[1] / "elmo_tasks"
RELATIVE_DOC = re.compile(r"(?<![\w/:.])docs/[\w./-]+\.md")


def _sources() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if "conf" not in p.relative_to(PACKAGE).parts]


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string nodes that are docstrings (modules, classes, functions)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def test_no_message_cites_a_docs_path_of_the_checkout():
    cited = []
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if id(node) not in docstrings and RELATIVE_DOC.search(node.value):
                    cited.append(
                        f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {node.value!r:.80}"
                    )
    assert not cited, "cite docs with elmo_tasks.core.docs.doc(...):\n" + "\n".join(cited)


def _doc_calls() -> list[tuple[Path, int, str, str | None]]:
    calls = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "doc":
                args = [a.value for a in node.args if isinstance(a, ast.Constant)]
                assert len(args) == len(node.args), f"{path}:{node.lineno}: doc() of a non-literal"
                calls.append((path, node.lineno, args[0], args[1] if len(args) > 1 else None))
    return calls


def test_every_cited_doc_and_section_exists_in_the_package():
    calls = _doc_calls()
    assert len(calls) >= 2  # the data layout and DDP sweeps messages
    for path, line, name, section in calls:
        target = DOCS_DIR / name
        assert target.is_file(), f"{path}:{line}: {name} is not in {DOCS_DIR}"
        if section is not None:
            headings = [
                h.lstrip("#").strip()
                for h in target.read_text(encoding="utf-8").splitlines()
                if h.startswith("#")
            ]
            assert section in headings, f"{path}:{line}: no heading {section!r} in {name}"
        assert Path(doc(name)).is_file()


@pytest.mark.parametrize(
    "command", ["predict", "export", "embed", "compare", "pretrain-export", "task-corpus"]
)
def test_command_help_cites_no_checkout_path(command, capsys):
    from elmo_tasks.cli import main

    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr()
    assert not RELATIVE_DOC.search(out.out + out.err)
