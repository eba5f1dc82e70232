"""What every task module shares: an encoder, a head, step dispatch, optimiser set-up and the
training throughput that results.json reports."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pytorch_lightning as pl
import torch

from elmo_tasks.core.lightning_noise import (
    expect_eval_modules,
    forget_eval_modules,
    quiet_lightning,
)
from elmo_tasks.elmo.layout import convert_optimizer_states, current_key
from elmo_tasks.elmo.model import ElmoBiLm
from elmo_tasks.encoders import TokenEncoder
from elmo_tasks.tasks.divergence import LossWatch, check_finite_weights
from elmo_tasks.tasks.optimization import build_optimizer, parameter_groups
from elmo_tasks.tasks.step_logging import EpochMean, step_is_read

# Under DDP Lightning advises sync_dist=True for every epoch-level value. Ours need none: the
# epoch metrics come from torchmetrics' compute() or from outputs gathered over the processes,
# so they are already equal on every process, and val/test losses are logged with sync_dist.
# (train/loss_epoch stays the mean of the process's own batches.)
warnings.filterwarnings(
    "ignore", message=r"It is recommended to use `self\.log\('(train|val|test)/.*sync_dist=True"
)
quiet_lightning()  # the litlogger tip and a torch deprecation inside Lightning


# Checkpoint entry naming the frozen encoder weights left out of ``state_dict`` and the
# checksums of the files that hold them.
FROZEN_ENCODER = "frozen_encoder"
# Checkpoint entry with what the model learned from its training data besides weights (the
# vocabulary, the labels): prediction rebuilds the model from it without reading the data.
DATA_STATE = "data_state"


def restore_frozen_encoder(module: EncoderHeadTask, checkpoint: dict) -> None:
    """Put the frozen encoder weights that ``checkpoint`` left out back into its state dict,
    from ``module`` (built from the same files: checked by their SHA-256)."""
    saved = checkpoint.get(FROZEN_ENCODER)
    if not saved:
        return
    current = module._reloadable_encoder_state()
    if current is None or current["source"] != saved["source"]:
        found = current["source"] if current else "a fine-tuned or different encoder"
        raise ValueError(
            "this checkpoint was trained on a frozen biLM read from files with checksums "
            f"{saved['source']}, but the model was built with {found}: build it with the same "
            "encoder.options_file / encoder.weight_file as the run that wrote the checkpoint"
        )
    own = module.state_dict()
    for key in saved["keys"]:
        key = current_key(
            f"encoder.{key}"
        )  # written by an earlier release: the weight's current name
        checkpoint["state_dict"][key] = own[key]


def saved_hyperparameters(
    checkpoint_path: Any, hparams_file: Any, weights_only: bool | None
) -> tuple[Any, dict]:
    """(what to give Lightning, the hyperparameters it will build from): those of
    ``hparams_file`` when given, else the checkpoint's (read as Lightning reads it, once more:
    memory-mapped for a local file; a file object is read into memory first)."""
    import io

    if hparams_file is not None:
        from pytorch_lightning.core.saving import load_hparams_from_yaml

        return checkpoint_path, dict(load_hparams_from_yaml(str(hparams_file)) or {})
    if isinstance(checkpoint_path, (str, os.PathLike)) and os.path.isfile(checkpoint_path):
        checkpoint = torch.load(
            checkpoint_path, map_location="cpu", weights_only=weights_only, mmap=True
        )
    elif isinstance(checkpoint_path, (str, os.PathLike)):  # a URL: Lightning's reader
        from lightning_fabric.utilities.cloud_io import _load

        checkpoint = _load(checkpoint_path, map_location="cpu", weights_only=weights_only)
    else:
        checkpoint_path = io.BytesIO(checkpoint_path.read())
        checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=weights_only)
        checkpoint_path.seek(0)
    saved = checkpoint.get("hyper_parameters") if isinstance(checkpoint, dict) else None
    return checkpoint_path, dict(saved or {})


def passthrough(encoder: TokenEncoder) -> dict[str, int]:
    """The head argument for an encoder with pass-through features (none for the others, so
    heads without the argument keep working)."""
    return {"passthrough_dim": encoder.passthrough_dim} if encoder.passthrough_dim else {}


_PLAIN_VALUES = (str, int, float, bool, type(None))


class EncoderHeadTask(pl.LightningModule):
    """Base of the task modules: subclasses build ``self.head`` and implement ``_step(batch, split)``.

    ``train_tokens`` / ``train_seconds`` count the tokens and the time of training batches
    (forward, backward and optimiser step), for ``train_tokens_per_s``.
    ``param_groups``: optimiser settings per parameter group (``bilm``, ``scalar_mix``; see
    :mod:`elmo_tasks.tasks.optimization`). The encoder's ``regularization_loss`` (the scalar-mix
    L2) is added to every training loss.
    """

    def __init__(
        self,
        encoder: TokenEncoder,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., object] | None,
        main_metric: str,
        param_groups: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.param_group_settings = param_groups
        self.main_metric = main_metric
        self.train_tokens = 0
        self.train_seconds = 0.0
        self._batch_start = 0.0
        self.data_state: dict | None = None  # set by experiment.build
        self._train_loss, self._train_regularization = EpochMean(), EpochMean()
        self.loss_watch = LossWatch()  # a NaN or infinite loss stops training (tasks/divergence.py)

    def _step(self, batch: dict, split: str) -> torch.Tensor:
        raise NotImplementedError

    def __setattr__(self, name: str, value: Any) -> None:
        # Lightning sets ``_current_fx_name`` around every hook it calls (about 40 times a
        # training step) and the step timers below are set twice a step: plain values that
        # are not parameters, buffers or submodules skip nn.Module's checks (1.2 us -> 0.2 us).
        if (
            type(value) in _PLAIN_VALUES
            and name not in self._parameters
            and name not in self._buffers
            and name not in self._modules
        ):
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self._step(batch, "train")
        penalty = self.encoder.regularization_loss()
        if penalty is not None:
            self._train_regularization.update(penalty, len(batch["tokens"]))
            loss = loss + penalty
        self.loss_watch.see(loss, self)  # before backward: NaN never reaches the weights
        return loss

    def log_train_loss(self, loss: torch.Tensor, batch_size: int) -> None:
        """``train/loss_step`` when a logger or the progress bar reads it, and the epoch's
        mean as ``train/loss_epoch`` (see :mod:`elmo_tasks.tasks.step_logging`)."""
        self._train_loss.update(loss, batch_size)
        if step_is_read(self._trainer):
            self.log(
                "train/loss_step",
                loss,
                on_step=True,
                on_epoch=False,
                prog_bar=True,
                batch_size=batch_size,
            )

    def on_train_epoch_start(self) -> None:
        self._train_loss.reset()
        self._train_regularization.reset()

    def on_train_epoch_end(self) -> None:
        self.loss_watch.flush(self)  # on an accelerator: the losses not read yet
        for name, mean in (
            ("train/loss_epoch", self._train_loss),
            ("train/regularization", self._train_regularization),
        ):
            value = mean.compute()
            if value is not None:
                self.log(
                    name, value, on_step=False, on_epoch=True, prog_bar=name == "train/loss_epoch"
                )

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._step(batch, "test")

    def on_train_batch_start(self, batch: dict, batch_idx: int) -> None:
        self._batch_start = time.perf_counter()

    def on_train_batch_end(self, outputs, batch: dict, batch_idx: int) -> None:
        self.train_seconds += time.perf_counter() - self._batch_start
        self.train_tokens += sum(len(t) for t in batch["tokens"])

    # -- checkpoints: a frozen pretrained encoder is read from its files, not saved ---------

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if self.data_state is not None:
            checkpoint[DATA_STATE] = self.data_state
        reloadable = self._reloadable_encoder_state()
        if reloadable is not None:
            for key in reloadable["keys"]:
                checkpoint["state_dict"].pop(f"encoder.{key}", None)
            checkpoint[FROZEN_ENCODER] = reloadable
        # Diverged weights are never written (as best.ckpt, last.ckpt or any other).
        self.loss_watch.flush(self)
        check_finite_weights(checkpoint["state_dict"], self)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.data_state = checkpoint.get(DATA_STATE, self.data_state)
        restore_frozen_encoder(self, checkpoint)
        optimized = [
            p
            for group in parameter_groups(self, self.param_group_settings)
            for p in group["params"]
        ]
        convert_optimizer_states(checkpoint, self, optimized)

    @classmethod
    def load_from_checkpoint(
        cls,
        checkpoint_path: Any,
        map_location: Any = None,
        hparams_file: Any = None,
        strict: bool | None = None,
        weights_only: bool | None = True,
        trust: str | Iterable[str] | None = (),
        **kwargs: Any,
    ) -> EncoderHeadTask:  # type: ignore[override]
        """Lightning's ``load_from_checkpoint`` (``weights_only=True``: no pickled code runs),
        building only elmo-tasks' own classes and those of the modules in ``trust`` (on purpose:
        ``trust=["myheads"]``). The saved hyperparameters (and ``hparams_file``) are checked
        before anything is built; a part given in ``kwargs`` is the caller's own and replaces the
        saved one. :class:`~elmo_tasks.core.trust.UntrustedCodeError` for any other code."""
        from elmo_tasks.core.trust import check_hyperparameters

        source = hparams_file or getattr(checkpoint_path, "name", None) or "the checkpoint"
        if isinstance(checkpoint_path, (str, os.PathLike)):
            source = hparams_file or checkpoint_path
        checkpoint_path, saved = saved_hyperparameters(checkpoint_path, hparams_file, weights_only)
        how = f'{cls.__name__}.load_from_checkpoint(path, trust=["{{modules}}"])'
        check_hyperparameters(
            {k: v for k, v in saved.items() if k not in kwargs}, trust, source, how
        )
        return super().load_from_checkpoint(
            checkpoint_path, map_location, hparams_file, strict, weights_only, **kwargs
        )

    def _reloadable_encoder_state(self) -> dict | None:
        reloadable = getattr(self.encoder, "reloadable_state", None)
        return reloadable() if reloadable is not None else None

    # -- a frozen biLM stays in eval mode during training, on purpose ---------------------

    def on_fit_start(self) -> None:
        frozen = [
            name
            for name, module in self.named_modules()
            if isinstance(module, ElmoBiLm) and not module.requires_grad
        ]
        self._eval_mode_filter = expect_eval_modules(self, frozen)

    def on_train_start(self) -> None:
        forget_eval_modules(getattr(self, "_eval_mode_filter", None))
        self._eval_mode_filter = None

    def configure_optimizers(self):
        return build_optimizer(
            self,
            self.optimizer_factory,
            self.scheduler_factory,
            self.param_group_settings,
            total_steps=lambda: self.trainer.estimated_stepping_batches,
        )
