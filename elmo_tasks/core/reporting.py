"""How the commands show an error the user can fix: the message alone, no traceback.

A full disk met anywhere in a run (``OSError`` ENOSPC, EDQUOT, EFBIG), even in a library's own
writer, and a permission error are reported the same way as an
:class:`~elmo_tasks.core.errors.ElmoTasksError`, naming the file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from elmo_tasks.core.disk import disk_full_message, is_disk_full
from elmo_tasks.core.errors import ElmoTasksError


@contextmanager
def readable_errors() -> Iterator[None]:
    """Around a Hydra task function: an :class:`ElmoTasksError` is printed as ``error: <message>``
    on stderr and the process exits with status 1, instead of Hydra's traceback. This holds for
    multiruns with Hydra's basic launcher too (the job runs in this process, and the same
    problem would stop every other job); with other launchers (joblib, submitit: the job runs
    in a worker) the message is printed and the error raised, so the launcher records it.
    ``HYDRA_FULL_ERROR=1`` keeps the full traceback, as Hydra does."""
    try:
        yield
    except ElmoTasksError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        if os.environ.get("HYDRA_FULL_ERROR") == "1" or not _job_in_this_process():
            raise
        raise SystemExit(getattr(error, "exit_status", 1)) from None
    except OSError as error:
        where = error.filename or "a file of this run"
        if is_disk_full(error):
            message = disk_full_message(where, reason=error, partial_removed=False)
        elif isinstance(error, PermissionError):
            message = (f"permission denied on {where}: this user may not write (or read) it; change its permissions "
                       "or give the config key that names it another path")
        else:
            raise
        print(f"error: {message}", file=sys.stderr, flush=True)
        if os.environ.get("HYDRA_FULL_ERROR") == "1" or not _job_in_this_process():
            raise
        raise SystemExit(1) from None


def _job_in_this_process() -> bool:
    """True outside Hydra, in a single run, and in a multirun with the basic launcher."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
            return True
        return str(HydraConfig.get().launcher.get("_target_", "")).endswith("BasicLauncher")
    except Exception:  # noqa: BLE001 - no Hydra run config
        return True
