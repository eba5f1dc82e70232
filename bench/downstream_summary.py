"""One table for the runs of bench/pretrained_downstream.sh: every task × setting as mean ± std
of the test metric over seeds, then the paired differences that decide the paper's question
(does ELMo added to the baseline help, and more than same-corpus word2vec?).

    python bench/downstream_summary.py OUT_DIR [--chart docs/img/downstream.png] [--save-runs FILE]
    python bench/downstream_summary.py --from-runs docs/data/downstream_mini_runs.json [--chart ...]
    python bench/downstream_summary.py --from-markdown docs/results.md --chart docs/img/downstream_mini.png

OUT_DIR is the folder the shell script wrote (``OUT_DIR/<task>/<setting>/<seed>/results.json``).
The chart's axes start at zero (a gap is drawn at its true size) and show every seed's run as
a dot on its bar. ``--from-markdown`` redraws the chart from the mean ± std table of a results
page when the run folders are gone (bars and error bars only: such a table keeps no per-seed
values, and the chart says so). ``--save-runs`` keeps each seed's test metric and the mean
wall time of every task × setting in a small JSON file, from which ``--from-runs`` prints the
same tables and draws the same chart when the run folders are gone.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

from elmo_tasks.results.significance import paired_difference

TASKS = {
    "sst2": "SST-2 (accuracy)",
    "tweet": "tweets (macro recall)",
    "sst5": "SST-5 (accuracy)",
    "conll2003": "CoNLL-2003 (span F1)",
}
SETTINGS = {
    "baseline": "baseline",
    "word2vec": "baseline, word2vec init.",
    "baseline_elmo": "baseline + ELMo",
    "elmo": "ELMo alone",
}
CHART_LABELS = {
    "baseline": "baseline",
    "word2vec": "word2vec\ninit.",
    "baseline_elmo": "baseline\n+ ELMo",
    "elmo": "ELMo\nalone",
}
PAIRS = [
    ("baseline_elmo", "baseline"),
    ("baseline_elmo", "word2vec"),
    ("elmo", "baseline"),
    ("word2vec", "baseline"),
]


def read(out: Path) -> dict[tuple[str, str], dict]:
    """(task, setting) -> {seed: test main metric}, plus the mean wall time."""
    found = {}
    for task in TASKS:
        for setting in SETTINGS:
            runs = [
                json.loads(p.read_text())
                for p in sorted((out / task / setting).glob("*/results.json"))
            ]
            if runs:
                found[task, setting] = {
                    "by_seed": {r["seed"]: r["test"][r["main_metric"]] for r in runs},
                    "wall": statistics.fmean(r["wall_time_s"] for r in runs),
                }
    return found


def save_runs(found: dict[tuple[str, str], dict], path: Path) -> None:
    """``found`` as JSON: one record per task × setting, seeds as keys."""
    records = [
        {"task": task, "setting": setting, **entry} for (task, setting), entry in found.items()
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, indent=1) + "\n", encoding="utf-8")


def read_runs(path: Path) -> dict[tuple[str, str], dict]:
    """What :func:`save_runs` wrote (JSON keys are strings: seeds become ints again)."""
    return {
        (r["task"], r["setting"]): {
            "by_seed": {int(seed): value for seed, value in r["by_seed"].items()},
            "wall": r["wall"],
        }
        for r in json.loads(path.read_text(encoding="utf-8"))
    }


def cell(values: dict[int, float]) -> str:
    numbers = list(values.values())
    std = statistics.stdev(numbers) if len(numbers) > 1 else 0.0
    return f"{statistics.fmean(numbers):.3f} ± {std:.3f}" + (
        "" if len(numbers) == 3 else f" (n={len(numbers)})"
    )


def read_markdown(page: Path) -> dict[tuple[str, str], dict]:
    """(task, setting) -> {mean, std} from the first table of ``page`` whose header names the
    settings (the table this script printed)."""
    names = {name: task for task, name in TASKS.items()}
    settings = list(SETTINGS)
    found = {}
    for line in page.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != len(settings) + 1 or cells[0] not in names:
            continue
        for setting, text in zip(settings, cells[1:]):
            match = re.fullmatch(r"(-?[\d.]+) ± ([\d.]+)(?: \(n=\d+\))?", text)
            if match and (names[cells[0]], setting) not in found:
                found[names[cells[0]], setting] = {
                    "mean": float(match.group(1)),
                    "std": float(match.group(2)),
                }
    return found


def summary(entry: dict) -> tuple[float, float, list[float]]:
    """Mean, sample std and the per-seed values (empty when only the summary is known)."""
    if "by_seed" not in entry:
        return entry["mean"], entry["std"], []
    values = list(entry["by_seed"].values())
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.fmean(values), std, values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, nargs="?")
    parser.add_argument("--chart", type=Path, help="write a grouped bar chart here")
    parser.add_argument(
        "--from-markdown",
        type=Path,
        help="draw the chart from the mean ± std table of this page instead of run folders",
    )
    parser.add_argument("--save-runs", type=Path, help="keep the per-seed values in this JSON file")
    parser.add_argument("--from-runs", type=Path, help="read the values --save-runs kept")
    args = parser.parse_args()
    if args.from_markdown:
        if not args.chart:
            parser.error("--from-markdown draws a chart: give --chart PATH")
        chart(read_markdown(args.from_markdown), args.chart)
        return
    if args.out is None and args.from_runs is None:
        parser.error("give OUT_DIR, --from-runs FILE or --from-markdown PAGE --chart PATH")
    found = read_runs(args.from_runs) if args.from_runs else read(args.out)
    if args.save_runs:
        save_runs(found, args.save_runs)
    print("| task (test metric, mean ± std over seeds) | " + " | ".join(SETTINGS.values()) + " |")
    print("|---|" + "---:|" * len(SETTINGS))
    for task, name in TASKS.items():
        cells = [cell(found[task, s]["by_seed"]) if (task, s) in found else "–" for s in SETTINGS]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\n| task | A − B | mean | std | p (paired t) | verdict |\n|---|---|---:|---:|---:|---|")
    for task, name in TASKS.items():
        for first, second in PAIRS:
            if (task, first) in found and (task, second) in found:
                d = paired_difference(
                    SETTINGS[first],
                    SETTINGS[second],
                    found[task, first]["by_seed"],
                    found[task, second]["by_seed"],
                )
                p = "–" if d.p_value is None else f"{d.p_value:.3g}"
                print(
                    f"| {name} | {d.first} − {d.second} | {d.mean:+.3f} | {d.std:.3f} | {p} | {d.verdict()} |"
                )
    print(
        "\nmean wall time per run (s): "
        + ", ".join(
            f"{task}/{setting} {value['wall']:.0f}" for (task, setting), value in found.items()
        )
    )
    if args.chart:
        chart(found, args.chart)


def chart(found: dict, path: Path) -> None:
    """One panel per task: a bar per setting (mean, sample std as error bar) on a y axis from
    0 to 1, and each seed's run as a dot on its bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(TASKS), figsize=(12, 3.4))
    per_seed = False
    for axis, (task, name) in zip(axes, TASKS.items()):
        shown = [(CHART_LABELS[s], summary(found[task, s])) for s in SETTINGS if (task, s) in found]
        axis.bar(
            range(len(shown)),
            [mean for _, (mean, _, _) in shown],
            yerr=[std for _, (_, std, _) in shown],
            capsize=3,
            color=["tab:gray", "tab:olive", "tab:blue", "tab:cyan"][: len(shown)],
            alpha=0.75,
        )
        for position, (_, (_, _, values)) in enumerate(shown):
            if values:
                per_seed = True
                spread = (
                    [0.0]
                    if len(values) == 1
                    else [-0.18 + 0.36 * i / (len(values) - 1) for i in range(len(values))]
                )
                axis.scatter([position + x for x in spread], values, color="black", s=10, zorder=3)
        axis.set_xticks(range(len(shown)), [label for label, _ in shown], fontsize=7)
        axis.set_ylim(0.0, 1.0)  # from zero: differences at their true size
        axis.set_title(name, fontsize=9)
        axis.grid(axis="y", alpha=0.3)
    note = (
        "bars: mean ± sample std over seeds; dots: one seed each"
        if per_seed
        else "bars: mean ± sample std over 3 seeds (per-seed values not kept for this chart)"
    )
    figure.text(0.5, 0.01, note, ha="center", fontsize=8)
    figure.tight_layout(rect=(0, 0.05, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    main()
