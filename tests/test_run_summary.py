"""A finished run prints its validation and test metrics as a table, not only results.json's path."""

from __future__ import annotations

import io
import json

from rich.console import Console

from elmo_tasks.results.run_summary import heading, one_line, results_table
from tests.tiny_runs import train_classifier

RESULTS = {
    "task": "sst2",
    "encoder": "ConcatEncoder",
    "head": "MaxPoolingClassifier",
    "seed": 42,
    "main_metric": "accuracy",
    "val": {"macro_f1": 0.8612, "accuracy": 0.8624, "f1_negative": 0.85, "f1_positive": 0.87},
    "test": {"macro_f1": 0.8501, "accuracy": 0.8512, "f1_negative": 0.84, "f1_positive": 0.86},
}


def rows(text: str) -> dict[str, list[str]]:
    found = {}
    for line in text.splitlines():
        if line.startswith(("│", "┃")):
            cells = [cell.strip() for cell in line.replace("┃", "│").split("│")[1:-1]]
            found[cells[0]] = cells[1:]
    return found


def test_the_table_reads_at_80_columns_main_metric_first():
    console = Console(file=io.StringIO(), width=80, color_system=None)
    console.print(results_table(RESULTS))
    text = console.file.getvalue()
    assert max(map(len, text.splitlines())) <= 80
    table = rows(text)
    assert list(table) == ["metric", "accuracy", "macro_f1", "f1_negative", "f1_positive"]
    assert table["metric"] == ["validation", "test"]
    assert table["accuracy"] == ["0.8624", "0.8512"]
    assert heading(RESULTS) == "sst2 · ConcatEncoder + MaxPoolingClassifier · seed 42"
    assert one_line(RESULTS) == "val accuracy 0.8624, test accuracy 0.8512"


def test_a_run_without_test_shows_validation_only():
    console = Console(file=io.StringIO(), width=80, color_system=None)
    console.print(results_table({**RESULTS, "test": {}}))
    assert rows(console.file.getvalue())["accuracy"] == ["0.8624"]


def test_a_finished_run_prints_its_scores(tmp_path, capsys):
    run_dir = train_classifier(tmp_path, epochs=1)
    out = capsys.readouterr().out
    results = json.loads((run_dir / "results.json").read_text())
    table = rows(out)
    assert table["metric"] == ["validation", "test"]
    assert table["accuracy"] == [
        f"{results['val']['accuracy']:.4f}",
        f"{results['test']['accuracy']:.4f}",
    ]
    assert f"results: {run_dir / 'results.json'}" in out
    assert "text_classification · WordEmbeddingEncoder + MaxPoolingClassifier · seed" in out
