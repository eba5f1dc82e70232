"""docs/api.md: its python blocks run in order, in an empty folder, and print what they say."""

from __future__ import annotations

import contextlib
import io
import random
import re
from pathlib import Path

import pytest

from tests.tiny_runs import train_tagger

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"
PEOPLE, PLACES = ["John", "Mary", "Ahmed"], ["Paris", "Berlin", "Lagos"]
TEMPLATES = [
    "{per} lives in {loc} .",
    "{per} visited {loc} .",
    "in {loc} , {per} lives .",
    "{per} lives .",
]


def blocks(text: str) -> list[tuple[str, list[str]]]:
    """Each python block and the output its trailing ``# ...`` comment lines promise."""
    found = []
    for code in re.findall(r"```python\n(.*?)```", text, flags=re.S):
        lines = code.rstrip("\n").split("\n")
        expected = []
        while lines and lines[-1].startswith("# "):
            expected.insert(0, lines.pop()[2:])
        found.append(("\n".join(lines) + "\n", expected))
    return found


def _write_ner_data(folder: Path) -> dict[str, Path]:
    """Sentences like the example's, so that the stand-in for a CoNLL-2003 run can tag it."""
    rng = random.Random(1)
    folder.mkdir(parents=True)
    files = {}
    for split, count in (("train", 120), ("dev", 30)):
        lines = []
        for _ in range(count):
            per, loc = rng.choice(PEOPLE), rng.choice(PLACES)
            for token in rng.choice(TEMPLATES).format(per=per, loc=loc).split():
                tag = "B-PER" if token == per else "B-LOC" if token == loc else "O"
                lines.append(f"{token} {tag}")
            lines.append("")
        files[split] = folder / f"{split}.conll"
        files[split].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return files


@pytest.mark.slow
def test_api_doc_blocks_run_and_print_what_they_show(tmp_path, monkeypatch):
    # The page's tagger is "a run of train.py experiment=conll2003_elmo"; a tiny one stands in.
    train_tagger(
        tmp_path / "ner",
        files=_write_ner_data(tmp_path / "ner_data"),
        run_dir=tmp_path / "outputs" / "ner",
        epochs=6,
    )
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    found = blocks(DOC.read_text(encoding="utf-8"))
    assert len(found) >= 5
    for number, (code, expected) in enumerate(found, start=1):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"docs/api.md block {number}", "exec"), namespace)
        printed = [line for line in out.getvalue().splitlines() if line.strip()]
        if expected:
            assert printed[-len(expected) :] == expected, f"block {number}"
