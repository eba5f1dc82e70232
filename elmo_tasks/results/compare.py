"""Compare runs (``python -m elmo_tasks.compare paths=A,B [out=DIR] [metric=NAME] [group_by=folder]``).

Finds every results.json under the PATHs, groups the runs by the config overrides that differ
between them (all but ``seed``, so the seeds of one setting form a group), and writes
``comparison.md`` (mean ± sample std of each test metric per group, the best mean of each
column in bold; then, for every two groups that differ in one setting, the paired difference
of the main metric over their shared seeds with a paired t-test, see
:mod:`elmo_tasks.results.significance`) and ``comparison.png`` (a bar chart of one metric with std
error bars).
Run folders with a ``.hydra/config.yaml`` but no results.json are listed as incomplete.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elmo_tasks.results import significance
from elmo_tasks.results.chart import Bar, save_chart
from elmo_tasks.results.conclusion import conclusion
from elmo_tasks.results.naming import group_names, run_label

RESULTS_FILE = "results.json"
HYDRA_CONFIG = Path(".hydra") / "config.yaml"
# Overrides that say where or with which seed a run ran, not what it ran.
IGNORED_KEYS = ("seed",)
IGNORED_PREFIXES = ("hydra", "paths")
IGNORED_SUFFIXES = ("output_dir", "log_dir", ".dir")
MISSING = "(default)"


@dataclass(frozen=True)
class Run:
    """One finished run: its folder, results.json and the overrides that identify it."""

    path: Path
    results: dict[str, Any]
    overrides: dict[str, str]
    label: str | None = None  # the ``label`` of the run's config (presets set one)


@dataclass
class Group:
    """Runs that share the values of every differing override; ``label`` names those values."""

    label: str
    runs: list[Run] = field(default_factory=list)
    setting: dict[str, str] = field(default_factory=dict)  # the differing keys and their values
    name: str = ""  # short and readable (see elmo_tasks.results.naming); the label if unset

    @property
    def shown(self) -> str:
        """What tables, charts and verdicts call the group."""
        return self.name or self.label


@dataclass(frozen=True)
class Summary:
    """The mean and sample standard deviation (0 for one run) of one metric in one group."""

    mean: float
    std: float
    n: int


@dataclass
class Collection:
    """What the PATHs hold: finished runs and folders of runs without results."""

    runs: list[Run]
    incomplete: list[tuple[Path, str]]


def _natural_key(text: str) -> list[Any]:
    """Sort key that puts run folder 2 before 10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def parse_overrides(overrides: Sequence[str]) -> dict[str, str]:
    """``key=value`` overrides as a dict, without ``+``/``++`` prefixes and without the keys
    that only say where or with which seed a run ran."""
    parsed: dict[str, str] = {}
    for override in overrides:
        key, _, value = str(override).partition("=")
        key = key.lstrip("+").strip()
        if (
            key in IGNORED_KEYS
            or key.startswith(IGNORED_PREFIXES)
            or key.endswith(IGNORED_SUFFIXES)
        ):
            continue
        parsed[key] = value.strip()
    return parsed


def _read_run(path: Path) -> Run:
    results = json.loads((path / RESULTS_FILE).read_text())
    if not isinstance(results, dict):
        raise ValueError("results.json does not hold an object")
    overrides = parse_overrides(results.get("config_overrides") or [])
    return Run(path, results, overrides, run_label(path))


def collect(paths: Sequence[Path]) -> Collection:
    """Every run folder below ``paths`` (each at most once): finished runs, and the folders with
    a Hydra config but no readable results.json."""
    run_dirs: set[Path] = set()
    for root in paths:
        run_dirs.update(p.parent.resolve() for p in root.rglob(RESULTS_FILE))
        run_dirs.update(
            p.parent.parent.resolve()
            for p in root.rglob(HYDRA_CONFIG.name)
            if p.parent.name == ".hydra"
        )
    runs, incomplete = [], []
    for path in sorted(run_dirs, key=lambda p: _natural_key(str(p))):
        if not (path / RESULTS_FILE).is_file():
            incomplete.append((path, "no results.json (failed or still running)"))
            continue
        try:
            run = _read_run(path)
        except (OSError, ValueError) as error:
            incomplete.append((path, f"unreadable results.json ({error})"))
            continue
        status = run.results.get("status", "completed")  # earlier results.json have none
        if status != "completed":  # e.g. diverged: results.json says where, and has no metrics
            detail = run.results.get(status)
            incomplete.append((path, f"{status}{f' ({detail})' if detail else ''}"))
            continue
        runs.append(run)
    return Collection(runs, incomplete)


def group_runs(runs: Sequence[Run], roots: Sequence[Path] | None = None) -> list[Group]:
    """Groups of runs keyed by the overrides whose values differ between runs (a key missing in
    a run counts as ``(default)``), in natural order of their labels. With ``roots``, runs are
    grouped by the folder right below the root that holds them instead (e.g. one sweep folder
    per setting: ``out/elmo/0``, ``out/elmo/1``, ``out/random/0``...)."""
    groups = _group_by_folder(runs, roots) if roots is not None else _group_by_overrides(runs)
    for group, name in zip(groups, group_names(groups)):
        group.name = name
    return groups


def _group_by_overrides(runs: Sequence[Run]) -> list[Group]:
    keys: list[str] = []
    for run in runs:
        keys += [key for key in run.overrides if key not in keys]
    differing = [key for key in keys if len({run.overrides.get(key, MISSING) for run in runs}) > 1]
    groups: dict[str, Group] = {}
    for run in runs:
        setting = {key: run.overrides.get(key, MISSING) for key in differing}
        label = ", ".join(f"{key}={value}" for key, value in setting.items()) or "all runs"
        groups.setdefault(label, Group(label, setting=setting)).runs.append(run)
    return sorted(groups.values(), key=lambda group: _natural_key(group.label))


def summarize(values: Sequence[float]) -> Summary:
    """Mean and sample std (n - 1 in the denominator; 0 for a single value)."""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return Summary(statistics.fmean(values), std, len(values))


def metric_names(runs: Sequence[Run], split: str) -> list[str]:
    """The metrics of ``split`` over all runs: the main metric first, then in order of appearance."""
    names: list[str] = []
    for run in runs:
        names += [name for name in run.results.get(split) or {} if name not in names]
    main = main_metric(runs)
    return sorted(names, key=lambda name: name != main)


def main_metric(runs: Sequence[Run]) -> str | None:
    """The most common ``main_metric`` of the runs."""
    counts = Counter(
        run.results.get("main_metric") for run in runs if run.results.get("main_metric")
    )
    return counts.most_common(1)[0][0] if counts else None


def split_with_metrics(runs: Sequence[Run]) -> str:
    """``test`` when any run has test metrics, else ``val``."""
    return "test" if any(run.results.get("test") for run in runs) else "val"


def group_summary(group: Group, split: str, metric: str) -> Summary | None:
    """The summary of ``metric`` over the runs of ``group`` that report it as a number."""
    values = [(run.results.get(split) or {}).get(metric) for run in group.runs]
    numbers = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return summarize(numbers) if numbers else None


def summary_cells(
    groups: Sequence[Group], split: str, metrics: Sequence[str]
) -> list[list[tuple[str, bool] | None]]:
    """Per group, per metric: the ``mean ± std`` text and whether it is its column's best mean
    (None where no run of the group reports the metric)."""
    summaries = {(g.label, m): group_summary(g, split, m) for g in groups for m in metrics}
    best = {
        m: max(
            (s.mean for (_, name), s in summaries.items() if name == m and s is not None),
            default=None,
        )
        for m in metrics
    }
    rows = []
    for group in groups:
        cells: list[tuple[str, bool] | None] = []
        for metric in metrics:
            summary = summaries[(group.label, metric)]
            cells.append(
                None
                if summary is None
                else (f"{summary.mean:.4f} ± {summary.std:.4f}", summary.mean == best[metric])
            )
        rows.append(cells)
    return rows


def markdown_table(groups: Sequence[Group], split: str, metrics: Sequence[str]) -> str:
    """One row per group: n runs and ``mean ± std`` per metric, the best mean of a column in bold."""
    settings = any(group.shown != group.label for group in groups)
    lines = [
        "| " + " | ".join(["group", *(["setting"] if settings else []), "n", *metrics]) + " |",
        "|"
        + "|".join(["---", *(["---"] if settings else []), "---:", *["---:"] * len(metrics)])
        + "|",
    ]
    for group, cells in zip(groups, summary_cells(groups, split, metrics)):
        texts = ["–" if c is None else f"**{c[0]}**" if c[1] else c[0] for c in cells]
        names = [group.shown, *([f"`{group.label}`"] if settings else [])]
        lines.append(
            "| "
            + " | ".join([*(n.replace("|", "\\|") for n in names), str(len(group.runs)), *texts])
            + " |"
        )
    return "\n".join(lines)


def values_by_seed(group: Group, split: str, metric: str) -> dict[Any, float]:
    """``metric`` of each seed's run in ``group`` (the first run of a seed if it ran twice)."""
    values: dict[Any, float] = {}
    for run in group.runs:
        value = (run.results.get(split) or {}).get(metric)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            values.setdefault(run.results.get("seed"), float(value))
    return values


def paired_differences(
    groups: Sequence[Group], split: str, metric: str
) -> list[significance.PairedDifference]:
    """For every two groups one setting apart, the per-seed difference of ``metric``, the
    better mean first."""
    found = []
    for i, first in enumerate(groups):
        for second in groups[i + 1 :]:
            if significance.one_key_apart(first.setting, second.setting) is None:
                continue
            a, b = values_by_seed(first, split, metric), values_by_seed(second, split, metric)
            if a and b and statistics.fmean(b.values()) > statistics.fmean(a.values()):
                first_label, second_label, a, b = second.shown, first.shown, b, a
            else:
                first_label, second_label = first.shown, second.shown
            difference = significance.paired_difference(first_label, second_label, a, b)
            if difference is not None:
                found.append(difference)
    return found


def _threads(run: Run) -> str | None:
    """The torch threads a run used, as results.json records them (None in older files)."""
    count = run.results.get("threads")
    if count is None:
        return None
    return f"{count} (adaptive)" if run.results.get("threads_adaptive") else str(count)


def thread_warnings(groups: Sequence[Group]) -> list[str]:
    """For every two groups whose runs are paired: a warning when those runs used different
    thread counts (float32 sums split over another number of threads round differently, so
    part of the paired difference would be that) or load-adaptive threads."""
    warnings = []
    for i, first in enumerate(groups):
        for second in groups[i + 1 :]:
            if significance.one_key_apart(first.setting, second.setting) is None:
                continue
            used = sorted(
                {t for run in first.runs + second.runs if (t := _threads(run)) is not None},
                key=_natural_key,
            )
            if len(used) > 1 or any("adaptive" in t for t in used):
                warnings.append(
                    f"{first.label} and {second.label} are paired but their runs used "
                    f"{' / '.join(used)} torch threads: results differ in the last digits with "
                    "the thread count, so rerun them with one fixed threads=N for an exact pairing"
                )
    return warnings


def report(
    collection: Collection, groups: Sequence[Group], split: str, metrics: Sequence[str]
) -> str:
    """comparison.md: a caption, the table, the paired differences of the main metric and the
    footnote of incomplete runs."""
    seeds = sorted({str(run.results.get("seed")) for run in collection.runs}, key=_natural_key)
    plural = "s" if len(groups) != 1 else ""
    caption = (
        f"{'Test' if split == 'test' else 'Validation'} metrics of {len(collection.runs)} runs in "
        f"{len(groups)} group{plural}: mean ± sample std over the runs of a group (seeds {', '.join(seeds)}); "
        "the best mean of each column in bold."
    )
    metric = main_metric(collection.runs) or (metrics[0] if metrics else None)
    differences = paired_differences(groups, split, metric) if metric else []
    text = f"# Comparison\n\n{caption}\n\n"
    if metric:
        text += f"**{conclude(groups, split, metric, differences)}**\n\n"
    text += f"{markdown_table(groups, split, metrics)}\n"
    if differences:
        text += (
            f"\n## Paired differences over seeds ({split} {metric})\n\n"
            "Settings one key apart, paired by seed: mean and sample std of the per-seed differences "
            f"and a two-sided paired t-test; significant means p < {significance.ALPHA}.\n\n"
            f"{significance.markdown_table(differences, metric)}\n"
        )
    warnings = thread_warnings(groups)
    if warnings:
        text += "\n## Warnings\n\n" + "".join(f"- {warning}\n" for warning in warnings)
    if collection.incomplete:
        text += f"\nIncomplete runs ({len(collection.incomplete)}), not in the table:\n\n"
        text += "".join(f"- `{path}`: {reason}\n" for path, reason in collection.incomplete)
    return text


def conclude(
    groups: Sequence[Group],
    split: str,
    metric: str,
    differences: Sequence[significance.PairedDifference],
) -> str:
    """The one-line conclusion (see :mod:`elmo_tasks.results.conclusion`)."""
    means = [(group.shown, group_summary(group, split, metric)) for group in groups]
    return conclusion(split, metric, means, differences)


def chart_bars(groups: Sequence[Group], split: str, metric: str) -> list[Bar]:
    """The bars of the chart: each group's mean, std and the value of every run."""
    bars = []
    for group in groups:
        summary = group_summary(group, split, metric)
        if summary is None:
            continue
        values = [(run.results.get(split) or {}).get(metric) for run in group.runs]
        numbers = tuple(
            float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)
        )
        bars.append(Bar(group.shown.replace(", ", "\n"), summary.mean, summary.std, numbers))
    return bars


def plot(groups: Sequence[Group], split: str, metric: str, path: Path) -> None:
    """A horizontal bar per group (mean of ``metric``, sample std as error bar) on an axis
    from zero, with a dot per run (see :mod:`elmo_tasks.results.chart`)."""
    label = f"{split} {metric} (bars: mean ± sample std; dots: one run each)"
    save_chart(chart_bars(groups, split, metric), label, path)


def _group_by_folder(runs: Sequence[Run], roots: Sequence[Path]) -> list[Group]:
    groups: dict[str, Group] = {}
    resolved = [root.resolve() for root in roots]
    for run in runs:
        root = next((r for r in resolved if r in run.path.parents), None)
        label = run.path.relative_to(root).parts[0] if root is not None else run.path.name
        groups.setdefault(label, Group(label, setting={"folder": label})).runs.append(run)
    return sorted(groups.values(), key=lambda group: _natural_key(group.label))


class ComparisonError(ValueError):
    """Nothing to compare: a path that is not a folder, no finished runs, an unknown metric."""


@dataclass
class Comparison:
    """What :func:`compare_runs` found and wrote."""

    collection: Collection
    groups: list[Group]
    split: str
    metrics: list[str]
    markdown: str
    out: Path
    warnings: list[str] = field(default_factory=list)  # paired runs with other thread counts


def compare_runs(
    paths: Sequence[Path],
    out: Path | None = None,
    metric: str | None = None,
    group_by: str = "overrides",
) -> Comparison:
    """Write ``comparison.md`` and ``comparison.png`` for the runs under ``paths`` into ``out``
    (default: the first path); :class:`ComparisonError` when there is nothing to compare."""
    from elmo_tasks.core.atomic import atomic_write_text

    missing = [str(p) for p in paths if not p.is_dir()]
    if missing:
        raise ComparisonError(f"not a folder: {', '.join(missing)}")
    collection = collect(paths)
    if not collection.runs:
        where = ", ".join(str(p) for p in paths)
        extra = (
            f" ({len(collection.incomplete)} incomplete run folders)"
            if collection.incomplete
            else ""
        )
        raise ComparisonError(f"no runs with {RESULTS_FILE} found under {where}{extra}")
    split = split_with_metrics(collection.runs)
    metrics = metric_names(collection.runs, split)
    chart_metric = metric or main_metric(collection.runs) or (metrics[0] if metrics else None)
    if chart_metric not in metrics:
        raise ComparisonError(
            f"metric {chart_metric!r} not in the {split} metrics of the runs: {', '.join(metrics)}"
        )
    groups = group_runs(collection.runs, paths if group_by == "folder" else None)
    out = out or paths[0]
    out.mkdir(parents=True, exist_ok=True)
    text = report(collection, groups, split, metrics)
    atomic_write_text(out / "comparison.md", text)
    plot(groups, split, chart_metric, out / "comparison.png")
    return Comparison(collection, groups, split, metrics, text, out, thread_warnings(groups))
