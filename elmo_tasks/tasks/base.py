"""What every task module shares: an encoder, a head, step dispatch, optimiser set-up and the
training throughput that results.json reports."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytorch_lightning as pl
import torch

from ..encoders import TokenEncoder


class EncoderHeadTask(pl.LightningModule):
    """Base of the task modules: subclasses build ``self.head`` and implement ``_step(batch, split)``.

    ``train_tokens`` / ``train_seconds`` count the tokens and the time of training batches
    (forward, backward and optimiser step), for ``train_tokens_per_s``.
    """

    def __init__(
        self,
        encoder: TokenEncoder,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., object] | None,
        main_metric: str,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.main_metric = main_metric
        self.train_tokens = 0
        self.train_seconds = 0.0
        self._batch_start = 0.0

    def _step(self, batch: dict, split: str) -> torch.Tensor:
        raise NotImplementedError

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._step(batch, "test")

    def on_train_batch_start(self, batch: dict, batch_idx: int) -> None:
        self._batch_start = time.perf_counter()

    def on_train_batch_end(self, outputs, batch: dict, batch_idx: int) -> None:
        self.train_seconds += time.perf_counter() - self._batch_start
        self.train_tokens += sum(len(t) for t in batch["tokens"])

    def configure_optimizers(self):
        parameters = [p for p in self.parameters() if p.requires_grad]
        optimizer = self.optimizer_factory(parameters)
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
