"""The comparison table of ``python -m elmo_tasks.compare`` on a terminal, drawn with rich.

comparison.md keeps the markdown tables; a terminal gets the same numbers as rich tables
(the best mean of each column in bold), the paired differences between settings one key
apart with their verdicts, and the list of incomplete runs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from elmo_tasks.results.compare import (
    Comparison,
    _natural_key,
    main_metric,
    paired_differences,
    summary_cells,
)
from elmo_tasks.results.significance import ALPHA


def comparison_table(
    groups: Sequence[Any], split: str, metrics: Sequence[str], caption: str = ""
) -> Table:
    """One row per group: n runs and ``mean ± std`` per metric, the best mean of a column in bold."""
    table = Table(
        title=f"{'Test' if split == 'test' else 'Validation'} metrics", caption=caption or None
    )
    table.add_column("group")
    table.add_column("n", justify="right")
    for metric in metrics:
        table.add_column(metric, justify="right")
    for group, cells in zip(groups, summary_cells(groups, split, metrics)):
        texts = ["–" if c is None else f"[bold]{c[0]}[/bold]" if c[1] else c[0] for c in cells]
        table.add_row(escape(group.label), str(len(group.runs)), *texts)
    return table


def paired_table(differences: Sequence[Any], split: str, metric: str) -> Table:
    """One row per pair of settings one key apart: the per-seed difference, its p-value and verdict."""
    table = Table(
        title=f"Paired differences over seeds ({split} {metric})",
        caption=f"paired by seed; two-sided paired t-test; significant: p < {ALPHA}",
    )
    for name, justify in (
        ("A", "left"),
        ("B", "left"),
        ("seeds", "right"),
        ("mean A − B", "right"),
        ("std", "right"),
        ("p", "right"),
        ("verdict", "left"),
    ):
        table.add_column(name, justify=justify)
    for d in differences:
        p = "–" if d.p_value is None else f"{d.p_value:.3g}"
        verdict = f"[bold]{escape(d.verdict())}[/bold]" if d.significant else escape(d.verdict())
        table.add_row(
            escape(d.first),
            escape(d.second),
            str(len(d.seeds)),
            f"{d.mean:+.4f}",
            f"{d.std:.4f}",
            p,
            verdict,
        )
    return table


def print_comparison(
    console: Console, collection: Any, groups: Sequence[Any], split: str, metrics: Sequence[str]
) -> None:
    """The table with its caption, the paired differences, then the runs left out of the table
    (unfinished or unreadable)."""
    seeds = sorted({str(run.results.get("seed")) for run in collection.runs}, key=_natural_key)
    caption = (
        f"mean ± sample std over the runs of a group (seeds {', '.join(seeds)}); best mean in bold"
    )
    console.print(comparison_table(groups, split, metrics, caption))
    metric = main_metric(collection.runs) or (metrics[0] if metrics else None)
    differences = paired_differences(groups, split, metric) if metric else []
    if differences:
        console.print(paired_table(differences, split, metric))
    if collection.incomplete:
        console.print(f"Incomplete runs ({len(collection.incomplete)}), not in the table:")
        for path, reason in collection.incomplete:
            console.print(f"  {path}: {reason}", markup=False, highlight=False)


def show_comparison(result: Comparison) -> None:
    """A terminal gets the rich tables; a pipe or a file the markdown of comparison.md."""
    if sys.stdout.isatty():
        print_comparison(Console(), result.collection, result.groups, result.split, result.metrics)
    else:
        print(result.markdown, end="")
