"""Runs that stop before they finish say so: SIGTERM (a scheduler stopping the job), SLURM's
requeue signal, and divergence (a NaN or infinite loss or weight).

Every run here is a real ``train.py`` or ``python -m elmo_tasks.pretrain`` subprocess, sent
real signals at a known step (``tests.crash.PauseUntilSigterm`` blocks a batch until SIGTERM
arrives). The exit statuses are the documented ones (docs/reliability.md#exit-statuses): 143
for SIGTERM, 3 for divergence.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from elmo_tasks.core.integrity import file_sha256, read_sidecar
from tests.conftest import PROJECT_ROOT
from tests.test_faults import TRACEBACK_MARKERS, Result, _environment, command, tiny_task
from tests.test_resume import write_tiny_sentiment

EXIT_SIGTERM, EXIT_DIVERGED = 143, 3
# lr 0.05 and dropout 0.5: any batch trained twice, skipped or with other dropout masks shows
# in the weights.
SENSITIVE = (
    "encoder.dim=16",
    "optim.optimizer.lr=0.05",
    "head.dropout=0.5",
    "trainer.max_epochs=2",
)
SLURM = {
    "SLURM_NTASKS": "1",
    "SLURM_NTASKS_PER_NODE": "1",
    "SLURM_PROCID": "0",
    "SLURM_LOCALID": "0",
    "SLURM_NODEID": "0",
    "SLURM_JOB_ID": "4242",
    "SLURM_JOB_NAME": "train",
    "SLURM_NODELIST": "localhost",
}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    return write_tiny_sentiment(tmp_path_factory.mktemp("stops") / "data")


@pytest.fixture(scope="module")
def whole_run(files, tmp_path_factory) -> Path:
    """The run of the signal tests, not interrupted: 2 epochs of 4 batches (8 steps)."""
    run = tmp_path_factory.mktemp("whole") / "run"
    result = command(tiny_task(files, *SENSITIVE, f"hydra.run.dir={run}"))
    assert result.status == 0, result.output[-3000:]
    return run


def pause(step: int, marker: Path) -> str:
    return (
        f"+callbacks.pause={{_target_:tests.crash.PauseUntilSigterm,step:{step},marker:{marker}}}"
    )


def signalled(
    args: list[str], marker: Path, signals: list[tuple[signal.Signals, Path | None]], env=None
) -> Result:
    """Run ``python ARGS``; once ``marker`` exists send each signal in turn (after the one
    before it made its file appear, when a file is given); wait for the process to end."""
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=PROJECT_ROOT,
        env={**_environment(), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        for number, (signum, wait_for) in enumerate([(None, marker), *signals]):
            if number:
                process.send_signal(signum)
            if number == len(signals):
                break
            deadline = time.monotonic() + 240
            while wait_for is not None and not wait_for.exists():
                assert process.poll() is None and time.monotonic() < deadline, (
                    process.stdout.read().decode(errors="replace")[-3000:]
                )
                time.sleep(0.1)
        output = process.communicate(timeout=240)[0].decode(errors="replace")
    finally:
        process.kill()
    return Result(process.returncode, output)


def no_traceback(result: Result) -> None:
    assert not any(marker in result.output for marker in TRACEBACK_MARKERS), result.output[-4000:]


def checkpoint(path: Path) -> dict:
    assert file_sha256(path) in read_sidecar(path), f"{path} does not match its checksum"
    return torch.load(path, weights_only=True)


def max_weight_difference(a: Path, b: Path) -> float:
    first, second = checkpoint(a)["state_dict"], checkpoint(b)["state_dict"]
    assert first.keys() == second.keys()
    return max((first[k].double() - second[k].double()).abs().max().item() for k in first)


def resume_command(output: str) -> list[str]:
    """The command the stop message prints, as arguments of ``python``."""
    found = re.search(r"Resume with:\n  (python .*)", output)
    assert found, output[-3000:]
    return shlex.split(found.group(1))[1:]


# --------------------------------------------------------------------------- SIGTERM


@pytest.mark.slow
def test_sigterm_mid_epoch_saves_the_step_says_how_to_resume_and_exits_143(
    files, whole_run, tmp_path
):
    run = tmp_path / "run"
    args = tiny_task(files, *SENSITIVE, f"hydra.run.dir={run}")
    result = signalled(
        [*args, pause(5, tmp_path / "paused")], tmp_path / "paused", [(signal.SIGTERM, None)]
    )
    assert result.status == EXIT_SIGTERM, result.output[-3000:]
    no_traceback(result)
    assert re.search(
        r"stopped: SIGTERM received while training, after training step 6 \(epoch 1\); the run "
        r"is not finished \(no results\.json\)\. \S+/checkpoints/last\.ckpt holds training step 6\."
        rf" Resume with:\n  python train\.py .*hydra\.run\.dir={re.escape(str(run))} ckpt_path=last",
        result.output,
    ), result.output[-3000:]
    assert len(re.findall(r"ckpt_path=last", result.output)) == 1, "one message"
    assert not (run / "results.json").exists(), "a stopped run writes no results.json"
    assert checkpoint(run / "checkpoints" / "last.ckpt")["global_step"] == 6

    resumed = command(resume_command(result.output))
    assert resumed.status == 0, resumed.output[-3000:]
    assert re.search(r"resuming from \S+/checkpoints/last\.ckpt", resumed.output)
    results = json.loads((run / "results.json").read_text())
    whole = json.loads((whole_run / "results.json").read_text())
    assert results["status"] == "completed"
    assert (results["val"], results["test"]) == (whole["val"], whole["test"])
    last = "checkpoints/last.ckpt"
    assert max_weight_difference(run / last, whole_run / last) <= 1e-6


@pytest.mark.slow
def test_slurm_requeue_signal_saves_and_requeues_then_sigterm_stops(files, whole_run, tmp_path):
    """docs/distributed.md: with ``--signal=SIGUSR1@120 --requeue``, SIGUSR1 makes Lightning
    write ``hpc_ckpt_1.ckpt`` and call ``scontrol requeue $SLURM_JOB_ID``; SLURM then stops
    the job with SIGTERM; ``ckpt_path=last`` resumes the newest checkpoint."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "scontrol.calls"
    scontrol = bin_dir / "scontrol"
    scontrol.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    scontrol.chmod(0o755)
    env = {**SLURM, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    run = tmp_path / "run"
    args = tiny_task(files, *SENSITIVE, f"hydra.run.dir={run}")
    result = signalled(
        [*args, pause(5, tmp_path / "paused")],
        tmp_path / "paused",
        [(signal.SIGUSR1, calls), (signal.SIGTERM, None)],
        env=env,
    )
    assert calls.read_text() == "requeue 4242\n", "the job is requeued through scontrol, once"
    assert result.status == EXIT_SIGTERM, result.output[-3000:]
    no_traceback(result)
    assert "Requeued SLURM job: 4242" in result.output
    assert checkpoint(run / "hpc_ckpt_1.ckpt")["global_step"] == 5
    assert checkpoint(run / "checkpoints" / "last.ckpt")["global_step"] == 6
    assert re.search(r"ckpt_path=last", result.output)

    # Killed outright after the requeue (no SIGTERM save): the hpc checkpoint is the newest.
    killed = tmp_path / "killed"
    shutil.copytree(run, killed)
    for path in (killed / "checkpoints").glob("last.ckpt*"):
        path.unlink()
    for folder, newest in ((run, r"checkpoints/last\.ckpt"), (killed, r"hpc_ckpt_1\.ckpt")):
        resumed = command(tiny_task(files, *SENSITIVE, f"hydra.run.dir={folder}", "ckpt_path=last"))
        assert resumed.status == 0, resumed.output[-3000:]
        assert re.search(rf"resuming from \S+/{newest}", resumed.output), resumed.output[-3000:]
        last = "checkpoints/last.ckpt"
        assert max_weight_difference(folder / last, whole_run / last) <= 1e-6


def pretrain_args(corpus: Path, run: Path, *extra: str) -> list[str]:
    return [
        "-m",
        "elmo_tasks.pretrain",
        "model=tiny",
        f"data.train_files={corpus}",
        "data.validation_files=null",
        "data.test_files=null",
        "data.batch_size=4",
        "data.unroll_steps=5",
        "trainer.max_steps=6",
        "trainer.enable_progress_bar=false",
        "+trainer.enable_model_summary=false",
        f"hydra.run.dir={run}",
        *extra,
    ]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "train.txt"
    path.write_text(
        "\n".join(" ".join(f"w{(i * 7 + j) % 23}" for j in range(6)) for i in range(80))
    )
    return path


@pytest.mark.slow
def test_sigterm_during_pretraining_saves_the_step_and_resumes_to_the_same_weights(
    corpus, tmp_path
):
    run = tmp_path / "stopped"
    result = signalled(
        pretrain_args(corpus, run, pause(2, tmp_path / "paused")),
        tmp_path / "paused",
        [(signal.SIGTERM, None)],
    )
    assert result.status == EXIT_SIGTERM, result.output[-3000:]
    no_traceback(result)
    assert re.search(
        r"after training step 3 .*no export\)\. \S+last\.ckpt holds training step 3\. Resume "
        rf"with:\n  python -m elmo_tasks\.pretrain .*ckpt_path={re.escape(str(run))}/checkpoints/last\.ckpt",
        result.output,
    ), result.output[-3000:]
    assert not (run / "export").exists()
    assert checkpoint(run / "checkpoints" / "last.ckpt")["global_step"] == 3

    resumed_run, whole = tmp_path / "resumed", tmp_path / "whole"
    last = f"ckpt_path={run}/checkpoints/last.ckpt"
    for folder, extra in ((resumed_run, [last]), (whole, [])):
        done = command(pretrain_args(corpus, folder, *extra))
        assert done.status == 0, done.output[-3000:]
        assert (folder / "export" / "weights.hdf5").is_file()
    last_ckpt = "checkpoints/last.ckpt"
    assert max_weight_difference(resumed_run / last_ckpt, whole / last_ckpt) == 0.0


# --------------------------------------------------------------------------- divergence


def test_a_nan_loss_stops_training_at_once_and_results_say_diverged(files, tmp_path):
    run = tmp_path / "run"
    result = command(
        tiny_task(files, "encoder.dim=16", "optim.optimizer.lr=1e38", f"hydra.run.dir={run}")
    )
    assert result.status == EXIT_DIVERGED, result.output[-3000:]
    no_traceback(result)
    assert re.search(
        r"error: training diverged: the training loss is nan at training step 2 \(epoch 0\).*"
        r"optim\.optimizer\.lr=1e\+37; it is 1e\+38.*trainer\.gradient_clip_val=",
        result.output,
    ), result.output[-3000:]
    results = json.loads((run / "results.json").read_text())
    assert results["status"] == "diverged"
    assert results["diverged"] == {"step": 2, "epoch": 0, "what": "training loss", "value": "nan"}
    assert results["val"] == {} and results["test"] == {} and results["best_checkpoint"] is None
    assert not list(run.glob("checkpoints/*.ckpt")), "nothing of the diverged run is kept"


def test_non_finite_weights_are_never_kept_as_best(files, tmp_path):
    """A NaN weight with a finite loss (a non-finite gradient does this): the checkpoint at the
    end of epoch 0 is refused, and the run stops as diverged."""
    run = tmp_path / "run"
    poison = "+callbacks.poison={_target_:tests.crash.PoisonWeightAtStep,step:4}"
    result = command(tiny_task(files, *SENSITIVE, poison, f"hydra.run.dir={run}"))
    assert result.status == EXIT_DIVERGED, result.output[-3000:]
    no_traceback(result)
    assert re.search(r"training diverged: the weight \S+ is nan at training step 4", result.output)
    assert not list(run.glob("checkpoints/*.ckpt")), "no checkpoint holds the NaN weight"
    assert json.loads((run / "results.json").read_text())["diverged"]["step"] == 4


@pytest.mark.slow
def test_a_nan_loss_stops_pretraining_without_an_export(corpus, tmp_path):
    run = tmp_path / "run"
    result = command(pretrain_args(corpus, run, "optim.optimizer.lr=1e38"))
    assert result.status == EXIT_DIVERGED, result.output[-3000:]
    no_traceback(result)
    assert re.search(
        r"training diverged: the training loss is (nan|inf) at training step \d+ .*optim\.optimizer\.lr=",
        result.output,
    ), result.output[-3000:]
    assert not (run / "export").exists()
    for path in run.glob("checkpoints/*.ckpt"):
        state = checkpoint(path)["state_dict"]
        assert all(bool(torch.isfinite(t).all()) for t in state.values() if t.is_floating_point())


def test_the_device_watch_names_the_first_bad_step_without_a_sync_per_step():
    """On an accelerator the loss is recorded on the device and read every ``every`` steps
    (and before each checkpoint); the same code runs here on CPU tensors."""
    from elmo_tasks.tasks.divergence import LossWatch, TrainingDiverged

    class Module:  # the watch only asks a module for its trainer
        _trainer = None

    module = Module()
    watch = LossWatch(every=4)
    watch._record(torch.tensor(1.0), module)
    watch._record(torch.tensor(2.0), module)
    watch.flush(module)  # all finite
    watch._record(torch.tensor(float("inf")), module)  # step 3, not read yet
    with pytest.raises(TrainingDiverged) as caught:
        watch._record(torch.tensor(float("nan")), module)  # the 4th step reads the record
    assert caught.value.step == 3 and math.isinf(caught.value.value)


def test_the_stop_message_names_what_last_ckpt_holds(tmp_path):
    """During validation nothing new is saved; a resumed run's restored last_model_path does
    not count as a save of this process: the message says the file is the earlier one."""
    from types import SimpleNamespace

    from elmo_tasks.core.resume import LastCheckpoint
    from elmo_tasks.runs import signals

    callback = LastCheckpoint(dirpath=tmp_path)
    callback.last_model_path = str(tmp_path / "last.ckpt")  # as a resume restores it
    (tmp_path / "last.ckpt").write_bytes(b"saved by the run before")
    trainer = SimpleNamespace(
        state=SimpleNamespace(fn=SimpleNamespace(value="fit")),
        sanity_checking=False,
        validating=True,
        global_step=7,
        current_epoch=1,
        callbacks=[callback],
    )
    signals.watch(trainer, tmp_path / "last.ckpt", "python train.py x=1 ckpt_path=last")
    try:
        message = signals.stop_message()
    finally:
        signals.watch_nothing()
    assert message.startswith("SIGTERM received while validating, after training step 7 (epoch 1)")
    assert f"{tmp_path / 'last.ckpt'} is the one from before this run started" in message
    callback._last_global_step_saved = 6  # a save of this process
    signals.watch(trainer, tmp_path / "last.ckpt", "python train.py x=1 ckpt_path=last")
    try:
        assert "last.ckpt holds training step 6" in signals.stop_message()
    finally:
        signals.watch_nothing()


@pytest.mark.slow
def test_a_diverged_job_ends_alone_and_the_multirun_exits_3(files, tmp_path):
    """A sweep over learning rates: the job that diverges writes its results.json and ends;
    the next job runs to its end; the command exits 3 at the end."""
    sweep = tmp_path / "sweep"
    args = [a for a in tiny_task(files, "encoder.dim=16") if not a.startswith("trainer.max_epochs")]
    result = command(
        [
            args[0],
            "-m",  # before the overrides
            *args[1:],
            "optim.optimizer.lr=1e38,0.05",
            "trainer.max_epochs=1",
            f"hydra.sweep.dir={sweep}",
        ]
    )
    assert result.status == EXIT_DIVERGED, result.output[-3000:]
    no_traceback(result)
    assert re.search(r"error: training diverged: the training loss is nan", result.output)
    assert re.search(r"error: 1 job of this multirun stopped", result.output)
    statuses = {}
    for path in sweep.glob("*/results.json"):
        results = json.loads(path.read_text())
        lr = next(o for o in results["config_overrides"] if o.startswith("optim.optimizer.lr="))
        statuses[lr] = results["status"]
    assert statuses == {
        "optim.optimizer.lr=1e+38": "diverged",
        "optim.optimizer.lr=0.05": "completed",
    }
