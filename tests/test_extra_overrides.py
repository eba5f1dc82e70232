"""ELMO_TASKS_EXTRA_OVERRIDES: appended by every Hydra command, last (so it wins), in every job
of a sweep, and only where the command's config has the key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from elmo_tasks.core.extra_overrides import ENV, applicable, split_argv, with_extra_overrides
from elmo_tasks.runs.config import register_resolvers
from tests.conftest import PROJECT_ROOT
from tests.tiny_runs import write_classification

TRAIN_ONLY, PRETRAIN_ONLY = "task.max_train_samples=16", "word2vec.epochs=1"

register_resolvers()  # as the commands do: pretrain.yaml's search path reads ${config_dir:}


def test_split_argv_skips_flags_and_their_values():
    argv = ["-m", "a=1", "--config-dir", "my", "b=2", "--cfg", "job", "--info", "all", "c=3"]
    assert split_argv(argv) == (["a=1", "b=2", "c=3"], [1, 4, 9])
    assert split_argv(["--config-dir=my", "x=1", "--info", "y=2"]) == (["x=1", "y=2"], [1, 3])


def test_the_overrides_go_after_the_last_override_and_before_trailing_flags(monkeypatch, capsys):
    monkeypatch.setenv(ENV, f"trainer.max_epochs=1 '{TRAIN_ONLY}' {PRETRAIN_ONLY}")
    argv = ["experiment=none", "task=sst2", "--cfg", "job"]
    assert with_extra_overrides(argv, "config") == [
        "experiment=none",
        "task=sst2",
        "trainer.max_epochs=1",
        TRAIN_ONLY,
        "--cfg",
        "job",
    ]
    err = capsys.readouterr().err
    assert f"left out (not in this command's config): {PRETRAIN_ONLY}" in err
    assert f"appended trainer.max_epochs=1 {TRAIN_ONLY}" in err
    # pretrain's config has no task, train's has no word2vec; both have a trainer
    assert with_extra_overrides(["model=tiny"], "pretrain") == [
        "model=tiny",
        "trainer.max_epochs=1",
        PRETRAIN_ONLY,
    ]
    # completion and help get nothing; unset or blank: nothing
    assert with_extra_overrides(["-sc", "query=bash"], "config") == ["-sc", "query=bash"]
    assert with_extra_overrides(["--help"], "config") == ["--help"]
    monkeypatch.setenv(ENV, "  ")
    assert with_extra_overrides(["a=1"], "config") == ["a=1"]


def test_applicability_follows_the_config_the_command_line_composes():
    n_trials = "hydra.sweeper.n_trials=2"
    # Optuna's sweeper has n_trials; the basic sweeper of a plain command does not
    assert applicable([n_trials], ["hparams_search=sst2_optuna"], None, "config") == (
        [n_trials],
        [],
    )
    assert applicable([n_trials], ["experiment=sst2_baseline"], None, "config") == ([], [n_trials])
    # a sweep is judged at its first value; groups count as keys; + always applies
    assert applicable(
        ["encoder.cache_dir=x", "head=mean", "+extra=1"],
        ["experiment=sst2_elmo,sst2_baseline", "seed=1,2"],
        None,
        "config",
    ) == (["encoder.cache_dir=x", "head=mean", "+extra=1"], [])
    # a command line that does not compose is judged on the config of no overrides
    assert applicable([TRAIN_ONLY], ["task=no_such_task"], None, "config") == ([TRAIN_ONLY], [])


def test_a_config_dir_of_your_own_is_searched(tmp_path):
    (tmp_path / "task").mkdir()
    (tmp_path / "task" / "mine.yaml").write_text(
        "defaults:\n  - text_classification\n  - _self_\nextra_key: 1\n", encoding="utf-8"
    )
    assert applicable(["task.extra_key=2"], ["task=mine"], str(tmp_path), "config") == (
        ["task.extra_key=2"],
        [],
    )


def test_a_sweep_runs_every_job_with_the_variables_values(tmp_path):
    """The real command: the variable's max_epochs beats the command's and the swept one, its
    sample cap reaches every job, and the pretraining key is left out with a note."""
    files = write_classification(tmp_path / "data", count=40)
    sweep_dir = tmp_path / "sweep"
    env = {
        **os.environ,
        ENV: f"trainer.max_epochs=1 {TRAIN_ONLY} {PRETRAIN_ONLY}",
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "train.py"),
            "-m",
            "experiment=none",
            "task=text_classification",
            f"task.train_file={files['train']}",
            f"task.validation_file={files['dev']}",
            f"task.test_file={files['dev']}",
            "encoder.dim=8",
            "seed=1,2",
            "trainer.max_epochs=3,4",
            "trainer.enable_progress_bar=false",
            "callbacks.rich_progress_bar=null",
            "threads=1",
            f"hydra.sweep.dir={sweep_dir}",
            f"paths.log_dir={tmp_path / 'outputs'}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"left out (not in this command's config): {PRETRAIN_ONLY}" in result.stderr
    jobs = sorted(p for p in sweep_dir.iterdir() if (p / ".hydra").is_dir())
    assert [job.name for job in jobs] == ["0", "1"]  # seeds 1 and 2; max_epochs no longer swept
    for job, seed in zip(jobs, (1, 2), strict=True):
        config = yaml.safe_load((job / ".hydra" / "config.yaml").read_text(encoding="utf-8"))
        assert config["seed"] == seed and config["trainer"]["max_epochs"] == 1
        assert config["task"]["max_train_samples"] == 16
        assert (job / "results.json").is_file()


@pytest.mark.parametrize("command", ["pretrain", "pretrain-word2vec"])
def test_pretraining_commands_append_them_too(command):
    env = {**os.environ, ENV: f"trainer.max_steps=7 {TRAIN_ONLY}"}
    result = subprocess.run(
        [Path(sys.executable).with_name("elmo-tasks"), command, "--cfg", "job"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert config["trainer"]["max_steps"] == 7 and "task" not in config
    assert f"left out (not in this command's config): {TRAIN_ONLY}" in result.stderr
