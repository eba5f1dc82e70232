"""Each run's share of the cores: ``torch.set_num_threads`` from the ``threads`` key or the
launcher's job count.

torch starts one intra-op thread per core. Two runs at once on the same cores then run twice
as many busy threads as there are cores, and on small models each run becomes several times
slower (measured: 30 s instead of 4.8 s for two runs on 2 cores). So:

- ``threads=N`` sets N threads for this run;
- ``threads=null`` (the default) gives each run ``cores // k`` threads (at least 1), where k
  is the larger of the jobs Hydra's joblib launcher runs at once (``hydra.launcher.n_jobs``;
  -1: one per core) and the runs of this user training on this machine right now. A run
  registers in :func:`runs_folder` until its process ends (:func:`register_run`), and
  :class:`ThreadShare` counts the runs again at every epoch and every 100 batches, so a run
  started second takes half the cores and the first gives them up at its next count (and
  takes them back when the other ends). A single run keeps torch's default.
"""

from __future__ import annotations

import atexit
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from elmo_tasks.core.litter import pid_alive, process_tag

log = logging.getLogger(__name__)


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def launcher_jobs(cores: int | None = None) -> int:
    """How many jobs the Hydra launcher runs at once on this machine (1 outside a joblib multirun)."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
            return 1
        launcher = HydraConfig.get().launcher
        if not str(launcher.get("_target_", "")).endswith("JoblibLauncher"):
            return 1
        n_jobs = launcher.get("n_jobs")
    except Exception:  # noqa: BLE001 - no Hydra run config
        return 1
    cores = cores or available_cores()
    if n_jobs is None:
        return 1
    n_jobs = int(n_jobs)
    return cores if n_jobs < 0 else max(1, min(n_jobs, cores))


def threads_for(setting: Any, cores: int, jobs: int) -> int | None:
    """The thread count for a ``threads`` value: N as given, or ``cores // jobs`` when several
    jobs share the machine, or None (torch's default)."""
    if setting is not None:
        return int(setting)
    if jobs > 1:
        return max(1, cores // jobs)
    return None


def runs_folder() -> Path:
    """Where the runs of this user on this machine register while they train."""
    return (
        Path(tempfile.gettempdir())
        / f"elmo_tasks-runs-{os.getuid() if hasattr(os, 'getuid') else 0}"
    )


def live_runs(folder: Path | None = None) -> int:
    """How many registered runs are alive (entries of dead processes are removed)."""
    folder = folder or runs_folder()
    host = process_tag().rsplit("-", 1)[0]
    count = 0
    for entry in folder.glob(f"{host}-*") if folder.is_dir() else []:
        pid = entry.name.rsplit("-", 1)[1]
        if pid.isdigit() and pid_alive(int(pid)):
            count += 1
        else:
            entry.unlink(missing_ok=True)
    return count


_registered: set[Path] = set()
_torch_default: int | None = None


def register_run(folder: Path | None = None) -> None:
    """Count this process as a training run on this machine until it ends (idempotent; an
    entry of a killed process is dropped by the next count)."""
    entry = (folder or runs_folder()) / process_tag()
    if entry in _registered:
        return
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        entry.touch()
    except OSError:  # no writable temp folder: runs are not counted
        return
    _registered.add(entry)
    atexit.register(entry.unlink, missing_ok=True)


def _share(setting: Any, folder: Path | None) -> int | None:
    cores = available_cores()
    jobs = max(launcher_jobs(cores), live_runs(folder) if setting is None else 1)
    return threads_for(setting, cores, jobs) or _torch_default


def apply_threads(setting: Any, folder: Path | None = None) -> int:
    """Register this run and set torch's intra-op threads to its share (see the module
    docstring); returns the number in use."""
    import torch

    global _torch_default
    if _torch_default is None:
        _torch_default = torch.get_num_threads()
    register_run(folder)
    wanted = _share(setting, folder)
    if wanted is not None and wanted != torch.get_num_threads():
        torch.set_num_threads(wanted)
        log.info("using %d intra-op thread(s) of %d cores", wanted, available_cores())
    return torch.get_num_threads()


class ThreadShare(pl.Callback):
    """Counts the runs sharing the machine again at each epoch and every ``every_n_batches``
    batches, and sets this run's threads to its share (``threads=null`` only)."""

    def __init__(self, every_n_batches: int = 100, folder: Path | None = None) -> None:
        self.every_n_batches, self.folder = every_n_batches, folder

    def _rebalance(self) -> None:
        import torch

        wanted = _share(None, self.folder)
        if wanted is not None and wanted != torch.get_num_threads():
            torch.set_num_threads(wanted)
            log.info("the runs on this machine changed: now %d intra-op thread(s)", wanted)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._rebalance()

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if batch_idx and batch_idx % self.every_n_batches == 0:
            self._rebalance()
