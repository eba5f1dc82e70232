"""The quickstart that `python train.py` runs: the package's own corpus, its mini ELMo, the
two-encoder multirun and the comparison table at its end."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from elmo_tasks.core.config_search import composable
from elmo_tasks.core.extras import JOBLIB
from elmo_tasks.data.synthetic import (
    ADJECTIVES,
    LABELS,
    generate,
    write_quickstart_data,
)
from elmo_tasks.elmo import hub
from elmo_tasks.runs import quickstart
from elmo_tasks.runs.config import register_resolvers
from tests.compose import compose_config

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SIZES = {"train": 400, "validation": 100, "test": 100}


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$ELMO_TASKS_CACHE`` in a temporary folder (where the quickstart data is written)."""
    monkeypatch.setenv("ELMO_TASKS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


# --- the corpus ---------------------------------------------------------------------------


def test_generator_is_deterministic_balanced_and_split_without_overlap() -> None:
    first = generate(SIZES, seed=0)
    assert first == generate(SIZES, seed=0)
    assert first != generate(SIZES, seed=1)
    texts = [row["text"] for rows in first.values() for row in rows]
    assert len(texts) == len(set(texts)) == sum(SIZES.values())
    for split, rows in first.items():
        assert len(rows) == SIZES[split]
        assert Counter(row["label"] for row in rows) == {
            label: SIZES[split] // 2 for label in LABELS
        }
        assert all(row["text"][0].isupper() and row["text"].endswith(".") for row in rows)


def test_words_alone_do_not_decide_the_label() -> None:
    """Negation and contrast put every sentiment word into sentences of both labels, often
    against its own polarity, so that context matters."""
    rows = generate({"train": 2000}, seed=0)["train"]
    against = []
    for polarity, adjectives in ADJECTIVES.items():
        for adjective in adjectives:
            labels = [row["label"] for row in rows if adjective in _words(row["text"])]
            assert set(labels) == set(LABELS), adjective
            against.append(sum(label != polarity for label in labels) / len(labels))
    assert sum(against) / len(against) > 0.3
    assert any(" but " in row["text"] for row in rows) and any(
        " not " in row["text"] for row in rows
    )


def test_files_are_written_once_per_parameter_set(tmp_path: Path) -> None:
    paths = write_quickstart_data(tmp_path, n_train=40, n_validation=10, n_test=10)
    assert set(paths) == {"train", "validation", "test"}
    rows = [json.loads(line) for line in paths["train"].read_text().splitlines()]
    assert len(rows) == 40 and all(set(row) == {"text", "label"} for row in rows)
    stamps = {split: path.stat().st_mtime_ns for split, path in paths.items()}

    assert write_quickstart_data(tmp_path, n_train=40, n_validation=10, n_test=10) == paths
    assert {split: path.stat().st_mtime_ns for split, path in paths.items()} == stamps

    write_quickstart_data(tmp_path, n_train=50, n_validation=10, n_test=10)
    assert len(paths["train"].read_text().splitlines()) == 50
    assert json.loads((tmp_path / "manifest.json").read_text())["sizes"]["train"] == 50
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_a_lost_file_is_written_again(tmp_path: Path) -> None:
    paths = write_quickstart_data(tmp_path, n_train=20, n_validation=10, n_test=10)
    text = paths["test"].read_text()
    paths["test"].unlink()
    write_quickstart_data(tmp_path, n_train=20, n_validation=10, n_test=10)
    assert paths["test"].read_text() == text


# --- the mini ELMo ------------------------------------------------------------------------


def test_a_killed_writers_temporary_is_removed_when_the_files_are_written_again(
    tmp_path: Path,
) -> None:
    from elmo_tasks.core.litter import host_tag

    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(finished.stdout)  # that process has ended
    leftover = (
        tmp_path / f".train.jsonl.{host_tag()}-{dead_pid}.abcd1234.tmp"
    )  # as atomic_open names them
    leftover.write_text("half a file")
    write_quickstart_data(tmp_path, n_train=20, n_validation=10, n_test=10)
    assert not leftover.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_the_package_ships_the_mini_elmo() -> None:
    assert hub.packaged_available("mini")
    options = hub.resolve("mini", "options")
    assert options == PROJECT_ROOT / "elmo_tasks" / "resources" / "elmo_mini" / "options.json"
    assert json.loads(options.read_text())["lstm"]["n_layers"] == 2
    assert hub.resolve("mini", "weights").stat().st_size > 0


def test_without_the_mini_files_elmo_is_left_out(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(hub.PACKAGED, "mini", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="'mini' is not in this installation"):
        hub.resolve("mini", "weights")
    assert quickstart.sweep_models("baseline", "baseline_elmo", "elmo") == "quickstart/baseline"
    assert "ELMo is skipped" in capsys.readouterr().err


# --- the configs --------------------------------------------------------------------------


def _with_hydra(tmp_path: Path, overrides: list[str]):
    register_resolvers(PROJECT_ROOT)
    with initialize_config_dir(config_dir=str(PROJECT_ROOT / "conf"), version_base="1.3"):
        return compose(
            "config",
            # Hydra's basic launcher where the joblib extra is not installed, as train.py runs
            overrides=composable([f"paths.log_dir={tmp_path}/logs", *overrides]),
            return_hydra_config=True,
        )


def test_the_default_config_is_the_quickstart(tmp_path, cache) -> None:
    cfg = _with_hydra(tmp_path, [])
    assert cfg.task.name == "quickstart" and cfg.task.max_train_samples == 400
    assert str(cfg.hydra.mode) == "RunMode.MULTIRUN"
    assert (
        cfg.hydra.sweeper.params.experiment
        == "quickstart/baseline,quickstart/baseline_elmo,quickstart/elmo"
    )
    assert cfg.hydra.sweeper.params.seed == "1,2,3"
    if JOBLIB.installed():  # one job per core at a time
        assert (
            cfg.hydra.launcher._target_.endswith("JoblibLauncher")
            and cfg.hydra.launcher.n_jobs == -1
        )
    else:  # one at a time (a note says so: tests/test_extras.py)
        assert cfg.hydra.launcher._target_.endswith("BasicLauncher")
    assert cfg.threads == 1  # each job's, fixed (tests/test_sweep_values.py)
    assert cfg.hydra.callbacks.summary._target_ == "elmo_tasks.runs.quickstart.QuickstartSummary"
    for key in ("train_file", "validation_file", "test_file"):
        assert Path(cfg.task[key]).is_file() and Path(cfg.task[key]).parent == cache / "quickstart"


@pytest.mark.parametrize(
    ("model", "encoder", "contextualizer"),
    [
        ("baseline", "WordEmbeddingEncoder", "bilstm"),
        ("baseline_elmo", "ConcatEncoder", "bilstm"),
        ("elmo", "ElmoEncoder", "none"),
    ],
)
def test_each_quickstart_model_is_its_preset_on_the_quickstart_corpus(
    tmp_path, cache, model, encoder, contextualizer
) -> None:
    cfg = _with_hydra(tmp_path, [f"experiment=quickstart/{model}"])
    preset = _with_hydra(tmp_path, [f"experiment=sst2_{model}"])
    assert cfg.task.name == "quickstart" and cfg.encoder._target_.endswith(encoder)
    assert cfg.head == preset.head and cfg.optim == preset.optim and cfg.trainer == preset.trainer
    assert cfg.head.contextualizer == contextualizer
    elmo = (
        cfg.encoder.encoders.elmo
        if model == "baseline_elmo"
        else cfg.encoder
        if model == "elmo"
        else None
    )
    if elmo is not None:
        assert (elmo.options_file, elmo.weight_file) == ("mini", "mini")


def test_the_elmo_mini_encoder_reads_the_package_files(tmp_path, cache) -> None:
    cfg = compose_config(tmp_path, ["encoder=elmo_mini"])
    assert cfg.encoder._target_.endswith("ElmoEncoder")
    assert (cfg.encoder.options_file, cfg.encoder.weight_file) == ("mini", "mini")


@pytest.mark.parametrize(
    "overrides", [["experiment=sst2_elmo"], ["experiment=none", "task=sst2", "encoder=elmo"]]
)
def test_other_experiments_run_once_as_before(overrides, tmp_path) -> None:
    cfg = _with_hydra(tmp_path, overrides)
    assert cfg.task.name == "sst2" and cfg.encoder._target_.endswith("ElmoEncoder")
    assert cfg.hydra.mode is None and not cfg.hydra.sweeper.params
    # only the callbacks every run has (a failed resume puts the run files back; a sweep over
    # experiments passes the launching experiment's values on), no summary
    assert set(cfg.hydra.callbacks) == {"keep_run_files", "experiment_values"}


GROUPS = ("task", "encoder", "head", "optim", "trainer", "logger", "callbacks")


@pytest.mark.parametrize(
    ("argv", "single"),
    [
        ([], False),
        (["trainer.max_epochs=2"], False),
        (["task=sst2", "encoder=elmo"], True),
        (["head=attention"], True),
        (["-m", "task=sst2,sst5"], True),
        (["experiment=none", "task=sst2"], False),
        (["experiment=sst2_elmo", "head=mean"], False),
        (["hparams_search=sst2_optuna", "task=sst5"], False),
    ],
)
def test_a_command_that_picks_groups_makes_that_single_run(argv, single) -> None:
    flags = [arg for arg in argv if arg.startswith("-")]
    overrides = [arg for arg in argv if not arg.startswith("-")]
    assert quickstart.single_run_argv(argv, GROUPS) == (
        [*flags, "experiment=none", *overrides] if single else argv
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["--config-dir", "my_configs", "task=my_task"],
            ["--config-dir", "my_configs", "experiment=none", "task=my_task"],
        ),
        (
            ["task=my_task", "-cd", "my_configs", "seed=2", "-m"],
            ["-cd", "my_configs", "-m", "experiment=none", "task=my_task", "seed=2"],
        ),
        (
            ["experiment=sst2_elmo", "--config-dir=d", "head=mean"],
            ["--config-dir=d", "experiment=sst2_elmo", "head=mean"],
        ),
    ],
)
def test_hydra_flags_go_before_the_overrides(argv, expected) -> None:
    assert quickstart.single_run_argv(argv, GROUPS) == expected


def test_picked_groups_run_once_into_the_given_folder(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "ELMO_TASKS_CACHE": str(tmp_path / "cache"),
    }
    run_dir = tmp_path / "run"
    command = [
        sys.executable,
        "train.py",
        "task=quickstart",
        "encoder=word_embedding",
        "encoder.dim=16",
        "task.max_train_samples=40",
        "task.max_eval_samples=20",
        "trainer.max_epochs=1",
        "callbacks.rich_progress_bar=null",
        "trainer.enable_progress_bar=false",
        f"hydra.run.dir={run_dir}",
    ]
    done = subprocess.run(
        command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    results = json.loads((run_dir / "results.json").read_text())
    assert results["task"] == "quickstart" and results["encoder"] == "WordEmbeddingEncoder"
    assert "Comparison of the runs" not in done.stdout  # no quickstart multirun


# --- python train.py ----------------------------------------------------------------------


@pytest.mark.slow
def test_train_py_runs_the_quickstart_and_prints_the_comparison(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "ELMO_TASKS_CACHE": str(tmp_path / "cache"),
    }
    command = [
        sys.executable,
        "train.py",
        "task.max_train_samples=120",
        "task.max_eval_samples=60",
        "trainer.max_epochs=1",
        "seed=1,2",
        "callbacks.rich_progress_bar=null",
        "trainer.enable_progress_bar=false",
        f"paths.log_dir={tmp_path}/logs",
        f"hydra.sweep.dir={tmp_path}/sweep",
    ]
    done = subprocess.run(
        command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=400
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]

    results = [
        json.loads(p.read_text()) for p in sorted((tmp_path / "sweep").glob("*/results.json"))
    ]
    assert sorted(r["encoder"] for r in results) == sorted(
        ["WordEmbeddingEncoder", "ConcatEncoder", "ElmoEncoder"] * 2
    )
    assert all(r["task"] == "quickstart" and 0.0 <= r["test"]["accuracy"] <= 1.0 for r in results)
    table = done.stdout[done.stdout.index("| group |") :]
    for label, model in (
        ("baseline", "baseline"),
        ("baseline + ELMo", "baseline_elmo"),
        ("ELMo alone", "elmo"),
    ):
        assert f"| {label} | `experiment=quickstart/{model}` | 2 |" in table
    pairs = done.stdout[done.stdout.index("## Paired differences") :]
    rows = [line for line in pairs.splitlines() if line.startswith(("| baseline", "| ELMo"))]
    assert len(rows) == 3  # every two models are one setting apart
    assert "beats" in pairs or "no significant difference" in pairs
    assert " has the best test accuracy (" in done.stdout  # the conclusion
    assert f"Report: {tmp_path / 'sweep' / 'comparison.md'}" in done.stdout
    assert f"Chart:  {tmp_path / 'sweep' / 'comparison.png'}" in done.stdout
    assert (tmp_path / "sweep" / "comparison.md").is_file() and (
        tmp_path / "sweep" / "comparison.png"
    ).is_file()
    assert (tmp_path / "cache" / "quickstart" / "train.jsonl").is_file()
