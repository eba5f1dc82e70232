"""Temporary files left by killed processes: found by name, removed when their folder is next used.

Every temporary the project writes is hidden, beside its target, and names the machine and
the process that write it (:func:`temporary_name`): ``.NAME.HOST-PID.tmp`` (activation caches,
embed files, exports) or ``.NAME.HOST-PID.XXXXXXXX.tmp``
(:func:`elmo_tasks.core.atomic.atomic_open`). A process that is killed or runs out of disk
space mid-write leaves one behind; :func:`remove_stale_temporaries` removes those of this
machine whose process is no longer alive, and any that has not changed for a day (a process
id reused since, or a temporary of another machine: a cache folder shared by the nodes of a
cluster is never swept of a build that is still running elsewhere).
"""

from __future__ import annotations

import logging
import os
import re
import socket
import time
from pathlib import Path

log = logging.getLogger(__name__)

TEMPORARY = re.compile(
    r"^\..+?\.(?:(?P<host>[A-Za-z0-9_-]+)-)?(?P<pid>\d+)(?:\.[A-Za-z0-9_]{8})?\.tmp$"
)
MAX_AGE_S = 24 * 3600.0


def host_tag() -> str:
    """This machine's name as it appears in temporary names (letters, digits, ``_``, ``-``)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname().split(".")[0]) or "host"


def process_tag() -> str:
    """``HOST-PID`` of this process."""
    return f"{host_tag()}-{os.getpid()}"


def temporary_name(target: str | os.PathLike) -> Path:
    """``.NAME.HOST-PID.tmp`` beside ``target``."""
    target = Path(target)
    return target.with_name(f".{target.name}.{process_tag()}.tmp")


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
    if age > max_age_s:
        return True
    on_this_machine = match["host"] in (
        None,
        host_tag(),
    )  # no host: written by an older version, here
    return on_this_machine and not pid_alive(int(match["pid"]))


def remove_stale_temporaries(folder: str | os.PathLike, max_age_s: float = MAX_AGE_S) -> list[Path]:
    """Remove the stale temporaries in ``folder`` (not below it); returns what was removed."""
    folder = Path(folder)
    removed = []
    try:
        candidates = [
            p for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")
        ]
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
            log.info(
                "removed %s (%d bytes), left by a process that was killed or ran out of space",
                path,
                size,
            )
    return removed
