"""compare's chart: one horizontal bar per group (the mean of a metric, with the sample std as
error bar) over an axis that starts at zero, and one dot per run (seed) on top of its bar, so
that a gap can be judged against the spread of the seeds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Bar:
    """One group: its name, the mean and sample std of the metric, and every run's value."""

    name: str
    mean: float
    std: float
    values: tuple[float, ...]


def figure(bars: Sequence[Bar], xlabel: str):
    """The matplotlib figure of ``bars`` (the caller saves and closes it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = sum(bar.name.count("\n") + 1 for bar in bars)
    width = max(len(line) for bar in bars for line in bar.name.split("\n"))
    fig, axes = plt.subplots(figsize=(5.0 + 0.07 * width, 1.2 + 0.3 * lines + 0.2 * len(bars)))
    positions = list(range(len(bars)))
    axes.barh(
        positions,
        [bar.mean for bar in bars],
        xerr=[bar.std for bar in bars],
        capsize=4,
        color="tab:blue",
        alpha=0.6,
    )
    for position, bar in zip(positions, bars):
        count = len(bar.values)
        offsets = [0.0] if count == 1 else [-0.2 + 0.4 * i / (count - 1) for i in range(count)]
        axes.scatter(
            bar.values,
            [position + offset for offset in offsets],
            color="black",
            s=14,
            zorder=3,
        )
    axes.set_yticks(positions, [f"{bar.name} (n={len(bar.values)})" for bar in bars])
    axes.invert_yaxis()
    values = [v for bar in bars for v in bar.values]
    top = max([bar.mean + bar.std for bar in bars] + values)
    bottom = min([0.0, *values])
    # From zero, so that gaps show at their true size (metrics in [0, 1] get the whole range).
    axes.set_xlim(bottom, 1.0 if top <= 1.0 else top * 1.05)
    axes.set_xlabel(xlabel)
    axes.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def save_chart(bars: Sequence[Bar], xlabel: str, path: Path) -> None:
    """Draw ``bars`` and write the PNG to ``path`` (an existing chart is replaced only by a
    complete one)."""
    import matplotlib.pyplot as plt

    from elmo_tasks.core.atomic import atomic_open

    fig = figure(bars, xlabel)
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, dpi=120, format="png")
    plt.close(fig)
