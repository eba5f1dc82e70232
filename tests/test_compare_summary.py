"""Comparisons read at a glance: short group names, a one-line conclusion, where the report
and chart are, at 80 columns; a chart with every run's point on an axis from zero."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from elmo_tasks.results.chart import Bar, figure
from elmo_tasks.results.compare import chart_bars, collect, compare_runs, group_runs
from elmo_tasks.results.table import show_comparison
from tests.compose import compose_config

QUICKSTART = {  # experiment -> (label, test accuracy of seeds 1, 2, 3)
    "quickstart/baseline": ("baseline", (0.80, 0.82, 0.81)),
    "quickstart/baseline_elmo": ("baseline + ELMo", (0.86, 0.88, 0.875)),
    "quickstart/elmo": ("ELMo alone", (0.84, 0.83, 0.87)),
}


def write_sweep(root: Path, labelled: bool = True, extra: tuple[str, ...] = ()) -> Path:
    """A quickstart-like multirun: three experiments, three seeds, five test metrics."""
    index = 0
    for experiment, (label, values) in QUICKSTART.items():
        for seed, value in enumerate(values, start=1):
            folder = root / str(index)
            (folder / ".hydra").mkdir(parents=True)
            config = f"seed: {seed}\n" + (f"label: {label}\n" if labelled else "label: null\n")
            (folder / ".hydra" / "config.yaml").write_text(config)
            metrics = {
                "accuracy": value,
                "macro_f1": value - 0.01,
                "macro_recall": value,
                "f1_negative": value,
                "f1_positive": value,
            }
            results = {
                "seed": seed,
                "main_metric": "accuracy",
                "val": metrics,
                "test": metrics,
                "config_overrides": [f"experiment={experiment}", *extra, f"seed={seed}"],
            }
            (folder / "results.json").write_text(json.dumps(results))
            index += 1
    return root


@pytest.mark.parametrize("width", [80, 120])
def test_the_summary_names_the_groups_and_concludes_at_80_and_120_columns(tmp_path, width):
    sweep = write_sweep(tmp_path / "sweep")
    console = Console(file=io.StringIO(), width=width, color_system=None)
    show_comparison(compare_runs([sweep]), console)
    text = console.file.getvalue()
    rows = [line for line in text.splitlines() if line.startswith("│")]
    names = [row.split("│")[1].strip() for row in rows]
    assert names == ["baseline", "baseline + ELMo", "ELMo alone"]  # whole, one line each
    assert "…" not in text and "experiment=" not in text
    assert max(len(line) for line in text.splitlines() if line.startswith(("│", "┃"))) <= width
    lines = text.splitlines()
    conclusion = next(line for line in lines if line.startswith("Conclusion: "))
    assert conclusion == (
        "Conclusion: baseline + ELMo has the best test accuracy (0.8717): +0.0250 over ELMo "
        "alone (p = 0.199, not significant), +0.0617 over baseline (p = 0.00073, significant)"
    )
    assert f"Report: {sweep / 'comparison.md'}" in lines
    assert f"Chart:  {sweep / 'comparison.png'}" in lines


def test_the_report_names_groups_by_label_beside_their_overrides(tmp_path):
    sweep = write_sweep(tmp_path / "sweep")
    markdown = compare_runs([sweep]).markdown
    assert "| baseline + ELMo | `experiment=quickstart/baseline_elmo` | 3 |" in markdown
    assert "**baseline + ELMo has the best test accuracy (0.8717): +0.0250 over ELMo" in markdown


@pytest.mark.parametrize(
    ("extra", "names"),
    [
        ((), ["baseline", "baseline_elmo", "elmo"]),
        (
            ("encoder.encoders.elmo.at_output=true",),
            ["baseline", "baseline_elmo", "elmo"],  # the same in every run: not a difference
        ),
    ],
)
def test_without_labels_the_differing_overrides_are_shortened(tmp_path, extra, names):
    sweep = write_sweep(tmp_path / "sweep", labelled=False, extra=extra)
    groups = group_runs(collect([sweep]).runs)
    assert [group.shown for group in groups] == names
    assert [group.label for group in groups][0] == "experiment=quickstart/baseline"


def test_a_nested_key_is_shortened_to_its_last_part(tmp_path):
    write_sweep(tmp_path / "a", labelled=False, extra=("encoder.encoders.elmo.at_output=true",))
    write_sweep(tmp_path / "b", labelled=False, extra=("encoder.encoders.elmo.at_output=false",))
    groups = group_runs(collect([tmp_path]).runs)
    assert "baseline_elmo, at_output=true" in [group.shown for group in groups]


def scatters(axes) -> list:
    """The scatter plots (one per group: its runs) of a chart's axes."""
    from matplotlib.collections import PathCollection

    return [c for c in axes.collections if isinstance(c, PathCollection)]


def test_the_chart_shows_every_run_on_an_axis_from_zero(tmp_path):
    sweep = write_sweep(tmp_path / "sweep")
    groups = group_runs(collect([sweep]).runs)
    bars = chart_bars(groups, "test", "accuracy")
    assert [bar.values for bar in bars] == [values for _, values in QUICKSTART.values()]
    fig = figure(bars, "test accuracy")
    (axes,) = fig.axes
    assert axes.get_xlim()[0] == 0.0  # not the smallest mean
    dots = [row for scatter in scatters(axes) for row in scatter.get_offsets().tolist()]
    assert sorted(x for x, _ in dots) == sorted(v for bar in bars for v in bar.values)
    assert len(scatters(axes)) == 3 and len(axes.patches) == 3  # one bar per group
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_a_single_run_per_group_is_one_dot_on_its_bar():
    fig = figure([Bar("a", 0.5, 0.0, (0.5,)), Bar("b", 0.7, 0.0, (0.7,))], "accuracy")
    (axes,) = fig.axes
    offsets = [scatter.get_offsets().tolist() for scatter in scatters(axes)]
    assert [x for ((x, _),) in offsets] == [0.5, 0.7]
    assert axes.get_xlim() == (0.0, 1.0)


def test_the_quickstart_presets_carry_their_labels(tmp_path):
    for experiment, (label, _) in QUICKSTART.items():
        cfg = compose_config(tmp_path / "run", [f"experiment={experiment}"])
        assert cfg.label == label
    assert compose_config(tmp_path / "run", ["experiment=none"]).label is None
