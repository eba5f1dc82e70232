"""Heartbeats of running trials, and the trials of a worker that died.

While its trials run, a worker stamps each of them every ``interval`` seconds (a trial system
attribute, so it works on every storage: journal files and databases alike). A RUNNING trial
whose last stamp (or start) is older than ``grace_period`` belonged to a worker that was killed:
any worker marks it failed and queues a retry with the same parameters (Optuna's
:class:`~optuna.storages.RetryFailedTrialCallback`, at most ``max_retry`` times). Clocks of the
machines that share a study should agree to well within ``grace_period``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import RetryFailedTrialCallback
from optuna.trial import FrozenTrial, TrialState

log = logging.getLogger(__name__)

STAMP = "elmo_tasks:heartbeat"  # system attribute: the time of the last heartbeat (Unix seconds)


class Heartbeat:
    """A thread that stamps ``trial_ids`` every ``interval`` seconds while in a ``with``."""

    def __init__(self, study: optuna.Study, trial_ids: Iterable[int], interval: float):
        self.storage = study._storage  # Optuna keeps a study's storage private; it is ours here
        self.trial_ids = list(trial_ids)
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="trial-heartbeat", daemon=True)

    def stamp(self) -> None:
        now = time.time()
        for trial_id in self.trial_ids:
            try:
                self.storage.set_trial_system_attr(trial_id, STAMP, now)
            except UpdateFinishedTrialError:
                pass  # finished (or failed as stale by a worker that gave up on us)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.stamp()
            except Exception as error:  # a storage hiccup must not end the trials
                log.warning("heartbeat not recorded: %s", error)

    def __enter__(self) -> Heartbeat:
        self.stamp()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


def last_sign_of_life(trial: FrozenTrial) -> float:
    """Unix time of the trial's last heartbeat, or of its start."""
    start = trial.datetime_start.timestamp() if trial.datetime_start else 0.0  # naive: local
    return max(float(trial.system_attrs.get(STAMP, 0.0)), start)


def fail_stale_trials(study: optuna.Study, grace_period: float, max_retry: int | None) -> list[int]:
    """Mark the RUNNING trials whose worker stopped beating as failed and queue their retries;
    returns their numbers."""
    now = time.time()
    retry = RetryFailedTrialCallback(max_retry=max_retry)
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if now - last_sign_of_life(trial) <= grace_period:
            continue
        try:
            if not study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                continue
        except UpdateFinishedTrialError:
            continue  # another worker got there first
        failed.append(trial.number)
        log.warning(
            "trial %d: no heartbeat for %.0f s (its worker was stopped); marked failed, retried",
            trial.number,
            now - last_sign_of_life(trial),
        )
        retry(study, study._storage.get_trial(trial._trial_id))
    return failed
