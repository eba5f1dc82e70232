"""An evaluation report (``elmo-tasks evaluate``) on a terminal and as a confusion-matrix chart.

The report is the dict ``run.evaluate(path)`` returns: ``metrics``, then ``per_class`` and
``confusion_matrix`` for a classifier or ``per_type`` for a tagger. The tables are drawn with
rich, narrow enough for 80 columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

MAX_MATRIX_CLASSES = 8
"""A terminal shows the confusion matrix up to this many classes (the PNG has every one)."""


def metrics_table(report: Mapping[str, Any]) -> Table:
    """Metric | value, the main metric first and in bold."""
    main = report.get("main_metric")
    where = Path(str(report.get("input", ""))).name
    table = Table(
        title=f"{escape(where)}: {report.get('examples')} examples",
        title_justify="left",
    )
    table.add_column("metric")
    table.add_column("value", justify="right")
    metrics = report.get("metrics") or {}
    for name in sorted(metrics, key=lambda key: key != main):
        value = f"{metrics[name]:.4f}"
        shown = f"[bold]{escape(name)}[/bold]" if name == main else escape(name)
        table.add_row(shown, f"[bold]{value}[/bold]" if name == main else value)
    return table


def breakdown_table(report: Mapping[str, Any]) -> Table | None:
    """Precision, recall, F1 and support per class (classifier) or entity type (tagger)."""
    rows = report.get("per_class") or report.get("per_type")
    if not rows:
        return None
    kind = "class" if report.get("per_class") else "entity type"
    table = Table(title=f"Per {kind}", title_justify="left")
    table.add_column(kind, no_wrap=True)
    for name in ("precision", "recall", "F1", "support"):
        table.add_column(name, justify="right")
    for name, scores in rows.items():
        table.add_row(
            escape(str(name)),
            f"{scores['precision']:.4f}",
            f"{scores['recall']:.4f}",
            f"{scores['f1']:.4f}",
            str(scores["support"]),
        )
    return table


def matrix_table(report: Mapping[str, Any]) -> Table | None:
    """The confusion matrix (rows gold, columns predicted), for a few classes."""
    confusion = report.get("confusion_matrix")
    if not confusion or len(confusion["labels"]) > MAX_MATRIX_CLASSES:
        return None
    labels = confusion["labels"]
    table = Table(
        title="Confusion matrix", title_justify="left", caption="rows: gold; columns: predicted"
    )
    table.add_column("gold \\ predicted", no_wrap=True)
    for label in labels:
        table.add_column(escape(str(label)), justify="right")
    for label, row in zip(labels, confusion["matrix"]):
        table.add_row(escape(str(label)), *(str(count) for count in row))
    return table


def print_report(console: Console, report: Mapping[str, Any]) -> None:
    """The metrics, the per-class or per-type table and a small confusion matrix."""
    for table in (metrics_table(report), breakdown_table(report), matrix_table(report)):
        if table is not None:
            console.print(table)


def plot_confusion_matrix(
    labels: Sequence[str], matrix: Sequence[Sequence[int]], path: Path
) -> None:
    """A heat map of the counts (rows gold, columns predicted), each cell with its count and
    its share of the gold class, written to ``path`` (PNG; replaced only by a complete one)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from elmo_tasks.core.atomic import atomic_open

    n = len(labels)
    totals = [sum(row) or 1 for row in matrix]
    shares = [[count / total for count in row] for row, total in zip(matrix, totals)]
    size = 2.5 + 0.7 * n
    figure, axes = plt.subplots(figsize=(size + 1.0, size))
    image = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, label="share of the gold class")
    axes.set_xticks(range(n), [str(label) for label in labels], rotation=45, ha="right")
    axes.set_yticks(range(n), [str(label) for label in labels])
    axes.set_xlabel("predicted")
    axes.set_ylabel("gold")
    for i in range(n):
        for j in range(n):
            colour = "white" if shares[i][j] > 0.6 else "black"
            axes.text(
                j,
                i,
                f"{matrix[i][j]}\n{shares[i][j]:.0%}",
                ha="center",
                va="center",
                color=colour,
                fontsize=8,
            )
    axes.set_title("Confusion matrix")
    figure.tight_layout()
    with atomic_open(path, "wb") as handle:
        figure.savefig(handle, dpi=120, format="png")
    plt.close(figure)
