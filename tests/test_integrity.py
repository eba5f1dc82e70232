"""SHA-256 sidecars written with checkpoints, exports and embed files, verified before use;
non-finite weights refused; preset files verified in every command."""

from __future__ import annotations

import os
import shutil

import h5py
import numpy as np
import pytest
import torch

from elmo_tasks.core import integrity
from elmo_tasks.core.checkpoint_io import (
    AtomicCheckpointIO,
    CheckpointError,
    load_checkpoint,
    save_with_sidecar,
)
from elmo_tasks.core.integrity import (
    IntegrityError,
    file_sha256,
    read_sidecar,
    replace_with_sidecar,
    verify,
)
from elmo_tasks.elmo import ElmoBiLm, hub
from elmo_tasks.elmo.weights import ElmoWeightsError, save_elmo


@pytest.fixture(autouse=True)
def _verification_on():
    integrity.set_verification(True)
    yield
    integrity.set_verification(True)


def test_checkpoint_sidecar_is_sha256sum_format_and_checked(tmp_path):
    path = tmp_path / "best.ckpt"
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(3)}}, path)
    line = (tmp_path / "best.ckpt.sha256").read_text()
    assert line == f"{file_sha256(path)}  best.ckpt\n"  # `sha256sum -c best.ckpt.sha256` reads it
    assert verify(path)
    assert load_checkpoint(path)["state_dict"]["w"].tolist() == [1.0, 1.0, 1.0]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(
        IntegrityError,
        match=r"checkpoint .*best\.ckpt does not match the SHA-256 recorded in .*"
        r"best\.ckpt\.sha256 .*damaged or changed since.*FLAG skips",
    ):
        load_checkpoint(path, skip="FLAG")
    integrity.set_verification(False)
    assert not verify(path)  # the flag for files changed on purpose


def test_removing_a_checkpoint_removes_its_sidecar(tmp_path):
    io = AtomicCheckpointIO()
    path = tmp_path / "epoch=1.ckpt"
    io.save_checkpoint({"w": torch.ones(1)}, path)
    io.remove_checkpoint(path)
    assert list(tmp_path.iterdir()) == []


def test_a_crash_between_the_steps_of_a_replacement_leaves_a_matching_file(tmp_path, monkeypatch):
    path = tmp_path / "weights.hdf5"
    first = tmp_path / ".first.tmp"
    first.write_bytes(b"old weights")
    replace_with_sidecar(first, path)
    second = tmp_path / ".second.tmp"
    second.write_bytes(b"new weights")

    real_replace, calls = os.replace, []

    def killed_at_the_second_rename(*args):
        calls.append(args)
        if len(calls) == 2:  # 1: the sidecar listing both digests, 2: the file itself
            raise KeyboardInterrupt  # the process dies before the file is renamed
        return real_replace(*args)

    monkeypatch.setattr(os, "replace", killed_at_the_second_rename)
    with pytest.raises(KeyboardInterrupt):
        replace_with_sidecar(second, path)
    monkeypatch.undo()
    assert path.read_bytes() == b"old weights" and verify(
        path
    )  # the sidecar lists the new and the old digest
    assert len(read_sidecar(path)) == 2
    replace_with_sidecar(second, path)
    assert read_sidecar(path) == [file_sha256(path)] and path.read_bytes() == b"new weights"


def test_unreadable_checkpoints_say_why(tmp_path):
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    with pytest.raises(
        CheckpointError,
        match=r"cannot read checkpoint .*empty\.ckpt: the file is empty \(0 bytes\)",
    ):
        load_checkpoint(empty)
    full = tmp_path / "full.ckpt"
    torch.save({"state_dict": {"w": torch.ones(100)}}, full)
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(full.read_bytes()[:300])
    with pytest.raises(
        CheckpointError,
        match=r"truncated.ckpt: the file \(300 bytes\) is truncated or is not a PyTorch",
    ):
        load_checkpoint(truncated)
    nan = tmp_path / "nan.ckpt"
    torch.save(
        {"state_dict": {"head.w": torch.tensor([1.0, float("nan")]), "step": torch.tensor(3)}}, nan
    )
    with pytest.raises(
        IntegrityError, match=r"nan\.ckpt: weights hold NaN or infinite values \(head\.w\)"
    ):
        load_checkpoint(nan)


def test_exported_weights_carry_checksums_and_are_verified_when_loaded(tiny_elmo_files, tmp_path):
    bilm = ElmoBiLm(tiny_elmo_files.options_file, tiny_elmo_files.weight_file)
    export = tmp_path / "export"
    save_elmo(bilm, export / "options.json", export / "weights.hdf5")
    for name in ("options.json", "weights.hdf5"):
        assert read_sidecar(export / name) == [file_sha256(export / name)]
    assert sorted(p.name for p in export.iterdir()) == [
        "options.json",
        "options.json.sha256",
        "weights.hdf5",
        "weights.hdf5.sha256",
    ]
    ElmoBiLm(export / "options.json", export / "weights.hdf5")  # verified, loads
    with h5py.File(export / "weights.hdf5", "r+") as handle:  # a change the checksum catches
        handle["char_embed"][0, 0] = 1e4
    with pytest.raises(
        IntegrityError, match=r"ELMo weights file .*weights\.hdf5 does not match.*verify=false"
    ) as refused:
        ElmoBiLm(export / "options.json", export / "weights.hdf5")
    assert "--no-verify" not in str(refused.value)  # no command takes that spelling


def test_non_finite_weights_are_refused_naming_the_dataset(tiny_elmo_files, tmp_path):
    weights = tmp_path / "weights.hdf5"
    shutil.copy(tiny_elmo_files.weight_file, weights)
    with h5py.File(weights, "r+") as handle:
        handle["char_embed"][3, 1] = np.inf
    with pytest.raises(
        ElmoWeightsError, match=r"weights\.hdf5: dataset 'char_embed' holds NaN or infinite values"
    ):
        ElmoBiLm(tiny_elmo_files.options_file, weights)


def test_the_packaged_preset_is_verified_in_every_command(tmp_path, monkeypatch):
    copy = tmp_path / "elmo_mini"
    shutil.copytree(hub.PACKAGED["mini"], copy)
    monkeypatch.setitem(hub.PACKAGED, "mini", copy)
    assert hub.resolve("mini", "weights") == copy / "weights.hdf5"
    data = bytearray((copy / "weights.hdf5").read_bytes())
    for index in range(len(data) // 2, len(data) // 2 + 256):
        data[index] ^= 0xFF
    (copy / "weights.hdf5").write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"elmo_mini/weights\.hdf5 does not match"):
        hub.resolve("mini", "weights")


def test_the_package_ships_checksums_of_mini():
    for name in ("options.json", "weights.hdf5"):
        assert verify(hub.PACKAGED["mini"] / name)


def test_save_with_sidecar_replaces_the_checksum(tmp_path):
    path = tmp_path / "last.ckpt"
    save_with_sidecar({"w": torch.ones(1)}, path)
    save_with_sidecar({"w": torch.zeros(1)}, path)
    assert read_sidecar(path) == [file_sha256(path)]
