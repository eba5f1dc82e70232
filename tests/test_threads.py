"""Parallel runs share the machine: each job of a joblib multirun gets cores // n_jobs threads."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from elmo_tasks.core.threads import available_cores
from tests.conftest import PROJECT_ROOT
from tests.test_resume import tiny_overrides, write_tiny_sentiment


@pytest.mark.slow
def test_joblib_jobs_each_take_their_share_of_the_cores(tmp_path):
    files = write_tiny_sentiment(tmp_path / "data", n_train=32, n_eval=16)
    env = {
        **os.environ,
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    env.pop("OMP_NUM_THREADS", None)  # torch would start one thread per core in each job
    sweep = tmp_path / "sweep"
    process = subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "train.py"),
            "-m",
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
            "seed=1,2",
            "trainer.max_epochs=1",
            "test=false",
            *tiny_overrides(files, 16),
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    threads = [
        json.loads((sweep / job / "results.json").read_text())["threads"] for job in ("0", "1")
    ]
    assert threads == [max(1, available_cores() // 2)] * 2


def test_runs_started_side_by_side_share_the_cores(tmp_path, monkeypatch):
    """A run counts the live runs registered on this machine; a killed run's entry is dropped."""
    import torch

    from elmo_tasks.core import threads
    from elmo_tasks.core.litter import host_tag

    monkeypatch.setattr(threads, "available_cores", lambda: 8)
    monkeypatch.setattr(threads, "_registered", set())
    monkeypatch.setattr(threads, "_torch_default", None)
    before = torch.get_num_threads()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        folder = tmp_path / "runs"
        folder.mkdir()
        (folder / f"{host_tag()}-{dead.pid}").touch()  # a run that was killed
        assert threads.apply_threads(None, folder) == before  # alone: torch's default
        assert threads.live_runs(folder) == 1 and not (folder / f"{host_tag()}-{dead.pid}").exists()
        assert threads.apply_threads(3, folder) == 3  # threads= wins

        (folder / f"{host_tag()}-{other.pid}").touch()  # a second run starts
        share = threads.ThreadShare(folder=folder)
        share.on_train_epoch_start(None, None)
        assert torch.get_num_threads() == 4
        other.kill()
        other.wait()
        share.on_train_batch_start(
            None, None, None, 100
        )  # the other run ended: back to the default
        assert torch.get_num_threads() == before
    finally:
        other.kill()
        torch.set_num_threads(before)
