"""Stop a training run whose numbers are no longer finite, before it writes them anywhere.

A learning rate far too large (``optim.optimizer.lr=1e38``) makes the loss NaN or infinite
within a step or two; the optimiser then writes NaN into every weight, and every later
checkpoint, validation score and test score would come from those weights. So:

- :class:`LossWatch` looks at each training loss before its backward pass. On a CPU the
  scalar is read at once (``loss.item()``: a few microseconds, no device to wait for) and a
  non-finite loss raises :class:`TrainingDiverged` before it can touch the weights. On an
  accelerator, reading it would make the host wait for the device at every step, so the
  first non-finite (step, loss) is recorded on the device without a sync and read every
  ``every`` steps, at each epoch end and before every checkpoint (``flush``): the run stops
  at most ``every`` steps late, naming the first bad step.
- :func:`check_finite_weights` refuses a checkpoint whose weights hold NaN or infinity (a
  non-finite gradient with a finite loss), so such weights are never kept as ``best.ckpt``
  or ``last.ckpt`` and never tested.

The message names the step, the value and what to try; the command exits with status 3
(:data:`elmo_tasks.core.reporting.EXIT_DIVERGED`) and ``results.json`` says
``"status": "diverged"`` (docs/configuration.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from elmo_tasks.core.errors import ElmoTasksError
from elmo_tasks.core.reporting import EXIT_DIVERGED


class TrainingDiverged(ElmoTasksError, FloatingPointError):
    """The training loss or the weights became NaN or infinite; training stopped there."""

    exit_status = EXIT_DIVERGED
    job_only = True  # another job of a sweep (another learning rate) may well converge

    def __init__(self, message: str, *, step: int, epoch: int, what: str, value: float) -> None:
        super().__init__(message)
        self.step, self.epoch, self.what, self.value = step, epoch, what, value

    def record(self) -> dict[str, Any]:
        """What results.json says under ``diverged`` (the value as text: JSON has no NaN)."""
        return {"step": self.step, "epoch": self.epoch, "what": self.what, "value": str(self.value)}


def diverged(module: Any, what: str, value: float, step: int | None = None) -> TrainingDiverged:
    """The error for ``module`` (a LightningModule in a trainer) whose ``what`` is ``value``."""
    trainer = getattr(module, "_trainer", None)
    step = step if step is not None else (trainer.global_step + 1 if trainer else 0)
    epoch = trainer.current_epoch if trainer else 0
    lr = None
    if trainer is not None and trainer.optimizers:
        lr = trainer.optimizers[0].param_groups[0].get("lr")
    clip = getattr(trainer, "gradient_clip_val", None) if trainer else None
    lr_hint = (
        f"a smaller learning rate (optim.optimizer.lr={lr / 10:g}; it is {lr:g})"
        if isinstance(lr, float)
        else "a smaller learning rate (optim.optimizer.lr=...)"
    )
    clip_hint = (
        f"a tighter gradient clip (trainer.gradient_clip_val={clip / 10:g}; it is {clip:g})"
        if clip
        else "gradient clipping (trainer.gradient_clip_val=1.0)"
    )
    message = (
        f"training diverged: the {what} is {value} at training step {step} (epoch {epoch}); "
        f"training stopped there and no weights of that step were kept. Try {lr_hint}, "
        f"{clip_hint}, or a learning-rate warm-up (optim=adam_warmup)."
    )
    return TrainingDiverged(message, step=step, epoch=epoch, what=what, value=value)


class LossWatch:
    """Raises :class:`TrainingDiverged` for a non-finite training loss (see the module's doc)."""

    def __init__(self, every: int = 25) -> None:
        self.every = every
        self._first: torch.Tensor | None = None  # on the device: [step, loss], step -1 while fine
        self._seen = 0

    def see(self, loss: torch.Tensor, module: Any) -> None:
        """Check the training loss of this step (before its backward pass)."""
        if loss.device.type == "cpu":
            value = loss.item()
            if not math.isfinite(value):
                raise diverged(module, "training loss", value)
            return
        self._record(loss.detach(), module)

    def _record(self, loss: torch.Tensor, module: Any) -> None:
        step = module._trainer.global_step + 1 if module._trainer else self._seen + 1
        if self._first is None:
            self._first = torch.full((2,), -1.0, device=loss.device)
        here = torch.stack((torch.full_like(loss, step, dtype=torch.float32), loss.float()))
        new = (self._first[0] < 0) & ~torch.isfinite(loss)
        self._first = torch.where(new, here, self._first)  # no host sync
        self._seen += 1
        if self._seen % self.every == 0:
            self.flush(module)

    def flush(self, module: Any) -> None:
        """Read the device record now (one sync): before a checkpoint, and every ``every`` steps."""
        if self._first is None:
            return
        step, value = self._first.tolist()
        if step >= 0:
            raise diverged(module, "training loss", value, step=int(step))


def check_finite_weights(state_dict: Mapping[str, Any], module: Any) -> None:
    """:class:`TrainingDiverged` when a floating-point tensor of ``state_dict`` holds NaN or
    infinity (called before a checkpoint is written: such weights are never saved)."""
    for name, tensor in state_dict.items():
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
            if not bool(torch.isfinite(tensor).all()):
                bad = tensor[~torch.isfinite(tensor)].flatten()[0].item()
                trainer = getattr(module, "_trainer", None)
                step = trainer.global_step if trainer else 0  # the step that wrote them
                raise diverged(module, f"weight {name}", bad, step=step)
