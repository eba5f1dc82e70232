"""``n_trials`` for the study as a whole, however many workers share it.

Each trial takes a *slot*; a retry of a failed trial (``system_attrs["failed_trial"]``, set by
Optuna's :class:`~optuna.storages.RetryFailedTrialCallback`) takes the slot of the trial it
retries. Trial numbers come from the storage in the order trials were created, so a worker that
asks for a trial and finds its number beyond the first ``n_trials`` slots knows that other
workers took them first: it gives that trial back (:data:`SURPLUS`) without running it. No
lock is needed, and no trial runs twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from optuna.trial import FrozenTrial, TrialState

SURPLUS = "elmo_tasks:surplus"  # system attribute of a trial given back unrun
RETRIED_FROM = "failed_trial"  # RetryFailedTrialCallback's attribute: the first failed trial


def slot(trial: FrozenTrial) -> int:
    """The slot a trial takes: its own number, or that of the trial it retries."""
    return int(trial.system_attrs.get(RETRIED_FROM, trial.number))


def counted(trials: Iterable[FrozenTrial]) -> list[FrozenTrial]:
    """The trials that take a slot (all but those given back)."""
    return [t for t in trials if not t.system_attrs.get(SURPLUS)]


@dataclass(frozen=True)
class Budget:
    """Where a study stands against ``n_trials``."""

    n_trials: int
    slots_taken: int  # distinct slots of trials that are not given back
    waiting: int  # retries queued and not started yet
    running: int

    @classmethod
    def of(cls, trials: Iterable[FrozenTrial], n_trials: int) -> Budget:
        trials = counted(trials)
        return cls(
            n_trials=n_trials,
            slots_taken=len({slot(t) for t in trials}),
            waiting=sum(t.state == TrialState.WAITING for t in trials),
            running=sum(t.state == TrialState.RUNNING for t in trials),
        )

    @property
    def to_start(self) -> int:
        """Trials a worker may start now: queued retries and free slots."""
        return self.waiting + max(0, self.n_trials - self.slots_taken)

    @property
    def done(self) -> bool:
        """Nothing left to start and nothing running anywhere."""
        return self.to_start == 0 and self.running == 0


def within_budget(trial: FrozenTrial, trials: Iterable[FrozenTrial], n_trials: int) -> bool:
    """Whether ``trial`` (just asked for) falls within the first ``n_trials`` slots of the
    study: a retry always does; a new trial does when fewer than ``n_trials`` slots belong to
    trials created before it."""
    if slot(trial) != trial.number:
        return True
    earlier = {slot(t) for t in counted(trials) if t.number < trial.number}
    return len(earlier) < n_trials
