"""Resuming a killed run where it stopped: ``python train.py ... hydra.run.dir=RUN ckpt_path=last``.

What a checkpoint must hold for the resumed run to end with the numbers of the run that was
not interrupted, beyond what Lightning saves (weights, optimiser, loop counters, callbacks):

- the place in the epoch: the train loader's state (``data.base.ResumableDataLoader``), so
  the remaining batches of a mid-epoch checkpoint come in the same order;
- the random number generators (:class:`RandomStateCheckpoint`), so dropout draws the same
  masks. They are set again when the resumed run trains its first batch, not when the
  checkpoint is read: what runs in between (sanity validation, building the loaders) must
  not move them.

Everything is stored as tensors and plain numbers, so checkpoints load with
``torch.load(path, weights_only=True)``. See docs/reliability.md.

A resume is all or nothing: the checkpoint is verified (SHA-256, readable, finite weights)
before the run folder is touched, and a resumed run that fails puts ``metrics.csv`` back
(:func:`undo_keep_metrics`); ``results.json`` is only written by a run that completes.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from elmo_tasks.core.errors import ElmoTasksError

log = logging.getLogger(__name__)

LAST = "last"


def random_state() -> dict[str, Any]:
    """The global RNG states of Python, NumPy, torch (and CUDA), as tensors and plain numbers."""
    version, internal, gauss = random.getstate()
    name, keys, position, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": {
            "version": int(version),
            "state": torch.tensor(internal, dtype=torch.int64),
            "gauss": gauss,
        },
        "numpy": {
            "name": str(name),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_random_state(state: dict[str, Any]) -> None:
    """Undo :func:`random_state`."""
    python = state["python"]
    random.setstate(
        (python["version"], tuple(int(x) for x in python["state"].tolist()), python["gauss"])
    )
    numpy = state["numpy"]
    np.random.set_state(
        (
            numpy["name"],
            numpy["keys"].numpy().astype(np.uint32),
            numpy["position"],
            numpy["has_gauss"],
            numpy["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _distributed() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class RandomStateCheckpoint(pl.Callback):
    """Saves the RNG states of every process in every checkpoint; a run resumed from one sets
    them again just before its first training batch (the moment after the saving step of the
    interrupted run). DDP processes draw different numbers (their batches differ), so each
    gets its own states back when the number of processes is the same (else rank 0's)."""

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        # Lightning builds checkpoints on every process (rank 0 writes), so gathering is safe here.
        rank, world_size = _distributed()
        state = random_state()
        if world_size == 1:
            return {"ranks": [state]}
        states: list[Any] = [None] * world_size
        torch.distributed.all_gather_object(states, state)
        return {"ranks": states}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        states = state_dict.get("ranks", [state_dict])
        rank, world_size = _distributed()
        if len(states) != world_size:
            log.warning(
                "the checkpoint holds the random states of %d processes, this run has %d: rank 0's are used",
                len(states),
                world_size,
            )
        self._pending = states[rank] if len(states) == world_size else states[0]

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._pending is not None:
            set_random_state(self._pending)
            self._pending = None


def resolve_ckpt_path(
    ckpt_path: Any, checkpoint_dir: str | Path, run_dir: str | Path | None = None
) -> str | None:
    """The checkpoint to resume from: ``None``; ``"last"``: the newest of ``checkpoint_dir/last.ckpt``
    and the ``run_dir/hpc_ckpt_*.ckpt`` that Lightning writes when SLURM signals a requeue (``None``
    with a warning when there is none: the first start of a job that may be requeued); a local
    path, which must exist; Lightning's keywords (``hpc``, ``best``, ``registry...``) and URLs
    as they are."""
    if ckpt_path is None or str(ckpt_path) == "":
        return None
    text = str(ckpt_path)
    if text in ("hpc", "best") or text.startswith("registry") or "://" in text:
        return text
    if str(ckpt_path) == LAST:
        candidates = [Path(checkpoint_dir) / "last.ckpt"]
        if run_dir is not None:
            candidates += sorted(Path(run_dir).glob("hpc_ckpt_*.ckpt"))
        existing = [path for path in candidates if path.is_file()]
        if existing:
            newest = max(existing, key=lambda path: path.stat().st_mtime_ns)
            log.info("resuming from %s", newest)
            return str(newest)
        log.warning(
            "ckpt_path=last: no %s yet, training starts from the beginning (to resume a run, "
            "give its folder: hydra.run.dir=RUN ckpt_path=last)",
            candidates[0],
        )
        return None
    path = Path(str(ckpt_path)).expanduser()
    if not path.is_file():
        found = sorted(str(p) for p in Path(checkpoint_dir).glob("*.ckpt"))
        hint = (
            f"; this run's checkpoints: {', '.join(found)}"
            if found
            else " (or ckpt_path=last for this run's last.ckpt)"
        )
        raise CheckpointNotFoundError(f"ckpt_path={ckpt_path}: no such checkpoint file{hint}")
    return str(path)


class CheckpointNotFoundError(ElmoTasksError, FileNotFoundError):
    """``ckpt_path`` names a file that does not exist."""


class ResumeError(ElmoTasksError, RuntimeError):
    """The checkpoint to resume from cannot be used; the message names it and the alternatives."""


# How a resume trusts a module, for the message: what the user's own config names.
HOW_TO_TRUST = (
    "a resumed run builds what its own command line and config folders name, never what the "
    "checkpoint names: resume with the config that trained this run, naming {modules}"
)


def check_resumable(
    ckpt_path: str, checkpoint_dir: str | Path, trust: str | Iterable[str] | None = ()
) -> None:
    """:class:`ResumeError` when the local checkpoint ``ckpt_path`` does not match its SHA-256,
    cannot be read or holds non-finite weights, naming the other checkpoints that can be used
    (each one read and checked first); :class:`~elmo_tasks.core.trust.UntrustedCodeError` when
    its saved hyperparameters name code that is neither the package's nor in ``trust`` (the
    modules the run's own config names)."""
    from elmo_tasks.core.checkpoint_io import load_checkpoint
    from elmo_tasks.core.trust import check_hyperparameters

    path = Path(ckpt_path)
    if not path.is_file():  # Lightning's keywords and URLs
        return
    try:
        checkpoint = load_checkpoint(path, skip="verify_checksums=false")
    except ElmoTasksError as error:
        raise ResumeError(
            f"cannot resume: {error}\nThe run folder was left as it was. "
            + _alternatives(path, Path(checkpoint_dir))
        ) from None
    saved = checkpoint.get("hyper_parameters") if isinstance(checkpoint, dict) else None
    check_hyperparameters(saved, trust, path, HOW_TO_TRUST)


def _alternatives(path: Path, checkpoint_dir: Path) -> str:
    """The other checkpoints of the run to resume from, each checked as ``path`` was."""
    from elmo_tasks.core.checkpoint_io import load_checkpoint

    usable, damaged = [], []
    for other in sorted(checkpoint_dir.glob("*.ckpt")):
        if other.resolve() == path.resolve():
            continue
        try:
            load_checkpoint(other, skip="verify_checksums=false")
            usable.append(other)
        except ElmoTasksError as error:
            reason = " ".join(str(error).split()).split(". ")[0]
            damaged.append(f"{other.name} cannot be used either: {reason}")
    start_again = (
        "drop ckpt_path to train from the start (in another hydra.run.dir to keep this run)."
    )
    if usable:
        choices = " or ".join(f"ckpt_path={p}" for p in usable)
        text = f"To continue, resume from another checkpoint: {choices}; or {start_again}"
    else:
        text = f"There is no other usable checkpoint in {checkpoint_dir}: {start_again}"
    return "; ".join(damaged) + (". " if damaged else "") + text


def undo_keep_metrics(kept: Path | None, run_dir: str | Path, name: str = "metrics.csv") -> None:
    """After a resumed run failed: put the metrics file that :func:`keep_metrics_before_resume`
    moved away back in place; rows the failed run logged go to ``metrics.failed_resume_<n>.csv``."""
    if kept is None or not kept.is_file():
        return
    path = Path(run_dir) / name
    if path.is_file():
        n = 1
        while (aside := path.with_name(f"{path.stem}.failed_resume_{n}{path.suffix}")).exists():
            n += 1
        path.replace(aside)
        log.info("metrics logged by the failed resume: %s", aside)
    kept.replace(path)


def keep_metrics_before_resume(run_dir: str | Path, name: str = "metrics.csv") -> Path | None:
    """Move ``run_dir/metrics.csv`` to ``metrics.before_resume_<n>.csv`` (n = 1, 2, ...): the CSV
    logger deletes an existing metrics file when it starts, and a resumed run starts it again."""
    path = Path(run_dir) / name
    if not path.is_file():
        return None
    n = 1
    while (target := path.with_name(f"{path.stem}.before_resume_{n}{path.suffix}")).exists():
        n += 1
    path.replace(target)
    log.info("metrics logged before the resume: %s", target)
    return target


class LastCheckpoint(ModelCheckpoint):
    """Writes ``dirpath/last.ckpt`` at the end of every epoch (after validation, early stopping and
    the best checkpoint, so their states are in it) and, with ``every_n_train_steps`` N > 0,
    every N optimiser steps: what ``ckpt_path=last`` resumes (``callbacks.last_checkpoint``).

    On SIGTERM (a scheduler stopping the job) it also saves the step just trained, before
    Lightning stops the loop (one process; not during validation, see :meth:`_stopping`).

    Lightning's own ``save_last`` only rewrites ``last.ckpt`` when a top-k checkpoint was saved
    at that step, and ``every_n_train_steps`` and ``every_n_epochs`` exclude each other, hence
    this callback. A step that ends an epoch is left to the epoch-end save (Lightning does not
    resume cleanly from a checkpoint taken between an epoch's last batch and its validation),
    and so is a batch in the middle of a gradient accumulation. The file is replaced
    atomically (``AtomicCheckpointIO``), never versioned.
    """

    def __init__(
        self, dirpath: str | Path, every_n_train_steps: int | None = 0, **kwargs: Any
    ) -> None:
        super().__init__(
            dirpath=dirpath,
            save_top_k=0,
            save_last=True,
            every_n_train_steps=every_n_train_steps or 0,
            every_n_epochs=0,
            enable_version_counter=False,
            **kwargs,
        )

    def _save_last(self, trainer: pl.Trainer) -> None:
        if not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        every = self._every_n_train_steps
        due = every >= 1 and not trainer.global_step % every
        if not due and not self._stopping(trainer):
            return
        if (batch_idx + 1) % trainer.accumulate_grad_batches:
            return
        if trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            return
        self._save_last(trainer)

    @staticmethod
    def _stopping(trainer: pl.Trainer) -> bool:
        """SIGTERM was received (Lightning stops after this batch): save the step just trained.
        Not with several processes: they learn of the signal at different steps, and a save
        that some of them make and others not would wait forever for the others."""
        return trainer.received_sigterm and trainer.world_size == 1

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._should_save_on_train_epoch_end(trainer):
            self._save_last(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last(trainer)
