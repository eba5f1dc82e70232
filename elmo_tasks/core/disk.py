"""Full disks: one message that names the file, the space it needed and the fix, and hdf5
writes that fail cleanly.

A write that runs out of space raises ``OSError`` with ``ENOSPC`` (no space left), ``EDQUOT``
(quota) or ``EFBIG`` (file size limit); :func:`is_disk_full` recognises them, and
:func:`disk_full_error` turns one into a :class:`DiskFullError` whose message says what to do.

HDF5 does not survive a failing disk: it reports a failed write only when an object is freed
("Exception ignored" by the hundred) and then crashes the process. :func:`hdf5_writer` gives
h5py a file object that records the first failed write and drops the later ones, so HDF5 sees
a healthy disk; the caller checks :meth:`GuardedFile.check` and removes the partial file.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from elmo_tasks.core.errors import ElmoTasksError

NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
# HDF5 puts the errno of a failed write into its message, not into OSError.errno.
_HDF5_NO_SPACE = tuple(f"errno = {code}," for code in NO_SPACE_ERRNOS)
DEFAULT_FIX = "free space on that disk, or write to another one"


class DiskFullError(ElmoTasksError, OSError):
    """A file could not be written for lack of space (its partial copy was removed)."""


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` says that the disk, a quota or the file size limit is full."""
    if not isinstance(error, OSError):
        return False
    if error.errno in NO_SPACE_ERRNOS:
        return True
    text = str(error)
    return any(marker in text for marker in _HDF5_NO_SPACE) or "No space left" in text


def human_bytes(n: float) -> str:
    """``1536`` -> ``1.5 KB``."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def disk_full_message(
    path: str | os.PathLike,
    needed: int | None = None,
    fix: str = DEFAULT_FIX,
    reason: BaseException | str | None = None,
    partial_removed: bool = True,
) -> str:
    """``no space left to write PATH (needs N, M free on that disk): FIX``."""
    path = Path(path)
    facts = []
    if needed is not None:
        facts.append(f"needs about {human_bytes(needed)}")
    free = _free_bytes(path.parent if path.parent.exists() else Path.cwd())
    if free is not None:
        facts.append(f"{human_bytes(free)} free on that disk")
    if reason is not None:
        why = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
        facts.append(str(why).split("\n")[0][:120])
    detail = f" ({'; '.join(facts)})" if facts else ""
    kept = "; nothing partial was kept" if partial_removed else ""
    return f"no space left to write {path}{detail}{kept}. To fix it: {fix}."


def disk_full_error(
    path: str | os.PathLike,
    needed: int | None = None,
    fix: str = DEFAULT_FIX,
    reason: BaseException | str | None = None,
) -> DiskFullError:
    """The :class:`DiskFullError` to raise for ``path``."""
    return DiskFullError(disk_full_message(path, needed, fix, reason))


def check_free_space(path: str | os.PathLike, needed: int, fix: str = DEFAULT_FIX) -> None:
    """:class:`DiskFullError` before writing ``needed`` bytes to ``path`` when the disk has less free."""
    free = _free_bytes(Path(path).parent)
    if free is not None and needed > free:
        raise disk_full_error(path, needed, fix)


class GuardedFile(io.RawIOBase):
    """A binary file for h5py's ``fileobj`` driver that keeps the first failed write (or
    truncate, flush) in :attr:`error` and silently drops every later write."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.raw = open(path, "w+b", buffering=0)  # noqa: SIM115 - closed in close()
        self.error: OSError | None = None

    def _guarded(self, call, *args, default=None):
        if self.error is not None:
            return default
        try:
            return call(*args)
        except OSError as error:
            self.error = error
            return default

    def write(self, data) -> int:  # type: ignore[override]
        size = memoryview(data).nbytes
        written = self._guarded(self.raw.write, data, default=size)
        return size if written is None else written

    def readinto(self, buffer) -> int:  # type: ignore[override]
        return self.raw.readinto(buffer)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def truncate(self, size: int | None = None) -> int:
        result = self._guarded(self.raw.truncate, size)
        return size if result is None else result

    def flush(self) -> None:
        self._guarded(self.raw.flush)

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        if self.closed:
            return
        super().close()  # flushes
        self._guarded(os.fsync, self.raw.fileno())
        self.raw.close()

    def check(self) -> None:
        """Raise the recorded write error, if any."""
        if self.error is not None:
            raise self.error


@contextlib.contextmanager
def hdf5_writer(
    tmp: str | os.PathLike,
    target: str | os.PathLike,
    needed: int | None = None,
    fix: str = DEFAULT_FIX,
) -> Iterator[tuple[object, GuardedFile]]:
    """``(h5py.File, guard)`` writing ``tmp``. When the block or a write fails, ``tmp`` is
    removed; a full disk becomes one :class:`DiskFullError` about ``target``. The caller calls
    ``guard.check()`` inside long loops to stop at the first failed write."""
    import h5py

    tmp = Path(tmp)
    guard = GuardedFile(tmp)
    try:
        try:
            with h5py.File(guard, "w") as handle:
                yield handle, guard
        finally:
            guard.close()
        guard.check()
    except BaseException as error:
        with contextlib.suppress(OSError):
            tmp.unlink()
        cause = (
            guard.error or error
        )  # HDF5 trips over the writes that were dropped: report the first failure
        if is_disk_full(cause):
            raise disk_full_error(target, needed, fix, cause) from None
        if guard.error is not None and isinstance(error, OSError):
            raise guard.error from None
        raise
