"""Temporaries of dead processes (or older than a day) are removed when their folder is next used."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from elmo_tasks.core.litter import (
    host_tag,
    is_stale,
    pid_alive,
    process_tag,
    remove_stale_temporaries,
    temporary_name,
)
from elmo_tasks.elmo import ElmoBiLm
from elmo_tasks.encoders.elmo_cache import ensure_cache, file_checksum


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_dead_writers_and_day_old_files_are_stale_live_ones_are_not(tmp_path):
    dead = _dead_pid()
    assert not pid_alive(dead) and pid_alive(os.getpid())
    here = host_tag()
    files = {
        "dead_cache": tmp_path / f".elmo-abc.h5.{here}-{dead}.tmp",
        "dead_atomic": tmp_path / f".last.ckpt.{here}-{dead}.k2j_x9q1.tmp",
        "dead_older_version": tmp_path / f".elmo-abc.h5.{dead}.tmp",  # no host: written here
        "live": temporary_name(tmp_path / "elmo-abc.h5"),
        "live_but_old": tmp_path / f".best.ckpt.{process_tag()}.abcdefgh.tmp",
        "other_machine": tmp_path / f".elmo-abc.h5.node-07-{dead}.tmp",  # may be running there
        "not_ours": tmp_path / ".notes.tmp",
        "visible": tmp_path / f"elmo.h5.{here}-{dead}.tmp",
    }
    for path in files.values():
        path.write_bytes(b"x")
    old = time.time() - 2 * 86400
    os.utime(files["live_but_old"], (old, old))
    stale = ["dead_cache", "dead_atomic", "dead_older_version", "live_but_old"]
    assert [name for name, path in files.items() if is_stale(path)] == stale
    removed = remove_stale_temporaries(tmp_path)
    assert sorted(p.name for p in removed) == sorted(files[n].name for n in stale)
    kept = ("live", "other_machine", "not_ours", "visible")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files[n].name for n in kept)
    os.utime(
        files["other_machine"], (old, old)
    )  # a day without a change: no build runs that long silently
    assert is_stale(files["other_machine"])


def test_cache_folder_is_swept_when_next_used(tiny_elmo_files, tmp_path):
    bilm = ElmoBiLm(tiny_elmo_files.options_file, tiny_elmo_files.weight_file)
    manifest = {
        "options_sha256": file_checksum(bilm.options_path),
        "weights_sha256": file_checksum(bilm.weights_path),
    }
    left = tmp_path / f".elmo-0123456789abcdef01234567.h5.{host_tag()}-{_dead_pid()}.tmp"
    left.write_bytes(b"\0" * 1000)
    ensure_cache(bilm, manifest, [["a", "b"]], tmp_path)
    assert not left.exists()
    assert not list(tmp_path.glob(".*.tmp"))


def test_missing_folder_is_nothing_to_do(tmp_path):
    assert remove_stale_temporaries(tmp_path / "nope") == []
