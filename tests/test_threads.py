"""Threads fixed by the config: each job of a joblib multirun gets cores // n_jobs threads, a
run's numbers do not depend on what else runs on the machine, and ``threads=adaptive`` (opt-in)
shares the cores with the runs started beside it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from elmo_tasks.core.threads import available_cores
from tests.conftest import PROJECT_ROOT
from tests.test_resume import tiny_overrides, write_tiny_sentiment


@pytest.mark.slow
def test_joblib_jobs_each_take_their_share_of_the_cores(tmp_path):
    pytest.importorskip(
        "hydra_plugins.hydra_joblib_launcher",
        reason="needs the joblib extra: pip install 'elmo-tasks[joblib]'",
    )
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


def test_adaptive_runs_started_side_by_side_share_the_cores(tmp_path, monkeypatch):
    """``threads=adaptive``: a run counts the live runs registered on this machine (a killed
    run's entry is dropped); the default ignores them."""
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
        assert threads.apply_threads("adaptive", folder) == before  # alone: torch's default
        assert threads.live_runs(folder) == 1 and not (folder / f"{host_tag()}-{dead.pid}").exists()
        assert threads.apply_threads(3, folder) == 3  # threads= wins

        (folder / f"{host_tag()}-{other.pid}").touch()  # a second run starts
        assert threads.apply_threads(None, folder) == before  # the default ignores it
        assert threads.apply_threads("adaptive", folder) == 4
        torch.set_num_threads(before)
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


def _environment(tmp_path: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(PROJECT_ROOT),
        "ELMO_TASKS_CACHE": str(tmp_path / "cache"),
    }
    env.pop("OMP_NUM_THREADS", None)  # the default: torch's own thread count, one per core
    return env


def _wait_for(path: Path, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{path} never appeared: {process.stderr.read()[-3000:]}")
        time.sleep(0.1)


def _wait_at(step: int, marker: Path, go: Path) -> str:
    return f"+callbacks.wait={{_target_:tests.crash.WaitAtStep,step:{step},marker:'{marker}',go:'{go}'}}"


@pytest.mark.slow
def test_a_run_gives_the_same_numbers_when_another_starts_beside_it(tmp_path):
    """The default threads come from the config and the machine's cores alone: a run with a
    second training run started in its middle gives the numbers of the same run alone, bit for
    bit (the whole metrics.csv), where a thread count that followed the other runs would round
    its sums differently from then on."""
    env = _environment(tmp_path)
    default = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    if int(default.stdout) < 2:
        pytest.skip("torch starts one thread here: every run has one whatever else runs")
    run = [
        sys.executable,
        "train.py",
        "experiment=quickstart/baseline_elmo",  # the mini biLM's vectors: sums big enough to split
        "task.max_train_samples=96",
        "task.max_eval_samples=32",
        "trainer.max_epochs=2",
        "seed=2",
        "callbacks.rich_progress_bar=null",
        "trainer.enable_progress_bar=false",
        "+trainer.enable_model_summary=false",
        f"paths.log_dir={tmp_path}/logs",
    ]
    alone = subprocess.run(
        [*run, f"hydra.run.dir={tmp_path}/alone"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert alone.returncode == 0, alone.stderr[-3000:]

    paused, go, other_trains = tmp_path / "paused", tmp_path / "go", tmp_path / "other_trains"
    beside = subprocess.Popen(
        [*run, f"hydra.run.dir={tmp_path}/beside", _wait_at(2, paused, go)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    other = None
    try:
        _wait_for(paused, beside)  # two of its three steps of epoch 0 done
        go_now = tmp_path / "go_now"
        go_now.touch()
        other = subprocess.Popen(
            [
                sys.executable,
                "train.py",
                "experiment=none",
                "task=quickstart",
                "encoder=word_embedding",
                "encoder.dim=32",
                "trainer.max_epochs=1000",
                "callbacks.early_stopping=null",
                "callbacks.rich_progress_bar=null",
                "trainer.enable_progress_bar=false",
                f"hydra.run.dir={tmp_path}/other",
                _wait_at(1, other_trains, go_now),
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        _wait_for(other_trains, other)  # the other run trains
        go.touch()
        assert beside.wait(timeout=400) == 0, beside.stderr.read()[-3000:]
        assert other.poll() is None, "the other run was training all along"
    finally:
        for process in (beside, other):
            if process is not None:
                process.kill()
                process.wait()
                process.stderr.close()

    first, second = (
        json.loads((tmp_path / name / "results.json").read_text()) for name in ("alone", "beside")
    )
    assert first["threads"] == second["threads"] == int(default.stdout)  # torch's default
    assert not first["threads_adaptive"] and not second["threads_adaptive"]
    assert (first["val"], first["test"]) == (second["val"], second["test"])
    assert (tmp_path / "alone" / "metrics.csv").read_text() == (
        tmp_path / "beside" / "metrics.csv"
    ).read_text()
