"""Training-step logging without Lightning's per-step cost.

``LightningModule.log`` costs about a millisecond a call on a CPU (result collection, batch
size bookkeeping, type checks), as much as a whole cached frozen-ELMo training step. The
training loss is therefore accumulated here as a detached tensor sum and handed to
Lightning only when something reads it: on the steps the loggers record
(``trainer.log_every_n_steps``), on every step while a progress bar shows it, and once per
epoch as its batch-size weighted mean. The logged names are Lightning's own
(``train/loss_step``, ``train/loss_epoch``).
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch


class EpochMean:
    """A batch-size weighted mean over one epoch, kept as a detached tensor sum."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.total: torch.Tensor | None = None
        self.count = 0

    def update(self, value: torch.Tensor, weight: int) -> None:
        weighted = value.detach() * weight
        self.total = weighted if self.total is None else self.total + weighted
        self.count += weight

    def compute(self) -> torch.Tensor | None:
        return None if self.total is None else self.total / self.count


def step_is_read(trainer: pl.Trainer | None) -> bool:
    """Whether a value logged at this training step reaches a logger or the progress bar."""
    if trainer is None:
        return False
    if trainer.progress_bar_callback is not None:
        return True
    connector = getattr(trainer, "_logger_connector", None)
    return bool(trainer.loggers) and (connector is None or connector.should_update_logs)
