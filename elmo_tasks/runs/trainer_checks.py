"""Types and ranges of the ``trainer`` keys that Lightning would only reject after the caches
are built (or with a bare AssertionError), declared as :class:`TrainerSchema` and checked by
the pre-flight step with the devices and, when asked for, CUDA."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from omegaconf import ListConfig

from elmo_tasks.core.checks import hydra_choice
from elmo_tasks.core.config_values import writable_folder
from elmo_tasks.core.errors import CudaUnavailableError
from elmo_tasks.core.schema import check_schema, choice, number, whole


@dataclass
class TrainerSchema:
    """Types and ranges of the ``trainer`` keys (Lightning's ``Trainer`` arguments) that
    Lightning would reject only after the caches are built, or with a bare AssertionError."""

    max_epochs: int | None = whole(minimum=-1, note=" (-1: no limit)")
    min_epochs: int | None = whole(minimum=0)
    max_steps: int | None = whole(minimum=-1, note=" (-1: no limit)")
    min_steps: int | None = whole(minimum=0)
    accumulate_grad_batches: int | None = whole(minimum=1)
    log_every_n_steps: int | None = whole(minimum=1)
    check_val_every_n_epoch: int | None = whole(minimum=1)
    num_sanity_val_steps: int | None = whole(minimum=-1, note=" (-1: all)")
    num_nodes: int | None = whole(minimum=1)
    gradient_clip_val: float | None = number(minimum=0.0, example="5.0")
    limit_train_batches: float | None = number(minimum=0.0, example="1.0")
    limit_val_batches: float | None = number(minimum=0.0, example="1.0")
    limit_test_batches: float | None = number(minimum=0.0, example="1.0")
    val_check_interval: float | None = number(minimum=0.0, example="1.0")
    enable_progress_bar: bool | None = choice()
    enable_checkpointing: bool | None = choice()


def check_devices(value: Any, key: str) -> str | None:
    """``devices``: ``auto``, -1, a positive count, a list of ids or a ``"0,1"`` string."""
    if value is None or value == "auto" or value == -1:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return (
            None
            if value >= 1
            else f"{key}={value}: must be a positive number of devices, -1 (all) or auto"
        )
    parts = (
        [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, str)
        else None
    )
    if parts and all(part.isdigit() for part in parts):
        return None
    if isinstance(value, (list, tuple, ListConfig)) and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value
    ):
        return None
    return f"{key}={value!r}: must be a number of devices (e.g. {key}=1), -1 for all, a list of ids or auto"


def check_trainer_values(trainer: Mapping[str, Any], key: str = "trainer") -> list[str]:
    """Problems with the values of a ``trainer`` config (an empty list when there is none)."""
    problems: list[str | None] = list(check_schema(trainer, TrainerSchema, key))
    if "devices" in trainer:
        problems.append(check_devices(trainer.get("devices"), f"{key}.devices"))
    if trainer.get("default_root_dir"):
        problems.append(writable_folder(trainer.get("default_root_dir"), f"{key}.default_root_dir"))
    return [p for p in problems if p]


def cuda_problem(
    trainer: Mapping[str, Any], key: str = "trainer", command: str = "python train.py"
) -> CudaUnavailableError | None:
    """A :class:`CudaUnavailableError` when ``accelerator`` is gpu/cuda and CUDA is not usable,
    or when more CUDA devices are asked for than are visible."""
    accelerator = str(trainer.get("accelerator") or "auto").lower()
    if accelerator not in ("gpu", "cuda"):
        return None
    import torch

    devices = trainer.get("devices")
    choice = hydra_choice("trainer")
    requested = f"{key}.accelerator={accelerator}" + (f", trainer={choice}" if choice else "")
    ddp = "ddp" in str(trainer.get("strategy") or "")
    if ddp:
        cpu_fix = "trainer.accelerator=cpu (DDP over CPU processes, with gloo)"
    else:
        cpu_fix = "trainer=cpu (or trainer.accelerator=cpu)"
    if not torch.cuda.is_available():
        if torch.version.cuda is None:
            why = f"this torch build ({torch.__version__}) has no CUDA support"
        else:
            visible = os.environ.get("CUDA_VISIBLE_DEVICES")
            why = (
                f"torch {torch.__version__} (CUDA {torch.version.cuda}) finds no usable NVIDIA GPU or driver"
                + (f" (CUDA_VISIBLE_DEVICES={visible!r})" if visible is not None else "")
            )
        return CudaUnavailableError(
            f"CUDA was requested ({requested}) but torch.cuda.is_available() is False: {why}.\n"
            f"Run on the CPU instead: {command} ... {cpu_fix}; on a machine with an NVIDIA GPU, "
            "install a CUDA build of torch (https://pytorch.org/get-started/locally/)."
        )
    wanted = _devices_needed(devices)
    available = torch.cuda.device_count()
    if wanted is not None and wanted > available:
        return CudaUnavailableError(
            f"{key}.devices={devices} asks for {wanted} CUDA devices but only {available} "
            f"{'is' if available == 1 else 'are'} visible: set {key}.devices={available} (or -1 for all)."
        )
    return None


def _devices_needed(devices: Any) -> int | None:
    """How many CUDA devices must be visible for ``devices`` (the highest id + 1 for a list of
    ids), None when any number will do; not the count of devices used (see ``core.sweeps``)."""
    if isinstance(devices, bool) or devices is None:
        return None
    if isinstance(devices, int):
        return devices if devices > 0 else None
    if isinstance(devices, (list, tuple, ListConfig)):
        return max(int(d) for d in devices) + 1 if len(devices) else None
    if isinstance(devices, str) and devices.strip().isdigit():
        return int(devices)
    if isinstance(devices, str) and "," in devices:
        ids = [int(d) for d in devices.split(",") if d.strip().isdigit()]
        return max(ids) + 1 if ids else None
    return None
