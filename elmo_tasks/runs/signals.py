"""A run stopped by SIGTERM says so, and how to go on: one message and exit status 143.

SLURM (at a time limit, on preemption or on ``scontrol requeue``), Kubernetes and systemd stop
a job with SIGTERM. Lightning's handler notes the signal and stops the loop at its next check
(raising ``SIGTERMException``, a ``SystemExit`` without a status: exit 0, "done", to the
scheduler). With :func:`reports_sigterm` around a run:

- ``last.ckpt`` holds the step just trained: :class:`~elmo_tasks.core.resume.LastCheckpoint`
  saves it when the signal arrived during a training batch (one process). During validation,
  testing or the sanity check nothing new is saved; ``last.ckpt`` is then the one written at
  the end of the previous epoch (or by ``every_n_train_steps``);
- one message says where the run stopped, which step ``last.ckpt`` holds, and the exact
  command that resumes it (``hydra.run.dir=RUN ckpt_path=last``);
- the process exits with status 143 (128 + 15, as a shell reports a process ended by
  SIGTERM; :data:`~elmo_tasks.core.reporting.EXIT_SIGTERM`). No results.json is written:
  the run is not finished, and its resume writes it.

A SIGTERM outside Lightning's loops (reading the data, building the activation cache, between
training and testing) ends the process at once, as the signal does by default: status 143 in
a shell, and nothing of the run to keep. See docs/reliability.md.
"""

from __future__ import annotations

import functools
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytorch_lightning as pl
from pytorch_lightning.utilities.exceptions import SIGTERMException

from elmo_tasks.core.errors import ElmoTasksError
from elmo_tasks.core.reporting import EXIT_SIGTERM
from elmo_tasks.core.resume import LastCheckpoint

F = TypeVar("F", bound=Callable[..., Any])


class RunStopped(ElmoTasksError):
    """The run was stopped by SIGTERM; the message says how to resume it."""

    exit_status = EXIT_SIGTERM
    label = "stopped"


class _Watched:
    """What the message needs of the run in progress (one per process: signals are too)."""

    trainer: pl.Trainer | None = None
    checkpoint: Path | None = None
    command: str = ""
    unwritten: str = "results.json"


_WATCHED = _Watched()


def watch(
    trainer: pl.Trainer,
    checkpoint: str | Path | None,
    command: str,
    unwritten: str = "results.json",
) -> None:
    """Remember the run's trainer, its ``last.ckpt``, the command that resumes it and what a
    finished run writes that this one has not (``unwritten``)."""
    _WATCHED.trainer = trainer
    _WATCHED.checkpoint = Path(checkpoint) if checkpoint else None
    _WATCHED.command = command
    _WATCHED.unwritten = unwritten


def watch_training(trainer: pl.Trainer, output_dir: Path, overrides: list[str]) -> None:
    """:func:`watch` a ``train.py`` run: its ``callbacks.last_checkpoint`` file and the command
    ``python train.py OVERRIDES hydra.run.dir=RUN ckpt_path=last``."""
    last = next(
        (Path(c.dirpath) / "last.ckpt" for c in trainer.callbacks if isinstance(c, LastCheckpoint)),
        None,
    )
    program = "python train.py" if Path(sys.argv[0]).name == "train.py" else "elmo-tasks train"
    watch(trainer, last, resume_command(program, overrides, output_dir, "last"))


def reports_sigterm(run: F) -> F:
    """Decorate a run function: Lightning's SIGTERM stop becomes :class:`RunStopped`."""

    @functools.wraps(run)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return run(*args, **kwargs)
        except SIGTERMException:
            raise RunStopped(stop_message()) from None
        finally:
            watch_nothing()

    return wrapper  # type: ignore[return-value]


def watch_nothing() -> None:
    watch(None, None, "")  # type: ignore[arg-type]


def stop_message() -> str:
    """Where the run stopped, what ``last.ckpt`` holds, and the command that resumes it."""
    trainer = _WATCHED.trainer
    where = "before training started"
    saved: int | None = None
    if trainer is not None:
        doing = {"fit": "training", "validate": "validating", "test": "testing"}.get(
            str(getattr(trainer.state.fn, "value", trainer.state.fn)), "running"
        )
        if trainer.sanity_checking:
            doing = "checking validation before training"
        elif trainer.validating:  # inside fit: no step checkpoint there
            doing = "validating"
        where = f"while {doing}, after training step {trainer.global_step} (epoch {trainer.current_epoch})"
        for callback in trainer.callbacks:
            # The step of its last save in this process (0: none; a resume restores
            # last_model_path but not this step).
            if isinstance(callback, LastCheckpoint) and callback._last_global_step_saved > 0:
                saved = callback._last_global_step_saved
    checkpoint = _WATCHED.checkpoint
    if checkpoint is None:
        holds = "no checkpoint is written by this run (callbacks.last_checkpoint is off)"
    elif saved is not None:
        holds = f"{checkpoint} holds training step {saved}"
    elif checkpoint.is_file():
        holds = f"{checkpoint} is the one from before this run started"
    else:
        holds = f"no {checkpoint.name} was written yet, so resuming starts from the beginning"
    return (
        f"SIGTERM received {where}; the run is not finished (no {_WATCHED.unwritten}). {holds}. "
        f"Resume with:\n  {_WATCHED.command}"
    )


def resume_command(
    program: str, overrides: list[str], run_dir: str | Path | None, ckpt: str | Path
) -> str:
    """``PROGRAM OVERRIDES [hydra.run.dir=RUN] ckpt_path=CKPT``, shell-quoted, with any earlier
    ``hydra.run.dir`` and ``ckpt_path`` left out."""
    kept = [o for o in overrides if not o.lstrip("+~").startswith(("hydra.run.dir=", "ckpt_path="))]
    folder = [f"hydra.run.dir={run_dir}"] if run_dir is not None else []
    words = [*kept, *folder, f"ckpt_path={ckpt}"]
    return " ".join([program, *(shlex.quote(word) for word in words)])
