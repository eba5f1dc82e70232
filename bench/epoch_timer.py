"""A Lightning callback for benchmarks: the wall time of each training epoch, and when fitting
started (a Unix time: a driver that knows when it launched the run gets the setup time, data,
model and any activation cache), appended as JSON lines to ``path``.

    +callbacks.epoch_timer={_target_:epoch_timer.EpochTimer,path:/tmp/epochs.jsonl}

(with ``bench/`` on ``PYTHONPATH``; it imports nothing from the package, so it times any
release of it).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytorch_lightning as pl


class EpochTimer(pl.Callback):
    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.epoch_start = 0.0

    def _write(self, record: dict) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._write({"fit_start_unix": time.time()})

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.epoch_start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._write(
            {
                "epoch": trainer.current_epoch,
                "train_s": round(time.perf_counter() - self.epoch_start, 2),
                "batches": int(trainer.num_training_batches),
            }
        )
