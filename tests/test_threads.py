"""Parallel runs share the machine: each job of a joblib multirun gets cores // n_jobs threads."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from elmo_tasks.threads import available_cores
from tests.conftest import PROJECT_ROOT
from tests.test_resume import tiny_overrides, write_tiny_sentiment


@pytest.mark.slow
def test_joblib_jobs_each_take_their_share_of_the_cores(tmp_path):
    files = write_tiny_sentiment(tmp_path / "data", n_train=32, n_eval=16)
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop("OMP_NUM_THREADS", None)  # torch would start one thread per core in each job
    sweep = tmp_path / "sweep"
    process = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "train.py"), "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
         "seed=1,2", "trainer.max_epochs=1", "test=false", *tiny_overrides(files, 16), f"hydra.sweep.dir={sweep}"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    threads = [json.loads((sweep / job / "results.json").read_text())["threads"] for job in ("0", "1")]
    assert threads == [max(1, available_cores() // 2)] * 2
