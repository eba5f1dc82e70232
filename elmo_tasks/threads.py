"""Each run's share of the cores: ``torch.set_num_threads`` from the ``threads`` key or the
launcher's job count.

torch starts one intra-op thread per core. Two runs at once on the same cores then run twice
as many busy threads as there are cores, and on small models each run becomes several times
slower (measured: 30 s instead of 4.8 s for two runs on 2 cores). So:

- ``threads=N`` sets N threads for this run (give each of k commands started together
  ``threads=<cores / k>``);
- ``threads=null`` (the default) keeps torch's default for a single run, and under Hydra's
  joblib launcher (``hydra/launcher=joblib``) gives each job ``cores // n_jobs`` threads
  (at least 1; ``n_jobs=-1`` means one job per core).
"""

from __future__ import annotations

import logging
import os
from typing import Any

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


def apply_threads(setting: Any) -> int:
    """Set torch's intra-op threads for this run; returns the number in use."""
    import torch

    cores = available_cores()
    wanted = threads_for(setting, cores, launcher_jobs(cores))
    if wanted is not None and wanted != torch.get_num_threads():
        torch.set_num_threads(wanted)
        log.info("using %d intra-op thread(s) of %d cores", wanted, cores)
    return torch.get_num_threads()
