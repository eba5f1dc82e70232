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

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int
    ) -> None:
        if trainer.global_step != self.step:
            return
        self.marker.write_text(f"{trainer.global_step} {trainer.current_epoch} {batch_idx}\n")
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:  # wait to be killed (bounded, should the test die first)
            time.sleep(0.05)
        raise RuntimeError(f"PauseAtStep: not killed within {self.timeout_s} s")


class PauseUntilSigterm(pl.Callback):
    """Like :class:`PauseAtStep`, but blocks until the process receives SIGTERM (Lightning's
    handler notes it; other signals, such as SLURM's SIGUSR1, are handled meanwhile), then
    lets the batch run: Lightning stops after it, at a known step (``step + 1``)."""

    def __init__(self, step: int, marker: str, timeout_s: float = 600.0) -> None:
        self.step, self.marker, self.timeout_s = step, Path(marker), timeout_s

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int
    ) -> None:
        if trainer.global_step != self.step or trainer.received_sigterm:
            return
        self.marker.write_text(f"{trainer.global_step} {trainer.current_epoch} {batch_idx}\n")
        deadline = time.monotonic() + self.timeout_s
        while not trainer.received_sigterm:
            if time.monotonic() > deadline:
                raise RuntimeError(f"PauseUntilSigterm: no SIGTERM within {self.timeout_s} s")
            time.sleep(0.05)


class PoisonWeightAtStep(pl.Callback):
    """After optimiser step ``step``, set one weight of the model to NaN: what a non-finite
    gradient with a finite loss does (the checkpoint that follows must not keep it)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx: int
    ) -> None:
        if trainer.global_step == self.step:
            import torch

            with torch.no_grad():
                next(p for p in pl_module.parameters() if p.requires_grad).view(-1)[0] = float(
                    "nan"
                )


class WaitAtStep(pl.Callback):
    """When training is about to run its step ``step + 1``, write ``marker`` and wait until
    ``go`` exists (at most ``timeout_s``), then go on: a test can start something else at a
    known point of a run (another training run beside it) and let the run continue."""

    def __init__(self, step: int, marker: str, go: str, timeout_s: float = 600.0) -> None:
        self.step, self.marker, self.go, self.timeout_s = step, Path(marker), Path(go), timeout_s

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int
    ) -> None:
        if trainer.global_step != self.step or self.marker.exists():
            return
        self.marker.write_text(f"{trainer.global_step} {trainer.current_epoch} {batch_idx}\n")
        deadline = time.monotonic() + self.timeout_s
        while not self.go.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"WaitAtStep: {self.go} did not appear within {self.timeout_s} s"
                )
            time.sleep(0.05)


class LimitFileSizeAtEpoch(pl.Callback):
    """From the start of epoch ``epoch`` on, no file of this process may grow past ``max_bytes``
    (``RLIMIT_FSIZE``; SIGXFSZ ignored): a write beyond fails with EFBIG, as on a full disk,
    after the checkpoints of the earlier epochs were written."""

    def __init__(self, epoch: int, max_bytes: int) -> None:
        self.epoch, self.max_bytes = epoch, max_bytes

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            limit_file_size(self.max_bytes)


def limit_file_size(max_bytes: int) -> None:
    """Files of this process (and its children) may not grow past ``max_bytes`` bytes."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, hard))


def _pause(marker: str) -> None:
    Path(marker).write_text("paused\n")
    while True:  # wait to be killed (the test kills within seconds, or its timeout does)
        time.sleep(0.05)


def pause_in_cache_build(marker: str) -> None:
    """Block the first activation-cache build after its temporary file holds a batch."""
    import elmo_tasks.encoders.elmo_cache as cache

    original = cache.select_layers

    def select_then_pause(*args, **kwargs):
        if not Path(marker).exists():
            _pause(marker)
        return original(*args, **kwargs)

    cache.select_layers = select_then_pause


def pause_in_export(marker: str) -> None:
    """Block ``save_weights`` of an export once its temporary hdf5 file is open."""
    import contextlib

    import elmo_tasks.elmo.weights as weights

    original = weights.hdf5_writer

    @contextlib.contextmanager
    def writer_then_pause(*args, **kwargs):
        with original(*args, **kwargs) as opened:
            _pause(marker)
            yield opened

    weights.hdf5_writer = writer_then_pause


if __name__ == "__main__":
    # python -m tests.crash HOOK MARKER SCRIPT_OR_-m_MODULE ARGS...: run a command with a pause hook.
    import runpy
    import sys

    hook, marker, target, *rest = sys.argv[1:]
    {"cache": pause_in_cache_build, "export": pause_in_export}[hook](marker)
    if target == "-m":
        sys.argv = [rest[0], *rest[1:]]
        runpy.run_module(rest[0], run_name="__main__", alter_sys=True)
    else:
        sys.argv = [target, *rest]
        runpy.run_path(target, run_name="__main__")
