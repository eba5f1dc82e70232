"""Crash-safe files: written under a temporary name in the target's folder, flushed to disk,
then renamed over the target, so a crash at any moment leaves either the old file or the new
one at the target path, never a partial file that looks valid."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from elmo_tasks.core.disk import (
    DEFAULT_FIX,
    check_free_space,
    disk_full_error,
    is_disk_full,
)
from elmo_tasks.core.litter import process_tag


def _read_umask() -> int:
    mask = os.umask(0)  # the only portable way to read it; done once, at import
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # not possible on every platform / file system
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike,
    mode: str = "wb",
    fix: str = DEFAULT_FIX,
    needed: int | None = None,
    **kwargs: Any,
) -> Iterator[IO]:
    """``open(path, mode)`` for writing, made atomic: the data goes to a hidden temporary file
    beside ``path`` (``.NAME.HOST-PID.XXXXXXXX.tmp``), which replaces ``path`` (``os.replace``) only
    when the block ends without an exception, after an ``fsync``; on an exception the temporary
    file is removed and ``path`` is left as it was. A full disk raises one
    :class:`~elmo_tasks.core.disk.DiskFullError` naming ``path``, ``needed`` bytes (if known) and ``fix``."""
    if "w" not in mode:
        raise ValueError(f"atomic_open writes files; mode {mode!r} has no 'w'")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.{process_tag()}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if is_disk_full(error):
            raise disk_full_error(path, needed, fix, error) from None
        raise
    _fsync_dir(path.parent)


def atomic_write_text(
    path: str | os.PathLike, text: str, encoding: str = "utf-8", fix: str = DEFAULT_FIX
) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, "w", fix=fix, encoding=encoding) as handle:
        handle.write(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, fix: str = DEFAULT_FIX) -> None:
    """Write ``data`` to ``path`` atomically, after checking that the disk has room for it."""
    check_free_space(path, len(data), fix)
    with atomic_open(path, "wb", fix=fix, needed=len(data)) as handle:
        handle.write(data)
