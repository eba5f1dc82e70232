"""Guards for running experiments inside Hydra sweeps (``python train.py -m ...``).

Lightning starts DDP ranks 1..N-1 by re-running the command line of rank 0. In a Hydra
multirun that command line is the whole sweep, so every rank would start the sweep again.
"""

from __future__ import annotations

from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, ListConfig

from elmo_tasks.core.docs import doc

# Strategies whose extra ranks Lightning launches as new processes of the same script.
MULTIPROCESS_STRATEGIES = ("ddp", "fsdp", "deepspeed")
# With this launcher SLURM starts one process per rank and Lightning launches none.
SLURM_LAUNCHER_SUFFIX = "SlurmLauncher"


class DdpMultirunError(RuntimeError):
    """A multi-device DDP trainer inside a Hydra multirun that would re-run the sweep."""


def _hydra_settings(cfg: DictConfig) -> tuple[str | None, str | None]:
    """(run mode name, launcher ``_target_``) of the running Hydra job, else of ``cfg.hydra``
    (a config composed with ``return_hydra_config=True``); ``(None, None)`` without either."""
    if HydraConfig.initialized():
        hydra_cfg: Any = HydraConfig.get()
    else:
        hydra_cfg = cfg.get("hydra")
    if hydra_cfg is None:
        return None, None
    mode = hydra_cfg.get("mode")
    launcher = hydra_cfg.get("launcher") or {}
    return getattr(mode, "name", mode), launcher.get("_target_")


def _strategy_name(strategy: Any) -> str:
    """The lower-case name of a Trainer ``strategy`` given as a string or as a ``_target_`` node."""
    if isinstance(strategy, (dict, DictConfig)):
        strategy = strategy.get("_target_", "")
    return str(strategy or "").rsplit(".", 1)[-1].lower()


def _device_count(devices: Any) -> int | None:
    """How many devices a Trainer ``devices`` value asks for; ``None`` for "all"/"auto"."""
    if isinstance(devices, (list, tuple, ListConfig)):
        return len(devices)
    if isinstance(devices, str):
        text = devices.strip()
        if "," in text:
            return len([part for part in text.split(",") if part.strip()])
        if text.lstrip("-").isdigit():
            devices = int(text)
        else:
            return None
    if isinstance(devices, int):
        return None if devices < 0 else devices
    return None


def uses_several_ranks(trainer_cfg: DictConfig) -> bool:
    """Whether ``cfg.trainer`` starts more than one DDP-like process ("auto" or -1 devices count
    as possibly several)."""
    strategy = _strategy_name(trainer_cfg.get("strategy"))
    if not any(name in strategy for name in MULTIPROCESS_STRATEGIES):
        return False
    devices = _device_count(trainer_cfg.get("devices", "auto"))
    nodes = int(trainer_cfg.get("num_nodes", 1) or 1)
    return devices is None or devices * nodes > 1


def check_not_ddp_multirun(cfg: DictConfig) -> None:
    """Raise :class:`DdpMultirunError` when a Hydra multirun would train with several DDP ranks
    launched by Lightning; SLURM jobs of the submitit launcher are fine (SLURM starts the ranks)."""
    mode, launcher = _hydra_settings(cfg)
    if mode != "MULTIRUN" or not uses_several_ranks(cfg.trainer):
        return
    if launcher and launcher.endswith(SLURM_LAUNCHER_SUFFIX):
        return
    raise DdpMultirunError(
        f"trainer.strategy={cfg.trainer.get('strategy')} with trainer.devices={cfg.trainer.get('devices')} "
        "cannot run inside a Hydra multirun (-m): each DDP rank would re-run the sweep; run DDP jobs "
        "one at a time or use the submitit launcher with one task per job "
        "(hydra/launcher=submitit_slurm: each run is its own SLURM job, and with "
        "hydra.launcher.tasks_per_node equal to trainer.devices SLURM starts the ranks). See "
        f"{doc('sweeps.md', 'DDP and multirun')}."
    )
