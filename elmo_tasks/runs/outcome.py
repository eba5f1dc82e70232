"""What a training run leaves in its folder when ``trainer.fit`` does not complete.

- Diverged (:class:`~elmo_tasks.tasks.divergence.TrainingDiverged`): ``results.json`` says
  ``"status": "diverged"`` with the step, the epoch, what was not finite and its value, and
  holds no metrics (no checkpoint of the diverged weights exists to compute them from); the
  metrics logged so far stay. The command exits with status 3.
- Stopped by SIGTERM: nothing is written or undone (``last.ckpt`` is saved by
  ``LastCheckpoint``; :mod:`elmo_tasks.runs.signals` reports it): a resume continues it.
- Any other failure of a resumed run puts ``metrics.csv`` back as it was before the resume.

A run that completes writes ``"status": "completed"`` (``runs/experiment.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig
from pytorch_lightning.utilities.exceptions import SIGTERMException

from elmo_tasks.core.atomic import atomic_write_text
from elmo_tasks.core.resume import undo_keep_metrics
from elmo_tasks.tasks.divergence import TrainingDiverged

COMPLETED, DIVERGED, PRUNED = "completed", "diverged", "pruned"


def after_failed_fit(
    error: BaseException,
    cfg: DictConfig,
    trainer: pl.Trainer,
    output_dir: Path,
    kept: Path | None,
    overrides: list[str],
) -> None:
    """Record ``error`` (raised by ``trainer.fit``) in the run folder, as the module says."""
    if isinstance(error, SIGTERMException):
        return
    if isinstance(error, TrainingDiverged):
        if trainer.is_global_zero:
            write_diverged_results(cfg, output_dir, error, overrides)
        return
    undo_keep_metrics(kept, output_dir)  # a failed resume leaves the folder as it was


def write_diverged_results(
    cfg: DictConfig, output_dir: Path, error: TrainingDiverged, overrides: list[str]
) -> None:
    """``results.json`` of a diverged run (fields: docs/configuration.md)."""
    results: dict[str, Any] = {
        "status": DIVERGED,
        "diverged": error.record(),
        "task": cfg.task.name,
        "encoder": cfg.encoder._target_.rsplit(".", 1)[-1],
        "head": cfg.head._target_.rsplit(".", 1)[-1],
        "seed": cfg.seed,
        "val": {},
        "test": {},
        "main_metric": cfg.task.main_metric,
        "config_overrides": overrides,
        "best_checkpoint": None,
    }
    atomic_write_text(output_dir / "results.json", json.dumps(results, indent=2) + "\n")
