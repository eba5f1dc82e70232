"""How the commands show an error the user can fix: the message alone, no traceback.

A full disk met anywhere in a run (``OSError`` ENOSPC, EDQUOT, EFBIG), even in a library's own
writer, and a permission error are reported the same way as an
:class:`~elmo_tasks.core.errors.ElmoTasksError`, naming the file; a config value whose
``${...}`` does not resolve too (exit status 2). The Hydra apps use :func:`readable_errors`,
the ``key=value`` tools :func:`user_error` (through ``elmo_tasks.cli.arguments``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from elmo_tasks.core.disk import disk_full_message, is_disk_full
from elmo_tasks.core.errors import ElmoTasksError

# The commands' exit statuses (docs/configuration.md#exit-statuses).
EXIT_ERROR = 1  # a problem the message explains: missing or damaged file, full disk, ...
EXIT_CONFIG = 2  # a config or usage mistake, found before any work
EXIT_DIVERGED = 3  # training diverged (a NaN or infinite loss or weight); results.json says so
EXIT_SIGTERM = (
    143  # stopped by SIGTERM (128 + 15) after saving last.ckpt: resume with ckpt_path=last
)


# Statuses of the jobs of this process's multirun that ended with an error of their own values
# (``job_only``: a diverged learning rate), while the sweep went on; see exit_for_ended_jobs.
_ENDED_JOBS: list[int] = []


@contextmanager
def readable_errors() -> Iterator[None]:
    """Around a Hydra task function: an error the user can fix (see :func:`user_error`) is
    printed as ``error: <message>`` on stderr and the process exits with its status (1, or 2
    for a config mistake), instead of Hydra's traceback. This holds for
    multiruns with Hydra's basic launcher too (the job runs in this process, and the same
    problem would stop every other job); with other launchers (joblib, submitit: the job runs
    in a worker) the message is printed and the error raised, so the launcher records it.
    An error of the job's own values (``job_only``, e.g. training diverged at this job's
    learning rate) ends only that job in such a multirun: the sweep goes on and the command
    exits with its status at the end (:func:`exit_for_ended_jobs`).
    ``HYDRA_FULL_ERROR=1`` keeps the full traceback, as Hydra does."""
    try:
        yield
    except Exception as error:
        shown = user_error(error)
        if shown is None:
            raise
        message, status = shown
        label = getattr(error, "label", "error")  # "stopped" for a run stopped by a signal
        print(f"{label}: {message}", file=sys.stderr, flush=True)
        if full_traceback_wanted() or not _job_in_this_process():
            raise
        if getattr(error, "job_only", False) and _in_multirun():
            _ENDED_JOBS.append(status)
            return  # this job returns None; the other jobs of the sweep run
        raise SystemExit(status) from None


def exit_for_ended_jobs() -> None:
    """After a multirun: exit with the status of the jobs that :func:`readable_errors` let end
    on their own (their messages were printed as they ended), if any."""
    if _ENDED_JOBS:
        count, status = len(_ENDED_JOBS), max(_ENDED_JOBS)
        _ENDED_JOBS.clear()
        print(
            f"error: {count} job{'s' if count > 1 else ''} of this multirun stopped (messages "
            "above, and their results.json); the other jobs ran to their end",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(status)


def full_traceback_wanted() -> bool:
    """``HYDRA_FULL_ERROR=1``: show the traceback of an error as well as its message."""
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


def user_error(error: BaseException) -> tuple[str, int] | None:
    """``(message, exit status)`` of an error the user can fix, None for any other (a bug,
    which keeps its traceback): an :class:`ElmoTasksError` (its ``exit_status``, default 1), a
    full disk or a permission error (1), a config value whose ``${...}`` does not resolve (2)."""
    if isinstance(error, ElmoTasksError):
        return str(error), getattr(error, "exit_status", 1)
    if isinstance(error, OSError):
        where = error.filename or "a file of this run"
        if is_disk_full(error):
            return disk_full_message(where, reason=error, partial_removed=False), 1
        if isinstance(error, PermissionError):
            return (
                f"permission denied on {where}: this user may not write (or read) it; change its permissions "
                "or give the config key that names it another path"
            ), 1
        return None
    from omegaconf.errors import GrammarParseError, InterpolationResolutionError

    if isinstance(error, (InterpolationResolutionError, GrammarParseError)):
        key = getattr(error, "full_key", None)
        what = str(getattr(error, "msg", None) or error).splitlines()[0]
        return (
            f"{key + ': ' if key else ''}the config value's ${{...}} cannot be resolved: {what}; write "
            "${other.key} for another config value, ${oc.env:NAME} for an environment variable, or give the "
            "value itself"
        ), 2
    return None


def _in_multirun() -> bool:
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    except Exception:  # noqa: BLE001 - no Hydra run config
        return False


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
