"""The progress bar of training and pretraining: Lightning's rich bar, with an epoch total
only where there is one.

A run bounded by steps (``trainer.max_steps``, ``max_epochs`` null, as pretraining is) has
``max_epochs == -1`` inside Lightning, and its rich bar read ``Epoch 2/-2``; this one reads
``Epoch 2`` then (the bar itself still counts the epoch's batches).
"""

from __future__ import annotations

from pytorch_lightning.callbacks import RichProgressBar


class ProgressBar(RichProgressBar):
    """``RichProgressBar`` whose description is ``Epoch N/LAST`` with a finite epoch limit and
    ``Epoch N`` without one."""

    def _get_train_description(self, current_epoch: int) -> str:
        max_epochs = self.trainer.max_epochs
        description = f"Epoch {current_epoch}"
        if max_epochs is not None and max_epochs > 0:
            description += f"/{max_epochs - 1}"
        if len(self.validation_description) > len(description):
            # as Lightning's: padded to the validation bar's description, against flicker
            description = f"{description:{len(self.validation_description)}}"
        return description


def with_progress_bar(callbacks: list, trainer_config) -> list:
    """``callbacks`` plus a :class:`ProgressBar` when the trainer shows one and none is given
    (Lightning would add its own, whose step-bounded description is ``Epoch N/-2``)."""
    from pytorch_lightning.callbacks.progress import ProgressBar as LightningProgressBar

    shown = trainer_config.get("enable_progress_bar", True) if trainer_config else True
    if shown and not any(isinstance(c, LightningProgressBar) for c in callbacks):
        return [*callbacks, ProgressBar()]
    return callbacks
