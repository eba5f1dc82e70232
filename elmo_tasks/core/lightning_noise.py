"""Lightning messages that every run printed and that no user can act on, silenced precisely.

Each is matched by its exact text (and where it comes from), so every other warning, and
these same ones where they would mean something, still reach the user:

- the litlogger advertisement Lightning logs when a trainer has no LitLogger;
- torch's deprecation of ``LeafSpec``, which Lightning's own ``_pytree`` module triggers for
  every data loader (nothing in this package uses ``LeafSpec``);
- "Found N module(s) in eval mode at the start of training", only for a model whose modules
  in eval mode are exactly its frozen pretrained parts (:func:`expect_eval_modules`): a frozen
  biLM behaves as at inference on purpose. Any other module in eval mode changes N, and the
  warning is shown.

The CSV logger's "logs directory ... exists and is not empty" and the
``transfer_batch_to_device`` notice are fixed where they arise instead
(:class:`elmo_tasks.runs.loggers.RunFolderCSVLogger`, :class:`elmo_tasks.data.base.Batch`).
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterable

from torch import nn

LITLOGGER_TIP = "💡 Tip: For seamless cloud logging and experiment tracking"
RANK_ZERO_LOGGERS = (
    "pytorch_lightning.utilities.rank_zero",
    "lightning.pytorch.utilities.rank_zero",
)
LEAF_SPEC = r"`isinstance\(treespec, LeafSpec\)` is deprecated"
EVAL_MODE = "Found {} module(s) in eval mode at the start of training"


class _DropLitloggerTip(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(LITLOGGER_TIP)


_TIP_FILTER = _DropLitloggerTip()


def quiet_lightning() -> None:
    """Drop the litlogger tip and the ``LeafSpec`` deprecation (idempotent)."""
    for name in RANK_ZERO_LOGGERS:
        logger = logging.getLogger(name)
        if _TIP_FILTER not in logger.filters:
            logger.addFilter(_TIP_FILTER)
    warnings.filterwarnings(
        "ignore",
        message=LEAF_SPEC,
        category=FutureWarning,
        module=r"pytorch_lightning\.utilities\._pytree|lightning\.pytorch\.utilities\._pytree",
    )


def expect_eval_modules(model: nn.Module, frozen: Iterable[str]) -> tuple | None:
    """Tell Lightning that the modules of ``model`` in eval mode are meant to be: when every
    one of them lies inside a module named in ``frozen``, ignore the warning that names exactly
    their number, and return that filter (for :func:`forget_eval_modules`); else None, and the
    warning is shown."""
    from lightning_fabric.utilities.warnings import PossibleUserWarning

    prefixes = [f"{name}." for name in frozen]
    in_eval = [name for name, module in model.named_modules() if not module.training]
    if not in_eval or not prefixes:
        return None
    if not all(any(name.startswith(p) for p in prefixes) for name in in_eval):
        return None
    message = re.escape(EVAL_MODE.format(len(in_eval)))
    warnings.filterwarnings("ignore", message=message, category=PossibleUserWarning)
    return warnings.filters[0]


def forget_eval_modules(entry: tuple | None) -> None:
    """Remove the filter :func:`expect_eval_modules` added, once training has started."""
    if entry is None:
        return
    try:
        warnings.filters.remove(entry)
    except ValueError:
        return
    mutated = getattr(warnings, "_filters_mutated", None)  # invalidates the warning registries
    if mutated is not None:
        mutated()
