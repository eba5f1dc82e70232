"""The comparison table of ``python -m elmo_tasks.compare`` on a terminal, drawn with rich.

comparison.md keeps the markdown tables; a terminal gets the same numbers as a rich table
that reads at 80 columns (groups by their short names, never cut; the best mean of each
column in bold; as many metrics as fit), the paired differences between settings one key
apart, a one-line conclusion, where the report and the chart are, and the incomplete runs.
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
    conclude,
    main_metric,
    paired_differences,
    summary_cells,
)
from elmo_tasks.results.significance import ALPHA


def _fitting_metrics(groups: Sequence[Any], metrics: Sequence[str], width: int) -> list[str]:
    """The first metrics (the main one first) whose columns fit ``width`` beside the group names."""
    used = max([len("group"), *(len(group.shown) for group in groups)]) + 4 + 5  # group, n
    shown: list[str] = []
    for metric in metrics:
        column = max(len(metric), len("0.0000 ± 0.0000")) + 3
        if shown and used + column > width:
            break
        shown.append(metric)
        used += column
    return shown


def comparison_table(
    groups: Sequence[Any], split: str, metrics: Sequence[str], caption: str = ""
) -> Table:
    """One row per group (its short name, never wrapped): n runs and ``mean ± std`` per
    metric, the best mean of a column in bold."""
    table = Table(
        title=f"{'Test' if split == 'test' else 'Validation'} metrics",
        caption=caption or None,
        title_justify="left",
        caption_justify="left",
    )
    table.add_column("group", no_wrap=True)
    table.add_column("n", justify="right")
    for metric in metrics:
        table.add_column(metric, justify="right")
    for group, cells in zip(groups, summary_cells(groups, split, metrics)):
        texts = ["–" if c is None else f"[bold]{c[0]}[/bold]" if c[1] else c[0] for c in cells]
        table.add_row(escape(getattr(group, "shown", group.label)), str(len(group.runs)), *texts)
    return table


def paired_lines(differences: Sequence[Any]) -> list[str]:
    """One line per pair of settings one key apart: A − B over the shared seeds, the p-value
    and whether that is significant."""
    lines = []
    for d in differences:
        if d.p_value is None:
            test = "one shared seed: no test"
        else:
            test = f"p = {d.p_value:.3g}, " + (
                "significant" if d.significant else "not significant"
            )
        lines.append(
            f"  {d.first} − {d.second}: {d.mean:+.4f} ± {d.std:.4f} over {len(d.seeds)} "
            f"seed{'s' if len(d.seeds) != 1 else ''} ({test})"
        )
    return lines


def _plain(console: Console, text: str) -> None:
    """``text`` as it is: no markup, no highlighting, and no line breaks of rich's own."""
    console.print(text, soft_wrap=True, markup=False, highlight=False)


def print_comparison(
    console: Console, collection: Any, groups: Sequence[Any], split: str, metrics: Sequence[str]
) -> None:
    """The table (as many metrics as fit the console), the paired differences, the one-line
    conclusion, then the runs left out of the table (unfinished or unreadable)."""
    seeds = sorted({str(run.results.get("seed")) for run in collection.runs}, key=_natural_key)
    shown = _fitting_metrics(groups, metrics, console.width)
    more = len(metrics) - len(shown)
    caption = f"mean ± sample std over the runs of a group (seeds {', '.join(seeds)})" + (
        f"; {more} more metric{'s' if more != 1 else ''} in comparison.md" if more else ""
    )
    console.print(comparison_table(groups, split, shown, caption))
    metric = main_metric(collection.runs) or (metrics[0] if metrics else None)
    differences = paired_differences(groups, split, metric) if metric else []
    if differences:
        _plain(
            console,
            f"Paired differences of {split} {metric} over seeds (two-sided paired t-test; "
            f"significant: p < {ALPHA}):",
        )
        for line in paired_lines(differences):
            _plain(console, line)
    if metric:
        _plain(console, f"Conclusion: {conclude(groups, split, metric, differences)}")
    if collection.incomplete:
        _plain(console, f"Incomplete runs ({len(collection.incomplete)}), not in the table:")
        for path, reason in collection.incomplete:
            _plain(console, f"  {path}: {reason}")


def _warn(result: Comparison) -> None:
    """Each of the comparison's warnings (paired runs with other thread counts) on stderr."""
    sys.stdout.flush()
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def show_comparison(
    result: Comparison, console: Console | None = None, markdown_paths: bool = True
) -> None:
    """A terminal gets the rich tables, the conclusion and where comparison.md and
    comparison.png are; a pipe or a file the markdown of comparison.md (and, unless
    ``markdown_paths`` is false, the two paths after it)."""
    paths = [f"Report: {result.out / 'comparison.md'}", f"Chart:  {result.out / 'comparison.png'}"]
    if console is not None or sys.stdout.isatty():
        console = console or Console()
        print_comparison(console, result.collection, result.groups, result.split, result.metrics)
        for line in paths:
            _plain(console, line)
        _warn(result)
        return
    print(result.markdown, end="")
    if markdown_paths:
        print("\n" + "\n".join(paths))
    _warn(result)
