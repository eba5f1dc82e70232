"""A multirun over experiments, declared by an experiment (the quickstart), passes that
experiment's top-level values (``threads: 1`` ...) to every job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from elmo_tasks.runs.config import register_resolvers
from elmo_tasks.runs.sweep_values import ExperimentValuesToJobs, override_value
from tests.conftest import PROJECT_ROOT


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ELMO_TASKS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_values_are_written_in_override_syntax() -> None:
    assert [override_value(v) for v in (None, True, False, 1, 0.5, "adaptive")] == [
        "null",
        "true",
        "false",
        "1",
        "0.5",
        "adaptive",
    ]
    assert override_value("a b") == "'a b'" and override_value("null") == "'null'"
    assert override_value("it's") == "'it\\'s'"


def _job_configs(tmp_path: Path, overrides: list[str], config_dir: Path | None = None):
    """The parent config of the multirun ``overrides`` after the callback, and the config of
    each of its jobs composed the way the sweeper composes them."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.types import RunMode

    register_resolvers(PROJECT_ROOT)
    with initialize_config_dir(config_dir=str(PROJECT_ROOT / "conf"), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        if config_dir is not None:  # what --config-dir adds to the search path
            loader.config_search_path.append("extra", f"file://{config_dir}")
        parent = loader.load_configuration(
            "config", [f"paths.log_dir={tmp_path}/logs", *overrides], RunMode.MULTIRUN
        )
        assert parent.hydra.callbacks.experiment_values._target_.endswith("ExperimentValuesToJobs")
        ExperimentValuesToJobs().on_multirun_start(config=parent)
        params = [f"{k}={v}" for k, v in (parent.hydra.sweeper.params or {}).items()]
        arguments = [*params, *parent.hydra.overrides.task]
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

        batches = BasicSweeper.split_arguments(
            OverridesParser.create().parse_overrides(arguments), None
        )[0]
        jobs = [loader.load_sweep_config(parent, list(batch)) for batch in batches]
    return parent, jobs


def test_the_quickstart_jobs_get_its_threads(tmp_path, cache) -> None:
    parent, jobs = _job_configs(tmp_path, [])
    assert parent.threads == 1 and parent.hydra.sweeper.params.threads == "1"
    assert len(jobs) == 9
    assert {job.hydra.runtime.choices.experiment for job in jobs} == {
        "quickstart/baseline",
        "quickstart/baseline_elmo",
        "quickstart/elmo",
    }
    assert all(job.threads == 1 and "threads=1" in job.hydra.overrides.task for job in jobs)

    # The command line wins; a sweep over experiments on the command line is left alone.
    _, jobs = _job_configs(tmp_path, ["threads=2", "seed=1"])
    assert len(jobs) == 3 and all(job.threads == 2 for job in jobs)
    parent, jobs = _job_configs(tmp_path, ["experiment=sst2_baseline,sst2_elmo", "seed=1"])
    assert "threads" not in parent.hydra.sweeper.params
    assert {job.threads for job in jobs} == {None}


def test_an_experiment_named_on_the_command_line_launches_its_sweep(tmp_path, cache) -> None:
    """``experiment=quickstart`` given explicitly runs the quickstart's jobs, not itself."""
    parent, jobs = _job_configs(tmp_path, ["experiment=quickstart", "seed=1"])
    assert not any(o.startswith("experiment=") for o in parent.hydra.overrides.task)
    assert sorted(job.hydra.runtime.choices.experiment for job in jobs) == [
        "quickstart/baseline",
        "quickstart/baseline_elmo",
        "quickstart/elmo",
    ]
    assert all(job.threads == 1 for job in jobs)


EXPERIMENT = """\
# @package _global_
threads: 1
test: false
verify_checksums: false
hydra:
  mode: MULTIRUN
  sweeper:
    params:
      experiment: quickstart/baseline
      seed: 1
"""


@pytest.mark.slow
def test_every_job_of_a_users_sweep_runs_with_its_values(tmp_path) -> None:
    """A user's experiment (``--config-dir``) that sweeps over experiments: each job's
    composed config and results.json carry its top-level values; the config beside the
    package's keeps its own defaults."""
    (tmp_path / "conf" / "experiment").mkdir(parents=True)
    (tmp_path / "conf" / "experiment" / "my_sweep.yaml").write_text(EXPERIMENT)
    env = {
        **os.environ,
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "ELMO_TASKS_CACHE": str(tmp_path / "cache"),
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    sweep = tmp_path / "sweep"
    done = subprocess.run(
        [
            sys.executable,
            "train.py",
            "--config-dir",
            str(tmp_path / "conf"),
            "experiment=my_sweep",
            "task.max_train_samples=24",
            "task.max_eval_samples=12",
            "trainer.max_epochs=1",
            "encoder.dim=8",
            "head.contextualizer_dim=8",
            "callbacks.rich_progress_bar=null",
            "trainer.enable_progress_bar=false",
            f"paths.log_dir={tmp_path}/logs",
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    job = OmegaConf.load(sweep / "0" / ".hydra" / "config.yaml")
    assert (job.threads, job.test, job.verify_checksums) == (1, False, False)
    assert job.encoder._target_.endswith("WordEmbeddingEncoder")  # quickstart/baseline ran
    assert not (sweep / "1").exists()
    results = json.loads((sweep / "0" / "results.json").read_text())
    assert results["threads"] == 1 and results["test"] == {} and results["val"]
