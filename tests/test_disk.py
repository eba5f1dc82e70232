"""Full disks: one message naming the file, the space needed and the fix; no partial file;
hdf5 writes that fail cleanly instead of crashing the process."""

from __future__ import annotations

import errno
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest

from elmo_tasks.core import disk
from elmo_tasks.core.atomic import atomic_open, atomic_write_text
from elmo_tasks.core.checkpoint_io import save_with_sidecar
from elmo_tasks.core.disk import (
    DiskFullError,
    check_free_space,
    hdf5_writer,
    is_disk_full,
)
from elmo_tasks.core.reporting import readable_errors


def test_no_space_errors_are_recognised_also_inside_hdf5_messages():
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(OSError(errno.EFBIG, "File too large"))
    assert is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert is_disk_full(
        OSError("Can't write data (file write failed: ..., errno = 28, error message = 'No space')")
    )
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not is_disk_full(ValueError("No space left"))


def _write_hdf5_under_a_size_limit(tmp: str, target: str, queue) -> None:
    from tests.crash import limit_file_size

    limit_file_size(100_000)
    try:
        with hdf5_writer(tmp, target, needed=1_000_000, fix="FIX") as (handle, guard):
            for index in range(200):
                guard.check()
                handle.create_dataset(
                    str(index), data=np.ones((3, 50, 32), dtype=np.float32), fletcher32=True
                )
        queue.put(("no error", ""))
    except DiskFullError as error:
        queue.put(("DiskFullError", str(error)))
    except BaseException as error:  # noqa: BLE001 - reported to the test
        queue.put((type(error).__name__, str(error)))


def test_hdf5_write_on_a_full_disk_is_one_error_and_no_file(tmp_path):
    """Without the guard HDF5 prints hundreds of 'Exception ignored' and the process segfaults."""
    tmp, target = tmp_path / ".cache.h5.1.tmp", tmp_path / "cache.h5"
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(
        target=_write_hdf5_under_a_size_limit, args=(str(tmp), str(target), queue)
    )
    child.start()
    child.join(120)
    assert child.exitcode == 0, "the writer must not crash"
    kind, message = queue.get(timeout=5)
    assert kind == "DiskFullError"
    assert message.startswith(f"no space left to write {target} (needs about 976.6 KB;")
    assert "File too large" in message and message.endswith("To fix it: FIX.")
    assert not tmp.exists() and not target.exists()


def test_atomic_write_on_a_full_disk_keeps_the_old_file_and_says_why(tmp_path, monkeypatch):
    target = tmp_path / "results.json"
    atomic_write_text(target, "old\n")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(
        DiskFullError,
        match=rf"no space left to write {target} .*No space left on device.*To fix it: X",
    ):
        atomic_write_text(target, "new\n", fix="X")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_checkpoint_larger_than_the_free_space_is_refused_before_writing(tmp_path, monkeypatch):
    import torch

    target = tmp_path / "last.ckpt"
    save_with_sidecar({"w": torch.ones(3)}, target)
    before = target.read_bytes(), (tmp_path / "last.ckpt.sha256").read_bytes()
    monkeypatch.setattr(disk, "_free_bytes", lambda folder: 100)
    with pytest.raises(
        DiskFullError,
        match=r"last\.ckpt \(needs about 1\.\d KB; 100 B free on that disk\).*hydra\.run\.dir=",
    ):
        save_with_sidecar({"w": torch.zeros(3)}, target)
    assert (target.read_bytes(), (tmp_path / "last.ckpt.sha256").read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt", "last.ckpt.sha256"]


def test_failed_checkpoint_write_restores_the_old_checksum(tmp_path, monkeypatch):
    import torch

    from elmo_tasks.core import checkpoint_io
    from elmo_tasks.core.integrity import file_sha256, read_sidecar

    target = tmp_path / "best.ckpt"
    save_with_sidecar({"w": torch.ones(3)}, target)

    def full(path, data, fix):
        raise disk.disk_full_error(path, len(data), fix)

    monkeypatch.setattr(checkpoint_io, "atomic_write_bytes", full)
    with pytest.raises(DiskFullError):
        save_with_sidecar({"w": torch.zeros(3)}, target)
    assert read_sidecar(target) == [file_sha256(target)]


def test_check_free_space_passes_when_there_is_room(tmp_path):
    check_free_space(tmp_path / "x", 1)


def test_readable_errors_turn_a_library_full_disk_into_one_message(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info, readable_errors():
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "metrics.csv"))
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: no space left to write {tmp_path / 'metrics.csv'} (")
    assert "To fix it: free space on that disk, or write to another one." in err


def test_atomic_open_names_its_machine_and_process_in_the_temporary(tmp_path):
    from elmo_tasks.core.litter import process_tag

    with atomic_open(tmp_path / "x.txt", "w") as handle:
        seen = [p.name for p in Path(tmp_path).iterdir()]
        handle.write("x")
    assert (
        len(seen) == 1
        and seen[0].startswith(f".x.txt.{process_tag()}.")
        and seen[0].endswith(".tmp")
    )


def test_readable_errors_name_the_file_of_a_permission_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info, readable_errors():
        raise PermissionError(13, "Permission denied", str(tmp_path / "metrics.csv"))
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.startswith(
        f"error: permission denied on {tmp_path / 'metrics.csv'}: "
    )
    with (
        pytest.raises(FileNotFoundError),
        readable_errors(),
    ):  # other OS errors are not this module's to explain
        raise FileNotFoundError(2, "No such file")
