"""Temporary files left by killed processes: found by name, removed when their folder is next used.

Every temporary the project writes is hidden, beside its target, and names the process that
writes it: ``.NAME.PID.tmp`` (activation caches, embed files) or ``.NAME.PID.XXXXXXXX.tmp``
(:func:`elmo_tasks.checkpoint_io.atomic_open`). A process that is killed or runs out of disk
space mid-write leaves one behind; :func:`remove_stale_temporaries` removes those whose
process is no longer alive on this machine, or that have not changed for a day (a process id
reused since, or a process of another machine writing to a shared folder).
"""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path

log = logging.getLogger(__name__)

TEMPORARY = re.compile(r"^\..+\.(?P<pid>\d+)(?:\.[A-Za-z0-9_]+)?\.tmp$")
MAX_AGE_S = 24 * 3600.0


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def is_stale(path: Path, max_age_s: float = MAX_AGE_S, now: float | None = None) -> bool:
    """Whether ``path`` is a temporary of ours whose writer is dead or that is older than ``max_age_s``."""
    match = TEMPORARY.match(path.name)
    if match is None:
        return False
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except FileNotFoundError:
        return False
    return age > max_age_s or not pid_alive(int(match["pid"]))


def remove_stale_temporaries(folder: str | os.PathLike, max_age_s: float = MAX_AGE_S) -> list[Path]:
    """Remove the stale temporaries in ``folder`` (not below it); returns what was removed."""
    folder = Path(folder)
    removed = []
    try:
        candidates = [p for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]
    except OSError:  # no folder yet, or not readable: nothing to do here
        return removed
    for path in candidates:
        if is_stale(path, max_age_s):
            try:
                size = path.stat().st_size
                path.unlink()
            except OSError:
                continue
            removed.append(path)
            log.info("removed %s (%d bytes), left by a process that was killed or ran out of space", path, size)
    return removed
