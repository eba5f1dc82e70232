"""The one-line conclusion of a comparison: which setting has the best mean of the main
metric, by how much it is ahead of each other one, and whether the paired t-test over seeds
calls that difference significant.

    baseline + ELMo has the best test accuracy (0.8733): +0.0520 over baseline (p = 0.012,
    significant), +0.0100 over ELMo alone (p = 0.62, not significant)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from elmo_tasks.results.significance import PairedDifference


def _versus(best: str, other: str, gap: float, differences: Sequence[PairedDifference]) -> str:
    pair = next(
        (d for d in differences if {d.first, d.second} == {best, other}),
        None,
    )
    if pair is None:
        return f"{gap:+.4f} over {other} (not paired: more than one setting differs)"
    if pair.p_value is None:
        return f"{gap:+.4f} over {other} (one shared seed: no test)"
    verdict = "significant" if pair.significant else "not significant"
    return f"{gap:+.4f} over {other} (p = {pair.p_value:.3g}, {verdict})"


def conclusion(
    split: str,
    metric: str,
    means: Sequence[tuple[str, Any]],
    differences: Sequence[PairedDifference],
) -> str:
    """``means``: ``(name, summary)`` per group (``summary.mean``, None where the group lacks
    the metric); ``differences``: the paired differences of ``metric`` between groups named
    alike. One line, without a line break."""
    shown = [(name, summary) for name, summary in means if summary is not None]
    if not shown:
        return f"no run reports {split} {metric}"
    best_name, best = max(shown, key=lambda item: item[1].mean)
    if len(shown) == 1:
        return (
            f"{best_name}: {split} {metric} {best.mean:.4f} (n={best.n}); nothing to compare with"
        )
    others = sorted(
        ((name, summary) for name, summary in shown if name != best_name),
        key=lambda item: -item[1].mean,
    )
    against = ", ".join(
        _versus(best_name, name, best.mean - summary.mean, differences) for name, summary in others
    )
    return f"{best_name} has the best {split} {metric} ({best.mean:.4f}): {against}"
