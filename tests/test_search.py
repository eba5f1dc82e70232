"""The Optuna sweeper (elmo_tasks/search): the search space, n_trials for a study shared by
several workers, heartbeats and retries after kill -9, pruning, and what a search leaves.

The end-to-end tests start real ``train.py`` processes on tiny SST-2 data, with real storages (a
journal file, sqlite), and read the study back with Optuna."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial
from pytorch_lightning.trainer.states import TrainerFn, TrainerState

from elmo_tasks.core.config_values import ConfigValueError
from elmo_tasks.search.budget import SURPLUS, Budget, within_budget
from elmo_tasks.search.pruning import PruneHopelessTrials, TrialHandle
from elmo_tasks.search.space import search_space, trial_overrides
from elmo_tasks.search.storage import open_storage, storage_url
from tests.conftest import PROJECT_ROOT
from tests.test_sweeps import needs_sst2

TINY = [
    "experiment=sst2_baseline",
    "task.max_train_samples=64",
    "task.max_eval_samples=32",
    "trainer.max_epochs=1",
    "callbacks.rich_progress_bar=null",
    "trainer.enable_progress_bar=false",
    "encoder.dim=16",
    "head.contextualizer_dim=16",
]


# --- the search space ----------------------------------------------------------------------


def test_search_space_reads_hydra_sweep_syntax():
    params = {
        "optim.optimizer.lr": "tag(log, interval(0.0001, 0.01))",
        "head.dropout": "interval(0.0, 0.5)",
        "head.contextualizer_dim": "tag(int, interval(16, 64))",
        "data.batch_size": "tag(int, log, interval(8, 128))",
        "trainer.max_epochs": "range(2, 8, step=2)",
        "head": "choice(max, attention)",
        "seed": "7",
    }
    searched, fixed = search_space(params, ["head.dropout=interval(0.1, 0.2)", "encoder.dim=8"])
    assert searched["optim.optimizer.lr"] == FloatDistribution(0.0001, 0.01, log=True)
    assert searched["head.dropout"] == FloatDistribution(0.1, 0.2)  # the command line wins
    assert searched["head.contextualizer_dim"] == IntDistribution(16, 64)
    assert searched["data.batch_size"] == IntDistribution(8, 128, log=True)
    assert searched["trainer.max_epochs"] == IntDistribution(2, 6, step=2)  # range's stop excluded
    assert searched["head"] == CategoricalDistribution(["max", "attention"])
    assert fixed == {"seed": "seed=7", "encoder.dim": "encoder.dim=8"}
    assert trial_overrides({"head": "max", "optim.optimizer.lr": 0.001}, fixed) == [
        "head=max",
        "optim.optimizer.lr=0.001",
        "seed=7",
        "encoder.dim=8",
    ]


def test_a_plain_value_on_the_command_line_fixes_a_searched_key():
    searched, fixed = search_space({"head": "choice(max, mean)"}, ["head=attention"])
    assert "head" not in searched and fixed == {"head": "head=attention"}


@pytest.mark.parametrize("bad", ["interval(0.5, 0.1)", "tag(log, interval(0.0, 1.0))"])
def test_an_empty_interval_is_one_message(bad):
    with pytest.raises(ConfigValueError, match="hydra.sweeper.params.head.dropout"):
        search_space({"head.dropout": bad}, [])


# --- storage -------------------------------------------------------------------------------


def test_storage_values(tmp_path):
    assert storage_url(None, tmp_path) == f"journal:{tmp_path.resolve()}/optuna.journal"
    assert storage_url(f"journal:{tmp_path}/s.log", "x") == f"journal:{tmp_path.resolve()}/s.log"
    assert storage_url("sqlite:///a.db", "x") == "sqlite:///a.db"
    with pytest.raises(ConfigValueError, match="hydra.sweeper.storage=study.db: expected"):
        storage_url("study.db", tmp_path)
    storage = open_storage(storage_url(None, tmp_path / "new"))  # makes the folder
    optuna.create_study(storage=storage, study_name="s")
    assert (tmp_path / "new" / "optuna.journal").is_file()


# --- n_trials for the study as a whole -----------------------------------------------------


def _trial(number: int, state: TrialState, **system_attrs) -> optuna.trial.FrozenTrial:
    trial = create_trial(
        state=state, value=0.0 if state == TrialState.COMPLETE else None, system_attrs=system_attrs
    )
    trial.number = number
    return trial


def test_budget_counts_slots_not_trials():
    trials = [
        _trial(0, TrialState.COMPLETE),
        _trial(1, TrialState.FAIL),  # its worker died: retried as trial 3
        _trial(2, TrialState.RUNNING),
        _trial(3, TrialState.WAITING, failed_trial=1),
        _trial(4, TrialState.FAIL, **{SURPLUS: True}),  # given back unrun
    ]
    budget = Budget.of(trials, n_trials=4)
    assert (budget.slots_taken, budget.waiting, budget.running) == (3, 1, 1)
    assert budget.to_start == 2 and not budget.done  # the retry and one free slot
    assert within_budget(_trial(5, TrialState.RUNNING), trials, 4)  # slot 4 of 4
    late = [*trials, _trial(5, TrialState.RUNNING)]
    assert not within_budget(_trial(6, TrialState.RUNNING), late, 4)
    retry = _trial(6, TrialState.RUNNING, failed_trial=2)
    assert within_budget(retry, late, 4)  # a retry keeps the slot of the trial it retries
    assert Budget.of([_trial(0, TrialState.COMPLETE)], 1).done


# --- pruning -------------------------------------------------------------------------------


def test_trial_handle_is_safe_in_an_override():
    handle = TrialHandle(
        "postgresql://u:p@h/db?x=1", "s t", 3, {"_target_": "optuna.pruners.NopPruner"}
    )
    text = handle.encode()
    assert text.replace("-", "").replace("_", "").isalnum()
    assert TrialHandle.decode(text) == handle


class _Trainer:
    sanity_checking = False
    should_stop = False

    def __init__(self, epoch: int, value: float, fn: TrainerFn = TrainerFn.FITTING):
        self.current_epoch, self.callback_metrics = epoch, {"val/accuracy": value}
        self.state = TrainerState(fn=fn)


def test_pruning_callback_reports_epochs_and_stops_a_hopeless_trial():
    study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=0.5)
    )
    trial = study.ask()
    callback = PruneHopelessTrials(trial, "val/accuracy")
    good = _Trainer(0, 0.7)
    callback.on_validation_end(good, None)
    assert not good.should_stop and callback.pruned_at is None
    bad = _Trainer(1, 0.3)
    callback.on_validation_end(bad, None)
    assert bad.should_stop and callback.record() == {"epoch": 1, "value": 0.3, "trial": 0}
    frozen = study.trials[0]
    assert (
        frozen.intermediate_values == {0: 0.7, 1: 0.3} and frozen.user_attrs["pruned_at_epoch"] == 1
    )


def test_the_validation_after_training_is_not_reported():
    study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=0.5)
    )
    callback = PruneHopelessTrials(study.ask(), "val/accuracy")
    callback.on_validation_end(_Trainer(0, 0.7), None)
    final = _Trainer(3, 0.1, TrainerFn.VALIDATING)  # trainer.validate on the best checkpoint
    callback.on_validation_end(final, None)
    assert not final.should_stop and callback.pruned_at is None
    assert study.trials[0].intermediate_values == {0: 0.7}


# --- end to end: real processes, real storages ---------------------------------------------


def _search(tmp_path: Path, data_dir: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "train.py",
        "hparams_search=sst2_optuna",
        *TINY,
        *args,
        f"paths.data_dir={data_dir}",
        f"paths.log_dir={tmp_path}/logs",
    ]


def _env() -> dict[str, str]:
    return {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def _start_search(tmp_path: Path, data_dir: Path, *args: str) -> subprocess.Popen:
    """One worker of a tiny search, started; its output is read by :func:`_finish`."""
    return subprocess.Popen(
        _search(tmp_path, data_dir, *args),
        cwd=PROJECT_ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(process: subprocess.Popen, what: str) -> str:
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 0, f"{what} exited {process.returncode}:\n{out[-4000:]}"
    return out


def _study(name: str, url: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(url))


def _run_search(tmp_path: Path, data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """One worker of a tiny search, to its end; fails the test with its output if it fails."""
    completed = subprocess.run(
        _search(tmp_path, data_dir, *args),
        cwd=PROJECT_ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return completed


@pytest.mark.slow
@pytest.mark.parametrize("storage", ["journal", "sqlite"])
def test_two_workers_share_one_study(tmp_path, data_dir, storage):
    needs_sst2(data_dir)
    url = (
        f"journal:{tmp_path}/study.journal"
        if storage == "journal"
        else f"sqlite:///{tmp_path}/s.db"
    )
    args = [
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.study_name=shared",
        f"hydra.sweeper.storage={url}",
        f"hydra.sweep.dir={tmp_path}/trials",
    ]
    workers_started = [_start_search(tmp_path, data_dir, *args) for _ in range(2)]
    logs = [_finish(w, f"worker {i}") for i, w in enumerate(workers_started)]
    trials = _study("shared", url).get_trials()
    assert [t.state for t in trials if not t.system_attrs.get(SURPLUS)] == [TrialState.COMPLETE] * 4
    # Both loaded the one study (which of them ran how many trials depends on their start).
    assert all("study shared in " in log for log in logs)
    workers = {
        t.system_attrs["elmo_tasks:worker"] for t in trials if t.state == TrialState.COMPLETE
    }
    assert workers <= {f"{socket.gethostname()}:{w.pid}" for w in workers_started}
    run_dirs = [t.user_attrs["run_dir"] for t in trials if t.state == TrialState.COMPLETE]
    assert sorted(Path(d).name for d in run_dirs) == ["0", "1", "2", "3"]  # each trial ran once
    for run_dir in run_dirs:
        assert json.loads((Path(run_dir) / "results.json").read_text())["status"] == "completed"
    summary = yaml.safe_load((tmp_path / "trials" / "optimization_results.yaml").read_text())
    assert summary["trials"] == {"complete": 4} and summary["best_run_dir"] in run_dirs
    assert set(summary["param_importances"]) <= set(summary["best_params"])
    assert (tmp_path / "trials" / "comparison.md").is_file()


@pytest.mark.slow
def test_a_killed_worker_s_trial_is_retried_and_the_study_resumes_to_n_trials(tmp_path, data_dir):
    needs_sst2(data_dir)
    url = f"sqlite:///{tmp_path}/study.db"
    args = [
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.study_name=killed",
        f"hydra.sweeper.storage={url}",
        "hydra.sweeper.heartbeat_interval=1",
        "hydra.sweeper.grace_period=3",
        f"hydra.sweep.dir={tmp_path}/trials",
    ]
    log_path = tmp_path / "first.log"
    with log_path.open("w") as log:
        first = subprocess.Popen(
            _search(tmp_path, data_dir, *args),
            cwd=PROJECT_ROOT,
            env=_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while "trial 1:" not in log_path.read_text():  # trial 0 done, trial 1 running
            assert first.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    states = [t.state for t in _study("killed", url).get_trials()]
    assert states == [TrialState.COMPLETE, TrialState.RUNNING]
    second = _start_search(tmp_path, data_dir, *args)
    out = _finish(second, "the resumed sweep")
    assert "trial 1: no heartbeat" in out
    trials = _study("killed", url).get_trials()
    assert [t.state for t in trials].count(TrialState.COMPLETE) == 3  # n_trials in total
    assert trials[1].state == TrialState.FAIL
    retry = next(t for t in trials if t.system_attrs.get("failed_trial") == 1)
    assert retry.state == TrialState.COMPLETE and retry.params == trials[1].params


@pytest.mark.slow
def test_pruned_trials_are_pruned_in_the_study_and_their_run_folder(tmp_path, data_dir):
    needs_sst2(data_dir)
    url = f"journal:{tmp_path}/study.journal"
    completed = _run_search(
        tmp_path,
        data_dir,
        "hydra.sweeper.n_trials=1",
        "hydra.sweeper.study_name=pruned",
        f"hydra.sweeper.storage={url}",
        "hydra/sweeper/pruner=threshold",
        "hydra.sweeper.pruner.lower=1.5",  # no accuracy reaches it: pruned after epoch 0
        "trainer.max_epochs=3",
        f"hydra.sweep.dir={tmp_path}/trials",
    )
    (trial,) = _study("pruned", url).get_trials()
    assert trial.state == TrialState.PRUNED and list(trial.intermediate_values) == [0]
    results = json.loads((tmp_path / "trials" / "0" / "results.json").read_text())
    assert results["status"] == "pruned" and results["pruned"]["epoch"] == 0
    assert results["test"] == {}  # a pruned trial is not tested
    assert "pruned after epoch 0" in completed.stdout


@pytest.mark.parametrize(
    "storage, says",
    [
        ("study.db", "expected null, journal:PATH"),
        (
            "postgresql://nobody@127.0.0.1:1/x",
            "hydra.sweeper.storage=postgresql://nobody@127.0.0.1:1/x",
        ),
    ],
)
def test_a_storage_that_cannot_be_opened_is_one_message(tmp_path, storage, says):
    completed = subprocess.run(
        [
            *_search(tmp_path, tmp_path),
            f"hydra.sweeper.storage={storage}",
            f"hydra.sweep.dir={tmp_path}/s",
        ],
        cwd=PROJECT_ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 2, completed.stderr[-2000:]
    assert says in completed.stderr and "Traceback" not in completed.stderr


@pytest.mark.slow
def test_one_worker_runs_its_trials_in_parallel_through_joblib(tmp_path, data_dir):
    needs_sst2(data_dir)
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="needs elmo-tasks[joblib]")
    url = f"journal:{tmp_path}/study.journal"
    _run_search(
        tmp_path,
        data_dir,
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.n_jobs=2",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.study_name=joblib",
        f"hydra.sweeper.storage={url}",
        "hydra/sweeper/pruner=median",  # reports reach the study from the joblib workers
        f"hydra.sweep.dir={tmp_path}/trials",
    )
    trials = _study("joblib", url).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    assert all(t.intermediate_values == {0: t.value} for t in trials)  # one epoch, reported
    assert sorted(Path(t.user_attrs["run_dir"]).name for t in trials) == ["0", "1"]
