"""The Optuna sweeper (``hydra/sweeper=optuna``): a Hydra sweeper built on Optuna's ask-and-tell
API, for one worker or many on one study.

Each worker (one ``python train.py hparams_search=...`` process: run it N times, as SLURM array
tasks or on several machines) loads the study from the storage, and until the study holds
``n_trials`` trials it asks for up to ``n_jobs`` trials, hands them to the launcher (basic,
joblib, submitit) as jobs, and tells the study their results. While they run, it stamps them
with heartbeats; a trial whose worker was killed is failed and retried by any worker
(:mod:`~elmo_tasks.search.heartbeat`). ``n_trials`` counts for the study as a whole
(:mod:`~elmo_tasks.search.budget`), so a resumed sweep (same storage and ``study_name``) goes on
to ``n_trials`` in total. Jobs report validation epochs to their trial and stop early when the
``pruner`` says so (:mod:`~elmo_tasks.search.pruning`). At the end the worker writes what the
study found (:mod:`~elmo_tasks.search.summary`).
"""

from __future__ import annotations

import logging
import math
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import optuna
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from optuna.storages import RetryFailedTrialCallback
from optuna.trial import TrialState

from elmo_tasks.core.config_values import ConfigValueError
from elmo_tasks.core.reporting import full_traceback_wanted, user_error
from elmo_tasks.search.budget import SURPLUS, Budget, within_budget
from elmo_tasks.search.heartbeat import Heartbeat, fail_stale_trials
from elmo_tasks.search.pruning import PRUNED_AT, TRIAL_VARIABLE, TrialHandle
from elmo_tasks.search.space import search_space, trial_overrides
from elmo_tasks.search.storage import describe, open_storage, storage_url
from elmo_tasks.search.summary import write_summary

log = logging.getLogger(__name__)
RUN_DIR = "run_dir"  # trial user attribute: the trial's run folder
WORKER = "elmo_tasks:worker"  # trial system attribute: host:pid of the worker that ran it
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def _built(node: Any) -> Any:
    """A sampler or pruner: Hydra has usually built it already; a mapping is built here."""
    return instantiate(node) if isinstance(node, (dict, DictConfig)) else node


class OptunaSearch(Sweeper):
    """See the module docstring; the keys are ``hydra.sweeper.*`` (conf/hydra/sweeper/optuna.yaml)."""

    def __init__(
        self,
        direction: str | list[str] = "maximize",
        study_name: str | None = None,
        storage: str | None = None,
        n_trials: int = 20,
        n_jobs: int = 1,
        sampler: Any = None,
        pruner: Any = None,
        params: Any = None,
        max_failure_rate: float = 0.0,
        heartbeat_interval: float = 10.0,
        grace_period: float = 60.0,
        max_retry: int | None = 2,
    ) -> None:
        if n_trials < 1 or n_jobs < 1:
            raise ConfigValueError("hydra.sweeper.n_trials and n_jobs must be at least 1")
        if not 0.0 <= max_failure_rate <= 1.0:
            raise ConfigValueError("hydra.sweeper.max_failure_rate must be between 0 and 1")
        if grace_period <= heartbeat_interval:
            raise ConfigValueError(
                f"hydra.sweeper.grace_period={grace_period} must exceed "
                f"heartbeat_interval={heartbeat_interval}: a live trial would look stopped"
            )
        directions = [direction] if isinstance(direction, str) else list(direction)
        self.directions = [str(d).lower() for d in directions]
        self.study_name, self.storage, self.n_trials, self.n_jobs = (
            study_name,
            storage,
            n_trials,
            n_jobs,
        )
        self.sampler, self.pruner, self.params = sampler, pruner, _plain(params)
        self.max_failure_rate = max_failure_rate
        self.heartbeat_interval, self.grace_period = heartbeat_interval, grace_period
        self.max_retry = max_retry

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )
        self.sweep_dir = Path(config.hydra.sweep.dir)
        # Jobs build their own pruner (in their own process) from its config.
        self.pruner_config = _plain(OmegaConf.select(config, "hydra.sweeper.pruner"))

    def _study(self, url: str) -> optuna.Study:
        if self.pruner and len(self.directions) > 1:
            raise ConfigValueError(
                "hydra.sweeper.pruner: Optuna prunes single-objective studies only"
            )
        return optuna.create_study(
            study_name=self.study_name,
            storage=open_storage(url),
            sampler=_built(self.sampler) if self.sampler else None,
            pruner=_built(self.pruner) if self.pruner else optuna.pruners.NopPruner(),
            directions=self.directions,
            load_if_exists=True,
        )

    def sweep(self, arguments: list[str]) -> optuna.Study:
        try:
            searched, fixed = search_space(self.params, arguments)
            url = storage_url(self.storage, self.sweep_dir)
            study = self._study(url)
        except Exception as error:  # a bad key or an unreachable storage: the message, exit 2
            shown = user_error(error)
            if shown is None or full_traceback_wanted():
                raise
            print(f"error: {shown[0]}", file=sys.stderr, flush=True)
            raise SystemExit(shown[1]) from None
        return self._run(study, url, searched, fixed)

    def _run(
        self, study: optuna.Study, url: str, searched: dict[str, Any], fixed: dict[str, str]
    ) -> optuna.Study:
        budget = Budget.of(study.get_trials(deepcopy=False), self.n_trials)
        log.info(
            "study %s in %s: %d of %d trials taken, %d running; %d searched parameters",
            study.study_name,
            describe(url),
            budget.slots_taken,
            self.n_trials,
            budget.running,
            len(searched),
        )
        ran, failed = 0, []
        while True:
            fail_stale_trials(study, self.grace_period, self.max_retry)
            budget = Budget.of(study.get_trials(deepcopy=False), self.n_trials)
            if budget.done:
                break
            if budget.to_start == 0:
                time.sleep(self.heartbeat_interval)  # another worker's trial may yet be retried
                continue
            batch = self._ask(study, searched, min(self.n_jobs, budget.to_start))
            if not batch:
                continue
            with Heartbeat(study, [t._trial_id for t in batch], self.heartbeat_interval):
                try:
                    returns = self._launch(study, url, batch, fixed)
                except BaseException:  # stopped (SIGTERM, Ctrl-C) or a job ended the process
                    self._give_back(study, batch)
                    raise
            for trial, job in zip(batch, returns):
                error = self._tell(study, trial, job)
                failed += [error] if error is not None else []
            ran += len(batch)
            if failed and len(failed) / ran > self.max_failure_rate:
                log.error(
                    "%d of %d trials failed (hydra.sweeper.max_failure_rate=%s)",
                    len(failed),
                    ran,
                    self.max_failure_rate,
                )
                raise failed[-1]
        write_summary(study, self.sweep_dir, url, self.n_trials)
        return study

    def _ask(
        self, study: optuna.Study, searched: dict[str, Any], count: int
    ) -> list[optuna.trial.Trial]:
        """Up to ``count`` trials within the study's budget; others are given back unrun."""
        batch = []
        for _ in range(count):
            trial = study.ask(fixed_distributions=searched)
            trials = study.get_trials(deepcopy=False)
            frozen = next(t for t in trials if t.number == trial.number)
            if within_budget(frozen, trials, self.n_trials):
                study._storage.set_trial_system_attr(trial._trial_id, WORKER, WORKER_ID)
                batch.append(trial)
                continue
            study._storage.set_trial_system_attr(trial._trial_id, SURPLUS, True)
            study.tell(trial, state=TrialState.FAIL)
            break
        return batch

    def _give_back(self, study: optuna.Study, batch: list[optuna.trial.Trial]) -> None:
        """The batch's unfinished trials: failed, and queued again for the next worker."""
        retry = RetryFailedTrialCallback(max_retry=self.max_retry)
        for trial in batch:
            try:
                if study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                    retry(study, study._storage.get_trial(trial._trial_id))
            except Exception as error:  # finished already, or the storage is gone too
                log.debug("trial %d not given back: %s", trial.number, error)

    def _launch(
        self, study: optuna.Study, url: str, batch: list[optuna.trial.Trial], fixed: dict[str, str]
    ) -> list[JobReturn]:
        jobs = []
        for trial in batch:
            handle = TrialHandle(url, study.study_name, trial.number, self.pruner_config)
            jobs.append(
                [
                    *trial_overrides(trial.params, fixed),
                    f"hydra.sweep.subdir={trial.number}",  # the trial's folder: its number
                    f"++hydra.job.env_set.{TRIAL_VARIABLE}={handle.encode()}",
                ]
            )
            log.info("trial %d: %s", trial.number, " ".join(jobs[-1][: len(trial.params)]))
        return list(self.launcher.launch(jobs, initial_job_idx=batch[0].number))

    def _tell(
        self, study: optuna.Study, trial: optuna.trial.Trial, job: JobReturn
    ) -> BaseException | None:
        """Record one job's outcome in the study; the job's error when it failed."""
        states = TrialState
        if job.hydra_cfg is not None:
            trial.set_user_attr(RUN_DIR, str(Path(job.hydra_cfg.hydra.runtime.output_dir)))
        if job.status == JobStatus.FAILED:
            study.tell(trial, state=states.FAIL)
            log.warning("trial %d failed: %s", trial.number, job._return_value)
            return job._return_value
        if PRUNED_AT in study._storage.get_trial(trial._trial_id).user_attrs:  # set by the job
            study.tell(trial, state=states.PRUNED)
            return None
        value = job.return_value
        values = [value] if len(self.directions) == 1 else list(value or [])
        if not values or any(v is None or math.isnan(float(v)) for v in values):
            study.tell(trial, state=states.FAIL)  # diverged, or no validation metric
            log.warning("trial %d gave no value (%r): recorded as failed", trial.number, value)
            return None
        study.tell(trial, [float(v) for v in values])
        return None
