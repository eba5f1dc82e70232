"""Crash-safe files: written under a temporary name in the target's folder, flushed to disk,
then renamed over the target, so a crash at any moment leaves either the old file or the new
one at the target path, never a partial file that looks valid.

Lightning's own ``TorchCheckpointIO`` serialises into memory and then, through an fsspec
transaction, writes a temporary file in the *system* temp folder and moves it to the target:
when that folder is on another file system (a tmpfs ``/tmp``, a cluster's local disk) the move
is a copy, which a crash can cut short at the target, and nothing is fsynced.
:class:`AtomicCheckpointIO` writes next to the target instead; ``train.py`` and
``python -m elmo_tasks.pretrain`` give it to their trainers.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import torch
from pytorch_lightning.plugins import TorchCheckpointIO


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
def atomic_open(path: str | os.PathLike, mode: str = "wb", **kwargs: Any) -> Iterator[IO]:
    """``open(path, mode)`` for writing, made atomic: the data goes to a hidden temporary file
    beside ``path``, which replaces ``path`` (``os.replace``) only when the block ends without an
    exception, after an ``fsync``; on an exception the temporary file is removed and ``path`` is
    left as it was."""
    if "w" not in mode:
        raise ValueError(f"atomic_open writes files; mode {mode!r} has no 'w'")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, "w", encoding=encoding) as handle:
        handle.write(text)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save(obj, path)``, atomically (see :func:`atomic_open`)."""
    with atomic_open(path, "wb") as handle:
        torch.save(obj, handle)


def _is_local(path: Any) -> bool:
    text = str(path)
    return "://" not in text or text.startswith("file://")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint IO that writes local checkpoints atomically (temporary file in the
    same folder, fsync, rename). Remote URLs (``s3://`` ...) are left to Lightning's fsspec
    writer. Loading is Lightning's (``torch.load``)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None or not _is_local(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        local = str(path)[len("file://"):] if str(path).startswith("file://") else path
        atomic_torch_save(checkpoint, local)
