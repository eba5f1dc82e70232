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

import hashlib
import io
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.plugins import TorchCheckpointIO

from elmo_tasks.core.atomic import atomic_write_bytes
from elmo_tasks.core.disk import check_free_space
from elmo_tasks.core.errors import ElmoTasksError
from elmo_tasks.core.integrity import (
    check_finite,
    read_sidecar,
    remember,
    sidecar,
    verify,
    write_sidecar,
)

CHECKPOINT_FIX = (
    "free space there, or give the run a folder on a disk with room (hydra.run.dir=/path/with/room)"
)


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
    (``elmo_tasks.core.integrity``: a crash at any moment leaves a file that matches its sidecar)."""
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
    :class:`~elmo_tasks.core.integrity.IntegrityError` say what is wrong; ``skip`` names the flag
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
    except (OSError, RuntimeError, EOFError, ValueError, IndexError, KeyError, TypeError) as error:
        # random bytes reach torch's legacy unpickler, which fails in many ways (pop from empty list ...)
        raise CheckpointError(
            f"cannot read checkpoint {path}: {unreadable_reason(path, error)}"
        ) from None
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else {}
    check_finite(state if isinstance(state, dict) else {}, path)
    return checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint IO that writes local checkpoints atomically (temporary file in the
    same folder, fsync, rename) with a ``.sha256`` sidecar (:func:`save_with_sidecar`), and
    removes the sidecar with the checkpoint. Remote URLs (``s3://`` ...) are left to
    Lightning's fsspec writer. Loading is Lightning's (``torch.load``)."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None or not _is_local(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        save_with_sidecar(checkpoint, _local(path))

    def remove_checkpoint(self, path: Any) -> None:
        super().remove_checkpoint(path)
        if _is_local(path):
            sidecar(_local(path)).unlink(missing_ok=True)


def _local(path: Any) -> str:
    return str(path)[len("file://") :] if str(path).startswith("file://") else str(path)
