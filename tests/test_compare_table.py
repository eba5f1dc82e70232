"""compare on a terminal: the rich table (comparison.md and piped output stay markdown)."""

from __future__ import annotations

import io

from rich.console import Console

from elmo_tasks.cli.compare import main as compare_command
from elmo_tasks.results import compare
from elmo_tasks.results.table import comparison_table, print_comparison
from tests.test_compare import sweep, write_run  # noqa: F401  (the fixture)


def _rendered(sweep_dir, width: int = 120) -> str:
    collection = compare.collect([sweep_dir])
    split = compare.split_with_metrics(collection.runs)
    metrics = compare.metric_names(collection.runs, split)
    console = Console(file=io.StringIO(), width=width, color_system=None)
    print_comparison(console, collection, compare.group_runs(collection.runs), split, metrics)
    return console.file.getvalue()


def test_rich_table_has_the_numbers_of_the_markdown_report(sweep):  # noqa: F811
    text = _rendered(sweep)
    rows = {}
    for line in text.split("Paired differences")[0].splitlines():
        if line[:1] in ("│", "┃"):  # body and header rows
            cells = [cell.strip() for cell in line.replace("┃", "│").split("│")[1:-1]]
            rows[cells[0]] = cells[1:]
    assert rows["group"] == ["n", "accuracy", "macro_f1"]
    assert rows["a"] == ["3", "0.8200 ± 0.0200", "0.7200 ± 0.0346"]
    assert rows["b"] == ["2", "0.8800 ± 0.0283", "0.6200 ± 0.0283"]
    assert rows["c"] == ["1", "0.5000 ± 0.0000", "–"]
    words = " ".join(text.split())  # the caption wraps at the table's width
    assert "Test metrics" in words and "(seeds 1, 2, 3)" in words
    assert "Incomplete runs (1), not in the table:" in text


def test_the_paired_differences_and_the_conclusion_follow_the_table(sweep):  # noqa: F811
    text = _rendered(sweep, width=80)
    paired = text.split("Paired differences of test accuracy over seeds")[1]
    lines = [line.strip() for line in paired.splitlines() if line.startswith("  ")]
    assert lines[:3] == [
        "b − a: +0.0600 ± 0.0566 over 2 seeds (p = 0.374, not significant)",
        "a − c: +0.3000 ± 0.0000 over 1 seed (one shared seed: no test)",
        "b − c: +0.4000 ± 0.0000 over 1 seed (one shared seed: no test)",
    ]
    assert (
        "Conclusion: b has the best test accuracy (0.8800): +0.0600 over a (p = 0.374, not "
        "significant), +0.3800 over c (one shared seed: no test)\n" in text
    )


def test_best_means_are_bold_and_labels_are_not_markup():
    class Group:
        def __init__(self, label, runs):
            self.label, self.runs, self.shown = label, runs, label

    class Run:
        def __init__(self, value):
            self.results = {"test": {"f1": value}}

    table = comparison_table(
        [Group("head=[max]", [Run(0.5)]), Group("b", [Run(0.9)])], "test", ["f1"]
    )
    console = Console(file=io.StringIO(), width=80, force_terminal=True, color_system="standard")
    console.print(table)
    out = console.file.getvalue()
    assert "head=[max]" in out  # escaped, not swallowed as a style tag
    assert "\x1b[1m0.9000 ± 0.0000" in out and "\x1b[1m0.5000" not in out


def test_main_prints_the_rich_table_on_a_terminal_and_markdown_otherwise(
    sweep,  # noqa: F811  (the fixture imported above)
    capsys,
    monkeypatch,
):
    assert compare_command([str(sweep)]) == 0
    assert capsys.readouterr().out == (sweep / "comparison.md").read_text()
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    assert compare_command([str(sweep)]) == 0
    out = capsys.readouterr().out
    assert "│ a " in out and "| a |" not in out
