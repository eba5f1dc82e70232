"""Each run's torch intra-op threads, fixed by its config: ``torch.set_num_threads`` from the
``threads`` key or the launcher's job count, set once when the run starts.

A run's numbers depend on its thread count: float32 sums split over another number of threads
round differently (a quickstart run gave test accuracy 0.898 on one thread and 0.894 on two).
So the count is decided from the config alone and never changes during the run:

- ``threads=N`` sets N threads for this run;
- ``threads=null`` (the default) gives each job ``cores // n_jobs`` threads (at least 1) when
  Hydra's joblib launcher runs ``n_jobs`` at once (``hydra.launcher.n_jobs``; -1: one per
  core), and torch's default otherwise (one per physical core, or ``$OMP_NUM_THREADS``);
- ``threads=adaptive`` (opt-in, for speed on a shared machine, at the cost of results that
  depend on the machine's load) takes ``cores // k`` where k also counts the runs of this
  user training on this machine right now, and :class:`ThreadShare` counts them again at
  every epoch and every 100 batches, so a run started second takes half the cores and the
  first gives them up at its next count. Its results.json says ``"threads_adaptive": true``.

Every run registers in :func:`runs_folder` until its process ends (:func:`register_run`), so
that adaptive runs see the fixed ones too.

Why not more threads: torch starts one intra-op thread per core, so two runs at once on the
same cores run twice as many busy threads as there are cores, and small models become
several times slower (measured: 30 s instead of 4.8 s for two runs on 2 cores); small
models rarely gain from more than one thread (``threads: 1`` in the quickstart).
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


ADAPTIVE = "adaptive"


def is_adaptive(setting: Any) -> bool:
    """Whether ``threads`` asks for load-adaptive threads (``threads=adaptive``)."""
    return isinstance(setting, str) and setting.strip().lower() == ADAPTIVE


def threads_for(setting: Any, cores: int, jobs: int) -> int | None:
    """The thread count for a ``threads`` value: N as given, or ``cores // jobs`` when several
    jobs share the machine, or None (torch's default)."""
    if setting is not None and not is_adaptive(setting):
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
    jobs = max(launcher_jobs(cores), live_runs(folder) if is_adaptive(setting) else 1)
    return threads_for(setting, cores, jobs) or _torch_default


def apply_threads(setting: Any, folder: Path | None = None) -> int:
    """Register this run and set torch's intra-op threads for it (see the module docstring):
    from the config alone unless ``setting`` is ``adaptive``; returns the number in use."""
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
    batches, and sets this run's threads to its share (``threads=adaptive`` only)."""

    def __init__(self, every_n_batches: int = 100, folder: Path | None = None) -> None:
        self.every_n_batches, self.folder = every_n_batches, folder

    def _rebalance(self) -> None:
        import torch

        wanted = _share(ADAPTIVE, self.folder)
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
