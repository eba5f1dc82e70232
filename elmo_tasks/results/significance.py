"""Paired comparisons of two settings over seeds: is one really better than the other?

Two groups of runs that differ in exactly one setting (``experiment=sst2_baseline`` vs
``experiment=sst2_baseline_elmo``, or ``head=max`` vs ``head=attention`` with everything else
equal) are paired by seed: run *i* of one and run *i* of the other share their seed, so their
data order and initialisation draws are as alike as the two settings allow. The per-seed
differences of a metric then give a mean gain, its sample standard deviation and a two-sided
paired t-test (H0: no difference on average). With 3 seeds a t-test only detects large,
consistent gains; the table says when a difference is not significant rather than calling it
a win.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

ALPHA = 0.05


@dataclass(frozen=True)
class PairedDifference:
    """``first`` minus ``second`` over the seeds both groups ran."""

    first: str
    second: str
    seeds: tuple[Any, ...]
    mean: float
    std: float
    p_value: float | None  # None with fewer than 2 pairs

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < ALPHA

    def verdict(self) -> str:
        """Which setting beats which, or that the seeds cannot tell them apart."""
        if self.p_value is None:
            return "too few seeds to test"
        if not self.significant:
            return f"no significant difference (p ≥ {ALPHA})"
        better, worse = (self.first, self.second) if self.mean > 0 else (self.second, self.first)
        return f"{better} beats {worse} (p < {ALPHA})"


def paired_t_test(differences: Sequence[float]) -> float | None:
    """Two-sided p-value of the paired t-test on ``differences`` (None for fewer than 2; 0 or 1
    when every difference is equal: certainly different, or no difference at all)."""
    n = len(differences)
    if n < 2:
        return None
    mean = statistics.fmean(differences)
    std = statistics.stdev(differences)
    if std == 0.0:
        return 1.0 if mean == 0.0 else 0.0
    from scipy import stats

    t = mean / (std / math.sqrt(n))
    return float(2.0 * stats.t.sf(abs(t), df=n - 1))


def paired_difference(
    first: str, second: str, values_first: dict[Any, float], values_second: dict[Any, float]
) -> PairedDifference | None:
    """The difference ``first - second`` over the seeds present in both (None if none are)."""
    seeds = tuple(seed for seed in values_first if seed in values_second)
    if not seeds:
        return None
    differences = [values_first[s] - values_second[s] for s in seeds]
    std = statistics.stdev(differences) if len(differences) > 1 else 0.0
    return PairedDifference(
        first, second, seeds, statistics.fmean(differences), std, paired_t_test(differences)
    )


def one_key_apart(first: dict[str, str], second: dict[str, str]) -> str | None:
    """The one key whose value differs between two settings, or None (none or several differ)."""
    keys = set(first) | set(second)
    differing = [key for key in sorted(keys) if first.get(key) != second.get(key)]
    return differing[0] if len(differing) == 1 else None


def markdown_table(differences: Sequence[PairedDifference], metric: str) -> str:
    """One row per pair: the mean ± std of the per-seed differences, the p-value and the verdict."""
    lines = [
        f"| A | B | seeds | mean {metric} A − B | std | p (paired t) | verdict |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for d in differences:
        p = "–" if d.p_value is None else f"{d.p_value:.3g}"
        cells = [
            d.first,
            d.second,
            str(len(d.seeds)),
            f"{d.mean:+.4f}",
            f"{d.std:.4f}",
            p,
            d.verdict(),
        ]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)
