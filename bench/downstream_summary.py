"""One table for the runs of bench/pretrained_downstream.sh: every task × setting as mean ± std
of the test metric over seeds, then the paired differences that decide the paper's question
(does ELMo added to the baseline help, and more than same-corpus word2vec?).

    python bench/downstream_summary.py OUT_DIR [--chart docs/img/downstream.png]

OUT_DIR is the folder the shell script wrote (``OUT_DIR/<task>/<setting>/<seed>/results.json``).
"""

from __future__ import annotations

import argparse
import json
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


def cell(values: dict[int, float]) -> str:
    numbers = list(values.values())
    std = statistics.stdev(numbers) if len(numbers) > 1 else 0.0
    return f"{statistics.fmean(numbers):.3f} ± {std:.3f}" + (
        "" if len(numbers) == 3 else f" (n={len(numbers)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--chart", type=Path, help="write a grouped bar chart here")
    args = parser.parse_args()
    found = read(args.out)
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(TASKS), figsize=(12, 3.2))
    for axis, (task, name) in zip(axes, TASKS.items()):
        shown = [
            (CHART_LABELS[s], list(found[task, s]["by_seed"].values()))
            for s in SETTINGS
            if (task, s) in found
        ]
        means = [statistics.fmean(v) for _, v in shown]
        stds = [statistics.stdev(v) if len(v) > 1 else 0.0 for _, v in shown]
        axis.bar(
            range(len(shown)),
            means,
            yerr=stds,
            capsize=3,
            color=["tab:gray", "tab:olive", "tab:blue", "tab:cyan"],
        )
        axis.set_xticks(range(len(shown)), [label for label, _ in shown], fontsize=7)
        low = min(m - s for m, s in zip(means, stds))
        axis.set_ylim(max(0.0, low - 0.05), min(1.0, max(means) + 0.05))
        axis.set_title(name, fontsize=9)
        axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
