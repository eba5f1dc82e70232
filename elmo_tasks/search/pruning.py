"""Pruning: a trial reports its validation metric after each validation epoch, and stops when
the study's pruner says the trial is hopeless.

The sweeper hands each job its trial through one environment variable
(:data:`TRIAL_VARIABLE`, set with Hydra's ``hydra.job.env_set``, so it reaches jobs of every
launcher and stays out of the run's config). :func:`pruning_callback` reads it in the job and
returns the Lightning callback, or None outside a search. A pruned trial ends like a finished
run, without the test, with ``results.json`` ``"status": "pruned"``; the job tells the study through the
trial's user attribute :data:`PRUNED_AT`, and the sweeper records the trial as PRUNED.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import os
from dataclasses import asdict, dataclass
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.trainer.states import TrainerFn

log = logging.getLogger(__name__)

TRIAL_VARIABLE = "ELMO_TASKS_OPTUNA_TRIAL"
PRUNED_AT = "pruned_at_epoch"  # trial user attribute, set by a pruned job


@dataclass(frozen=True)
class TrialHandle:
    """What a job needs to report to its trial: the study's storage and name, the trial's
    number, the metric and the pruner (a ``_target_`` mapping, or None: no pruning)."""

    storage: str
    study_name: str
    number: int
    pruner: dict[str, Any] | None

    def encode(self) -> str:
        """Letters, digits, ``-`` and ``_`` only: safe in a Hydra override value."""
        raw = json.dumps(asdict(self), sort_keys=True).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> TrialHandle:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return cls(**json.loads(raw))

    def open(self) -> Any:
        """The live :class:`optuna.trial.Trial` (with the study's pruner)."""
        import hydra.utils
        import optuna

        from elmo_tasks.search.storage import open_storage

        storage = open_storage(self.storage)
        # Without a pruner the trial still reports its epochs (for the dashboard), never pruned.
        pruner = hydra.utils.instantiate(self.pruner) if self.pruner else optuna.pruners.NopPruner()
        study = optuna.load_study(study_name=self.study_name, storage=storage, pruner=pruner)
        study_id = storage.get_study_id_from_name(self.study_name)
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, self.number)
        return optuna.trial.Trial(study, trial_id)


class PruneHopelessTrials(pl.Callback):
    """Reports ``monitor`` to the trial after each validation epoch; when the pruner says so,
    stops training (``trainer.should_stop``) and records the epoch."""

    def __init__(self, trial: Any, monitor: str):
        self.trial = trial
        self.monitor = monitor
        self.pruned_at: int | None = None
        self.value: float | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Epochs of training only: not the sanity check, nor the validation of the best
        # checkpoint after training (a trial that trained to its end is never pruned).
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        if self.pruned_at is not None:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            return
        epoch, value = trainer.current_epoch, float(value)
        if math.isnan(value):
            return
        self.trial.report(value, step=epoch)
        if self.trial.should_prune():
            self.pruned_at, self.value = epoch, value
            self.trial.set_user_attr(PRUNED_AT, epoch)
            trainer.should_stop = True
            log.info(
                "trial %d pruned after epoch %d (%s=%.4f)",
                self.trial.number,
                epoch,
                self.monitor,
                value,
            )

    def record(self) -> dict[str, Any]:
        """results.json's ``pruned`` field."""
        return {"epoch": self.pruned_at, "value": self.value, "trial": self.trial.number}


def pruning_callback(monitor: str) -> PruneHopelessTrials | None:
    """The callback of the trial this job runs for (None outside a search)."""
    text = os.environ.get(TRIAL_VARIABLE)
    return PruneHopelessTrials(TrialHandle.decode(text).open(), monitor) if text else None
