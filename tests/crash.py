"""A callback for crash tests: ``+callbacks.pause._target_=tests.crash.PauseAtStep``.

When training is about to run its step ``step + 1`` (``step`` optimiser steps done), it writes
``marker`` and blocks, so that a test can SIGKILL the process at a known point: the run has
trained exactly ``step`` steps and nothing moves while it is killed.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytorch_lightning as pl


class PauseAtStep(pl.Callback):
    def __init__(self, step: int, marker: str, timeout_s: float = 600.0) -> None:
        self.step, self.marker, self.timeout_s = step, Path(marker), timeout_s

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_step != self.step:
            return
        self.marker.write_text(f"{trainer.global_step} {trainer.current_epoch} {batch_idx}\n")
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:  # wait to be killed (bounded, should the test die first)
            time.sleep(0.05)
        raise RuntimeError(f"PauseAtStep: not killed within {self.timeout_s} s")
