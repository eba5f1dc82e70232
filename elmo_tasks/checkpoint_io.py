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
import hashlib
import io
import os
import pickle
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import torch
from pytorch_lightning.plugins import TorchCheckpointIO

from .disk import DEFAULT_FIX, check_free_space, disk_full_error, is_disk_full
from .errors import ElmoTasksError
from .integrity import (
    check_finite,
    read_sidecar,
    remember,
    sidecar,
    verify,
    write_sidecar,
)
from .litter import process_tag

CHECKPOINT_FIX = "free space there, or give the run a folder on a disk with room (hydra.run.dir=/path/with/room)"


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
def atomic_open(path: str | os.PathLike, mode: str = "wb", fix: str = DEFAULT_FIX, needed: int | None = None,
                **kwargs: Any) -> Iterator[IO]:
    """``open(path, mode)`` for writing, made atomic: the data goes to a hidden temporary file
    beside ``path`` (``.NAME.HOST-PID.XXXXXXXX.tmp``), which replaces ``path`` (``os.replace``) only
    when the block ends without an exception, after an ``fsync``; on an exception the temporary
    file is removed and ``path`` is left as it was. A full disk raises one
    :class:`~elmo_tasks.disk.DiskFullError` naming ``path``, ``needed`` bytes (if known) and ``fix``."""
    if "w" not in mode:
        raise ValueError(f"atomic_open writes files; mode {mode!r} has no 'w'")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{process_tag()}.", suffix=".tmp", dir=path.parent)
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


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8", fix: str = DEFAULT_FIX) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, "w", fix=fix, encoding=encoding) as handle:
        handle.write(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, fix: str = DEFAULT_FIX) -> None:
    """Write ``data`` to ``path`` atomically, after checking that the disk has room for it."""
    check_free_space(path, len(data), fix)
    with atomic_open(path, "wb", fix=fix, needed=len(data)) as handle:
        handle.write(data)


def atomic_torch_save(obj: Any, path: str | os.PathLike, fix: str = CHECKPOINT_FIX) -> None:
    """``torch.save(obj, path)``, atomically (see :func:`atomic_open`); serialised in memory
    first (as Lightning does), so a full disk is reported with the size needed."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue(), fix)


def _is_local(path: Any) -> bool:
    text = str(path)
    return "://" not in text or text.startswith("file://")


def save_with_sidecar(obj: Any, path: str | os.PathLike, fix: str = CHECKPOINT_FIX) -> str:
    """``torch.save`` ``obj`` to ``path`` atomically with its SHA-256 in ``path.sha256``
    (``elmo_tasks.integrity``: a crash at any moment leaves a file that matches its sidecar)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    path = Path(path)
    check_free_space(path, len(data), fix)
    previous = (read_sidecar(path) or [])[:1] if path.exists() else []
    write_sidecar(path, [digest, *previous])
    try:
        atomic_write_bytes(path, data, fix)
    except BaseException:
        if previous:  # the old file stays; so does its checksum alone
            write_sidecar(path, previous)
        elif not path.exists():
            sidecar(path).unlink(missing_ok=True)
        raise
    write_sidecar(path, [digest])
    remember(path, digest)
    return digest


class CheckpointError(ElmoTasksError, RuntimeError):
    """A checkpoint that cannot be read (empty, truncated, not a checkpoint, non-finite weights)."""


def unreadable_reason(path: Path, error: BaseException) -> str:
    """Why ``torch.load`` failed on ``path``, in words (torch's own message is often empty)."""
    try:
        size = path.stat().st_size
    except OSError as stat_error:
        return stat_error.strerror or str(stat_error)
    if size == 0:
        return "the file is empty (0 bytes): the process writing it was killed or ran out of disk space"
    if not zipfile.is_zipfile(path):
        return f"the file ({size} bytes) is truncated or is not a PyTorch checkpoint (no complete zip archive)"
    text = " ".join(str(error).split()) or type(error).__name__
    return f"the archive is damaged ({text[:200]})"


def load_checkpoint(path: str | os.PathLike, skip: str = "") -> dict:
    """A checkpoint, verified against its ``.sha256`` (when it has one), loaded with
    ``weights_only=True`` and checked for non-finite weights. :class:`CheckpointError` or
    :class:`~elmo_tasks.integrity.IntegrityError` say what is wrong; ``skip`` names the flag
    that skips the checksum, for the message."""
    path = Path(path)
    verify(path, "checkpoint", skip)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"{path} holds objects other than tensors and plain containers, which torch.load(weights_only=True) "
            f"refuses to unpickle: {str(error).splitlines()[0]}"
        ) from None
    except (OSError, RuntimeError, EOFError, ValueError) as error:
        raise CheckpointError(f"cannot read checkpoint {path}: {unreadable_reason(path, error)}") from None
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else {}
    check_finite(state if isinstance(state, dict) else {}, path)
    return checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint IO that writes local checkpoints atomically (temporary file in the
    same folder, fsync, rename) with a ``.sha256`` sidecar (:func:`save_with_sidecar`), and
    removes the sidecar with the checkpoint. Remote URLs (``s3://`` ...) are left to
    Lightning's fsspec writer. Loading is Lightning's (``torch.load``)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None or not _is_local(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        save_with_sidecar(checkpoint, _local(path))

    def remove_checkpoint(self, path: Any) -> None:
        super().remove_checkpoint(path)
        if _is_local(path):
            sidecar(_local(path)).unlink(missing_ok=True)


def _local(path: Any) -> str:
    return str(path)[len("file://"):] if str(path).startswith("file://") else str(path)
