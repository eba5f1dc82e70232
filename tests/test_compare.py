"""The comparison report (python -m elmo_tasks.compare) on hand-written run folders and on a
tiny real multirun."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from elmo_tasks.cli.compare import main
from elmo_tasks.results.compare import parse_overrides
from tests.test_sweeps import PROJECT_ROOT, tiny_multirun

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_run(
    folder: Path,
    seed: int,
    overrides: list[str],
    test: dict[str, float],
    main_metric: str = "accuracy",
    val: dict[str, float] | None = None,
    threads: int | None = None,
    threads_adaptive: bool = False,
) -> None:
    """A run folder as train.py leaves it: .hydra/config.yaml and results.json."""
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text(f"seed: {seed}\n")
    results = {
        "task": "sst2",
        "encoder": "WordEmbeddingEncoder",
        "head": "MaxPoolingClassifier",
        "seed": seed,
        "val": val if val is not None else dict(test),
        "test": test,
        "main_metric": main_metric,
        "params": {"trainable": 10, "total": 10},
        "wall_time_s": 1.0,
        "train_tokens_per_s": 100.0,
        "config_overrides": [*overrides, f"seed={seed}"],
        "best_checkpoint": None,
    }
    if threads is not None:
        results.update(threads=threads, threads_adaptive=threads_adaptive)
    (folder / "results.json").write_text(json.dumps(results))


@pytest.fixture()
def sweep(tmp_path: Path) -> Path:
    """Experiment a: 3 seeds; b: 2 seeds; c: 1 seed without macro_f1; one run that never finished."""
    root = tmp_path / "sweep"
    common = ["trainer.max_epochs=1", f"hydra.sweep.dir={root}", f"paths.data_dir={tmp_path}"]
    runs = [
        ("a", 1, 0.80, 0.70),
        ("a", 2, 0.84, 0.70),
        ("a", 3, 0.82, 0.76),
        ("b", 1, 0.90, 0.60),
        ("b", 2, 0.86, 0.64),
    ]
    for index, (name, seed, accuracy, macro_f1) in enumerate(runs):
        write_run(
            root / str(index),
            seed,
            [f"experiment={name}", *common],
            {"accuracy": accuracy, "macro_f1": macro_f1},
        )
    write_run(root / "5", 1, ["experiment=c", *common], {"accuracy": 0.5})
    (root / "6" / ".hydra").mkdir(parents=True)
    (root / "6" / ".hydra" / "config.yaml").write_text("seed: 2\n")
    return root


def table_rows(text: str) -> dict[str, list[str]]:
    """Rows of the first markdown table by their first cell."""
    text = text.split("## Paired differences")[0]
    rows = [line.strip("|").split(" | ") for line in text.splitlines() if line.startswith("| ")]
    table = {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows}
    if table.get("group", [""])[0] == "setting":  # short names differ from the overrides
        table = {name: cells[1:] for name, cells in table.items()}
    return table


def test_groups_means_stds_and_best_marking(sweep, capsys):
    assert main([str(sweep)]) == 0
    printed = capsys.readouterr().out
    written = (sweep / "comparison.md").read_text()
    assert printed == written
    rows = table_rows(written)
    assert rows["group"] == ["n", "accuracy", "macro_f1"]
    # a: accuracy 0.80/0.84/0.82 -> 0.82 ± 0.02; macro_f1 0.70/0.70/0.76 -> 0.72 ± sqrt(0.0012)
    assert rows["a"] == ["3", "0.8200 ± 0.0200", "**0.7200 ± 0.0346**"]
    # b: accuracy 0.90/0.86 -> 0.88 ± sqrt(0.0008); macro_f1 0.60/0.64 -> 0.62 ± sqrt(0.0008)
    assert rows["b"] == ["2", "**0.8800 ± 0.0283**", "0.6200 ± 0.0283"]
    # c: one run (std 0), no macro_f1
    assert rows["c"] == ["1", "0.5000 ± 0.0000", "–"]
    assert list(rows) == ["group", "a", "b", "c"]
    assert "| a | `experiment=a` | 3 |" in written  # the short name, then the full setting
    assert "**b has the best test accuracy (0.8800): +0.0600 over a (p = 0.374, not " in written
    assert (sweep / "comparison.png").read_bytes().startswith(PNG_MAGIC)


def test_settings_one_key_apart_get_a_paired_difference_over_seeds(sweep, capsys):
    assert main([str(sweep)]) == 0
    section = capsys.readouterr().out.split("## Paired differences over seeds (test accuracy)")[1]
    rows = {
        tuple(cells[:2]): cells[2:]
        for cells in (
            [c.strip() for c in line.strip("|").split(" | ")]
            for line in section.splitlines()
            if line.startswith(("| a |", "| b |"))
        )
    }
    # b - a over the shared seeds 1 and 2: 0.10 and 0.02 -> mean 0.06, std 0.0566, t = 1.5 with
    # 1 degree of freedom (a Cauchy): p = 1 - 2 atan(1.5) / pi = 0.374
    assert rows[("b", "a")] == [
        "2",
        "+0.0600",
        "0.0566",
        "0.374",
        "no significant difference (p ≥ 0.05)",
    ]
    # one shared seed: a difference, but no test
    assert rows[("a", "c")][:2] == ["1", "+0.3000"]
    assert rows[("a", "c")][-1] == "too few seeds to test"
    assert len(rows) == 3


def test_paired_runs_with_other_thread_counts_are_warned_about(tmp_path, capsys):
    root = tmp_path / "sweep"
    runs = [("a", 1, 1), ("a", 2, 1), ("b", 1, 2), ("b", 2, 1), ("c", 1, 1), ("c", 2, 1)]
    for index, (name, seed, threads) in enumerate(runs):
        write_run(
            root / str(index), seed, [f"experiment={name}"], {"accuracy": 0.5}, threads=threads
        )
    assert main([str(root)]) == 0
    captured = capsys.readouterr()
    warned = [line for line in captured.err.splitlines() if line.startswith("warning: ")]
    assert len(warned) == 2 and all("1 / 2 torch threads" in line for line in warned)
    assert "experiment=a and experiment=b" in warned[0]
    assert "experiment=b and experiment=c" in warned[1]
    assert "## Warnings" in (root / "comparison.md").read_text()  # a and c: same threads

    # The same threads everywhere (or results.json files from before threads were recorded):
    # no warning; load-adaptive threads always get one.
    for index in (2, 3):
        (root / str(index) / "results.json").unlink()
        shutil.rmtree(root / str(index))
    write_run(root / "2", 1, ["experiment=b"], {"accuracy": 0.5})
    write_run(root / "3", 2, ["experiment=b"], {"accuracy": 0.5}, threads=1)
    assert main([str(root)]) == 0
    assert "warning" not in capsys.readouterr().err
    write_run(root / "6", 3, ["experiment=c"], {"accuracy": 0.5}, threads=1, threads_adaptive=True)
    assert main([str(root)]) == 0
    assert "1 / 1 (adaptive) torch threads" in capsys.readouterr().err


def test_incomplete_runs_are_listed_not_fatal(sweep, capsys):
    assert main([str(sweep)]) == 0
    text = capsys.readouterr().out
    assert "Incomplete runs (1)" in text
    assert f"`{(sweep / '6').resolve()}`: no results.json" in text
    assert "Test metrics of 6 runs in 3 groups" in text


def test_unreadable_results_count_as_incomplete(sweep, capsys):
    (sweep / "0" / "results.json").write_text('{"task": ')
    assert main([str(sweep)]) == 0
    text = capsys.readouterr().out
    assert "Incomplete runs (2)" in text and "unreadable results.json" in text
    assert table_rows(text)["a"][0] == "2"


def test_diverged_runs_are_listed_not_compared(sweep, capsys):
    """A run that diverged writes results.json with "status": "diverged" and no metrics."""
    results = json.loads((sweep / "0" / "results.json").read_text())
    results.update(status="diverged", val={}, test={})
    results["diverged"] = {"step": 2, "epoch": 0, "what": "training loss", "value": "nan"}
    (sweep / "0" / "results.json").write_text(json.dumps(results))
    assert main([str(sweep)]) == 0
    text = capsys.readouterr().out
    assert "Incomplete runs (2)" in text
    assert f"`{(sweep / '0').resolve()}`: diverged (" in text and "'step': 2" in text
    assert table_rows(text)["a"][0] == "2"


def test_out_folder_metric_and_several_paths(sweep, tmp_path, capsys):
    other = tmp_path / "other"
    write_run(
        other / "0", 1, ["experiment=d", "trainer.max_epochs=1"], {"accuracy": 0.7, "macro_f1": 0.9}
    )
    out = tmp_path / "report"
    assert (
        main([str(sweep), str(other), str(sweep / "0"), "--out", str(out), "--metric", "macro_f1"])
        == 0
    )
    rows = table_rows((out / "comparison.md").read_text())
    assert rows["a"][0] == "3"  # sweep/0 is not counted twice
    assert rows["d"] == ["1", "0.7000 ± 0.0000", "**0.9000 ± 0.0000**"]
    assert (out / "comparison.png").read_bytes().startswith(PNG_MAGIC)
    assert not (sweep / "comparison.md").exists()


def test_keys_missing_in_some_runs_and_seed_only_sweeps(tmp_path, capsys):
    write_run(tmp_path / "0", 1, ["head=max"], {"accuracy": 0.6})
    write_run(tmp_path / "1", 1, [], {"accuracy": 0.7})
    write_run(tmp_path / "2", 2, [], {"accuracy": 0.8})
    assert main([str(tmp_path)]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert rows["head=(default)"] == ["2", "**0.7500 ± 0.0707**"]
    assert rows["head=max"] == ["1", "0.6000 ± 0.0000"]


def test_group_by_folder_names_groups_after_the_sweep_folders(tmp_path, capsys):
    # Settings whose overrides differ in many keys read best by their sweep folder's name.
    write_run(
        tmp_path / "elmo" / "0",
        1,
        ["encoder.options_file=/x/options.json", "head.dropout=0.5"],
        {"accuracy": 0.9},
    )
    write_run(
        tmp_path / "elmo" / "1",
        2,
        ["encoder.options_file=/x/options.json", "head.dropout=0.5"],
        {"accuracy": 0.7},
    )
    write_run(tmp_path / "random" / "0", 1, ["encoder.dim=128"], {"accuracy": 0.6})
    assert main([str(tmp_path), "--group-by", "folder"]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert rows["elmo"] == ["2", "**0.8000 ± 0.1414**"]
    assert rows["random"] == ["1", "0.6000 ± 0.0000"]


def test_validation_metrics_when_no_run_was_tested(tmp_path, capsys):
    write_run(tmp_path / "0", 1, [], {}, val={"accuracy": 0.5})
    assert main([str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "Validation metrics of 1 runs in 1 group" in text
    assert table_rows(text)["all runs"] == ["1", "**0.5000 ± 0.0000**"]


def test_parse_overrides_drops_seed_hydra_and_path_keys():
    overrides = [
        "seed=3",
        "hydra.sweep.dir=/x",
        "hydra/launcher=joblib",
        "paths.log_dir=/y",
        "+trainer.foo=1",
        "head=max",
        "task.max_train_samples=100",
        "++optim.optimizer.lr=0.1",
        "output_dir=/z",
    ]
    assert parse_overrides(overrides) == {
        "trainer.foo": "1",
        "head": "max",
        "task.max_train_samples": "100",
        "optim.optimizer.lr": "0.1",
    }


def test_no_runs_exits_with_code_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty")]) == 2
    assert "no runs with results.json found" in capsys.readouterr().err
    (tmp_path / "only_incomplete" / "0" / ".hydra").mkdir(parents=True)
    (tmp_path / "only_incomplete" / "0" / ".hydra" / "config.yaml").write_text("seed: 1\n")
    assert main([str(tmp_path / "only_incomplete")]) == 2
    assert "1 incomplete run folders" in capsys.readouterr().err
    assert main([str(tmp_path / "missing")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert not list(tmp_path.rglob("comparison.md"))


def test_unknown_chart_metric_exits_with_code_2(sweep, capsys):
    assert main([str(sweep), "--metric", "bleu"]) == 2
    assert "'bleu' not in the test metrics" in capsys.readouterr().err


@pytest.mark.slow
def test_report_of_a_real_multirun(tmp_path_factory, data_dir, tmp_path):
    sweep = tiny_multirun(tmp_path_factory, data_dir)
    completed = subprocess.run(
        [sys.executable, "-m", "elmo_tasks.compare", str(sweep), "--out", str(tmp_path)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    rows = table_rows(completed.stdout)
    assert rows["group"][:2] == ["n", "accuracy"]
    assert rows["all runs"][0] == "2"
    assert "seeds 1, 2" in completed.stdout
    assert (tmp_path / "comparison.md").read_text() == completed.stdout
    assert (tmp_path / "comparison.png").read_bytes().startswith(PNG_MAGIC)


def test_key_value_arguments_typos_and_old_spellings(sweep, tmp_path, capsys):
    out = tmp_path / "report"
    assert main([f"paths={sweep}", f"out={out}", "metric=macro_f1"]) == 0
    assert (out / "comparison.md").is_file() and (out / "comparison.png").is_file()
    capsys.readouterr()
    assert main([f"paths={sweep}", "group_bi=folder"]) == 2
    assert "did you mean group_by=folder?" in capsys.readouterr().err
    assert main([f"paths={sweep}", "group_by=nonsense"]) == 2
    assert "group_by must be one of overrides, folder" in capsys.readouterr().err
    # the old spellings: several positional folders, --out, --metric
    other = tmp_path / "other"
    write_run(other / "0", 1, ["experiment=d"], {"accuracy": 0.7, "macro_f1": 0.6})
    assert (
        main([str(sweep), str(other), "--out", str(tmp_path / "old"), "--metric", "accuracy"]) == 0
    )
    captured = capsys.readouterr()
    assert f"write paths={sweep},{other}" in captured.err and "write out=" in captured.err
    assert "Test metrics of 7 runs in 4 groups" in captured.out  # a, b, c and d: both folders read
    assert (tmp_path / "old" / "comparison.md").is_file()
