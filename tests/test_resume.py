"""Crash resilience: a run SIGKILLed mid-epoch and resumed with ``ckpt_path=last`` ends with the
numbers (and the very weights) of the run that was not interrupted; checkpoints and results
are written atomically; checkpoints load with ``torch.load(weights_only=True)``."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from elmo_tasks.core.atomic import atomic_write_text
from elmo_tasks.core.checkpoint_io import AtomicCheckpointIO
from elmo_tasks.core.integrity import verify
from elmo_tasks.core.resume import random_state, resolve_ckpt_path, set_random_state
from elmo_tasks.data.batching import BucketBatchSampler
from tests.conftest import PROJECT_ROOT

POSITIVE = ["good", "great", "lovely", "fine", "wonderful", "moving"]
NEGATIVE = ["bad", "dull", "awful", "boring", "tedious", "poor"]
FILLER = ["the", "film", "was", "a", "and", "story", "acting", "very", "quite", "plot"]


def write_tiny_sentiment(directory: Path, n_train: int = 64, n_eval: int = 32) -> dict[str, Path]:
    """train/validation/test CSVs of a toy sentiment task (one cue word per text), seeded."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for split, n, seed in (("train", n_train, 1), ("validation", n_eval, 2), ("test", n_eval, 3)):
        rng = random.Random(seed)
        rows = []
        for _ in range(n):
            label = rng.choice(["pos", "neg"])
            words = [rng.choice(FILLER) for _ in range(rng.randint(2, 12))]
            words.insert(
                rng.randrange(len(words) + 1), rng.choice(POSITIVE if label == "pos" else NEGATIVE)
            )
            rows.append((" ".join(words), label))
        files[split] = directory / f"{split}.csv"
        with files[split].open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            writer.writerows(rows)
    return files


def no_preset() -> list[str]:
    """Compose groups by hand, whatever the default experiment is."""
    return (
        ["experiment=none"]
        if (PROJECT_ROOT / "conf" / "experiment" / "none.yaml").is_file()
        else []
    )


def tiny_overrides(files: dict[str, Path], batch_size: int, *extra: str) -> list[str]:
    return [
        *no_preset(),
        "task=text_classification",
        f"task.train_file={files['train']}",
        f"task.validation_file={files['validation']}",
        f"task.test_file={files['test']}",
        f"task.batch_size={batch_size}",
        "encoder.dim=16",
        "optim.optimizer.lr=0.05",
        "callbacks.rich_progress_bar=null",
        "trainer.enable_progress_bar=false",
        "+trainer.enable_model_summary=false",
        "trainer.log_every_n_steps=1",
        *extra,
    ]


def train_process(
    run_dir: Path, overrides: list[str], log_name: str = "stdout.log"
) -> subprocess.Popen:
    """``python train.py`` in a subprocess, one intra-op thread, writing into ``run_dir``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "PYTHONHASHSEED": "0",
    }
    log = (run_dir.parent / f"{run_dir.name}.{log_name}").open("w")
    return subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "train.py"), *overrides, f"hydra.run.dir={run_dir}"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def finish(process: subprocess.Popen, run_dir: Path, timeout: float = 300) -> None:
    code = process.wait(timeout=timeout)
    if code != 0:
        log = next(run_dir.parent.glob(f"{run_dir.name}.*.log"), None)
        tail = log.read_text()[-3000:] if log else ""
        pytest.fail(f"train.py exited with {code} for {run_dir}:\n{tail}")


def results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


# 64 rows in batches of 16: 4 steps an epoch, 3 epochs; dropout 0.5 makes the weights depend
# on the RNG stream as well as on the batch order. Two crashes:
# - mid_epoch: last.ckpt every 3 steps (3, 6, 9 and the epoch ends 4, 8, 12); killed after step
#   7, it resumes from step 6, in epoch 1 with 2 of its 4 batches trained, and redoes step 7;
# - epoch_end: last.ckpt at the epoch ends only; killed after step 5, it resumes from the end
#   of epoch 0 (step 4).
RESUME_SETTINGS = ("head.dropout=0.5", "trainer.max_epochs=3")
CRASHES = {  # name: (killed when this many steps are done, every_n_train_steps, step of last.ckpt)
    "mid_epoch": (7, 3, 6),
    "epoch_end": (5, 0, 4),
}


def _same_run(whole_dir: Path, run_dir: Path) -> None:
    a, b = results(whole_dir), results(run_dir)
    for split in ("val", "test"):
        assert set(a[split]) == set(b[split])
        for metric, value in a[split].items():
            assert b[split][metric] == pytest.approx(value, abs=1e-6), (run_dir.name, split, metric)
    for name in ("last.ckpt", "best.ckpt"):
        x = torch.load(whole_dir / "checkpoints" / name, weights_only=True)
        y = torch.load(run_dir / "checkpoints" / name, weights_only=True)
        assert x["global_step"] == y["global_step"], (run_dir.name, name)
        for key, tensor in x["state_dict"].items():
            assert torch.allclose(tensor, y["state_dict"][key], atol=1e-6, rtol=0), (
                run_dir.name,
                name,
                key,
            )


@pytest.mark.slow
def test_sigkill_then_resume_gives_the_same_results(tmp_path):
    files = write_tiny_sentiment(tmp_path / "data")
    overrides = tiny_overrides(files, 16, *RESUME_SETTINGS)
    whole_dir = tmp_path / "whole"
    whole = train_process(
        whole_dir, [*overrides, "callbacks.last_checkpoint.every_n_train_steps=3"]
    )
    crashing = {}
    for name, (step, every, _) in CRASHES.items():
        marker = tmp_path / f"{name}.paused"
        pause = (
            f"+callbacks.pause={{_target_:tests.crash.PauseAtStep,step:{step},marker:'{marker}'}}"
        )
        every_n = f"callbacks.last_checkpoint.every_n_train_steps={every}"
        crashing[name] = (
            train_process(tmp_path / name, [*overrides, every_n, pause]),
            marker,
            every_n,
        )

    resumed = {}
    deadline = time.monotonic() + 240
    for name, (process, marker, every_n) in crashing.items():
        run_dir, (step, _, saved_step) = tmp_path / name, CRASHES[name]
        while not marker.exists():
            assert process.poll() is None, (
                f"{name}: the run exited ({process.returncode}) before step {step}"
            )
            assert time.monotonic() < deadline, f"{name}: the run never reached step {step}"
            time.sleep(0.1)
        saved = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
        assert saved["global_step"] == saved_step, name
        if name == "mid_epoch":
            assert saved["loops"]["fit_loop"]["state_dict"]["combined_loader"] == [
                {"epoch": 1, "batches_done": 2, "seed": 42, "global_batch_size": 16, "num_rows": 64}
            ]
        os.kill(process.pid, signal.SIGKILL)  # the training process itself, blocked at a known step
        assert process.wait(timeout=60) == -signal.SIGKILL
        assert not (run_dir / "results.json").exists()
        resumed[name] = train_process(
            run_dir, [*overrides, every_n, "ckpt_path=last"], log_name="resume.log"
        )

    finish(whole, whole_dir)
    assert results(whole_dir)["val"]["accuracy"] > 0.6, (
        "the toy task should be learnt, else the comparison says little"
    )
    assert (
        torch.load(whole_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 12
    )
    for name, process in resumed.items():
        finish(process, tmp_path / name)
        _same_run(whole_dir, tmp_path / name)
        # The rows logged before the kill are kept beside the resumed run's metrics.csv.
        assert (tmp_path / name / "metrics.before_resume_1.csv").is_file()
        assert not list((tmp_path / name / "checkpoints").glob(".*.tmp"))


# --------------------------------------------------------------------------- unit checks


def test_sampler_state_skips_the_trained_batches_of_the_epoch():
    lengths = [5, 1, 9, 3, 3, 7, 2, 8, 4, 6] * 7
    sampler = BucketBatchSampler(lengths, batch_size=8, shuffle=True, seed=3, pool_batches=2)
    sampler.set_epoch(2)
    full = list(sampler)
    state = sampler.state_dict(batches_done=3)
    assert state["epoch"] == 2 and state["batches_done"] == 3

    fresh = BucketBatchSampler(lengths, batch_size=8, shuffle=True, seed=3, pool_batches=2)
    fresh.load_state_dict(state)
    assert list(fresh) == full[3:]
    fresh.set_epoch(3)  # the next epoch is whole again
    sampler.set_epoch(3)
    assert list(fresh) == list(sampler)

    other = BucketBatchSampler(lengths, batch_size=4, shuffle=True, seed=3, pool_batches=2)
    other.load_state_dict(state)  # another batch order: the epoch restarts, with a warning
    assert len(list(other)) == len(other)


def test_train_loader_shuffles_with_the_trainer_epoch():
    from elmo_tasks.data.base import ResumableDataLoader

    def loader(epoch):
        sampler = BucketBatchSampler([1, 2, 3, 4] * 5, batch_size=4, shuffle=True, seed=1)
        return ResumableDataLoader(
            list(range(20)), batch_sampler=sampler, collate_fn=list, epoch=lambda: epoch
        )

    reference = BucketBatchSampler([1, 2, 3, 4] * 5, batch_size=4, shuffle=True, seed=1)
    reference.set_epoch(3)
    epoch_3 = list(reference)
    at_3 = loader(3)
    assert list(at_3) == epoch_3 == list(at_3)  # every pass in epoch 3 is epoch 3's order
    assert list(loader(4)) != epoch_3


def test_random_state_round_trip_is_weights_only(tmp_path):
    random.seed(1)
    torch.manual_seed(1)
    import numpy as np

    np.random.seed(1)
    state = random_state()
    torch.save(state, tmp_path / "rng.pt")
    expected = (random.random(), float(np.random.rand()), torch.rand(3))
    set_random_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    again = (random.random(), float(np.random.rand()), torch.rand(3))
    assert expected[:2] == again[:2] and torch.equal(expected[2], again[2])


def test_ckpt_path_last_resolves_to_the_run_folder(tmp_path, caplog):
    assert resolve_ckpt_path(None, tmp_path) is None
    assert resolve_ckpt_path("last", tmp_path) is None  # nothing yet: start from scratch
    (tmp_path / "last.ckpt").write_bytes(b"x")
    assert resolve_ckpt_path("last", tmp_path) == str(tmp_path / "last.ckpt")
    # A newer checkpoint that Lightning saved on a SLURM requeue signal wins.
    hpc = tmp_path / "run" / "hpc_ckpt_1.ckpt"
    hpc.parent.mkdir()
    hpc.write_bytes(b"y")
    os.utime(tmp_path / "last.ckpt", ns=(1, 1))
    assert resolve_ckpt_path("last", tmp_path, tmp_path / "run") == str(hpc)
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        resolve_ckpt_path(tmp_path / "nope.ckpt", tmp_path)
    assert resolve_ckpt_path("hpc", tmp_path) == "hpc"  # Lightning's keywords pass through


def test_interrupted_checkpoint_write_leaves_the_old_file(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    path = tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}, "global_step": 1}, path)
    before = path.read_bytes()

    def crash_midway(obj, handle, *args, **kwargs):
        handle.write(b"PK\x03\x04 half a zip file")  # what a killed torch.save leaves behind
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(3)}, "global_step": 2}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert torch.load(path, weights_only=True)["global_step"] == 1
    # No temporary file left; the checksum is still the old file's.
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt", "last.ckpt.sha256"]
    assert verify(path)
    # A first write that fails leaves nothing at all at the target.
    monkeypatch.setattr(torch, "save", crash_midway)
    with pytest.raises(OSError):
        io.save_checkpoint({"w": torch.zeros(1)}, tmp_path / "new.ckpt")
    assert not (tmp_path / "new.ckpt").exists() and not (tmp_path / "new.ckpt.sha256").exists()


def test_results_are_written_atomically(tmp_path, monkeypatch):
    target = tmp_path / "results.json"
    atomic_write_text(target, '{"old": 1}\n')

    class Boom(Exception):
        pass

    def failing_replace(src, dst):
        raise Boom

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(Boom):
        atomic_write_text(target, '{"new": 2}\n')
    assert json.loads(target.read_text()) == {"old": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_pretraining_checkpoints_are_atomic_and_load_weights_only(tmp_path):
    from elmo_tasks.pretraining.run import compose_pretrain_config
    from elmo_tasks.pretraining.run import run as pretrain

    rng = random.Random(0)
    corpus = {}
    for split, n in (("train", 120), ("valid", 20)):
        corpus[split] = tmp_path / f"{split}.txt"
        corpus[split].write_text(
            "\n".join(" ".join(rng.choice(FILLER) for _ in range(6)) for _ in range(n)) + "\n"
        )
    cfg = compose_pretrain_config(
        tmp_path / "run",
        [
            "model=tiny",
            f"data.train_files={corpus['train']}",
            f"data.validation_files={corpus['valid']}",
            f"data.test_files={corpus['valid']}",
            "data.batch_size=4",
            "data.unroll_steps=5",
            "trainer.max_steps=3",
            "trainer.enable_progress_bar=false",
            "+trainer.enable_model_summary=false",
        ],
    )
    pretrain(cfg)
    checkpoints = tmp_path / "run" / "checkpoints"
    for path in sorted(checkpoints.glob("*.ckpt")):
        checkpoint = torch.load(path, weights_only=True)  # only tensors and plain containers inside
        assert checkpoint["global_step"] == 3 and "pretrain" in checkpoint
    assert (checkpoints / "last.ckpt").is_file()
    assert not list(checkpoints.glob(".*.tmp"))


def test_a_failed_resume_puts_the_metrics_back(tmp_path):
    from elmo_tasks.core.resume import keep_metrics_before_resume, undo_keep_metrics

    (tmp_path / "metrics.csv").write_text("epoch,val\n0,0.5\n")
    kept = keep_metrics_before_resume(tmp_path)
    (tmp_path / "metrics.csv").write_text("epoch,val\n1,0.6\n")  # what the failed resume logged
    undo_keep_metrics(kept, tmp_path)
    assert (tmp_path / "metrics.csv").read_text() == "epoch,val\n0,0.5\n"
    assert (tmp_path / "metrics.failed_resume_1.csv").read_text() == "epoch,val\n1,0.6\n"
    assert not kept.exists()


def test_an_unreadable_checkpoint_is_refused_naming_the_others(tmp_path):
    from elmo_tasks.core.resume import ResumeError, check_resumable

    save = AtomicCheckpointIO().save_checkpoint
    save({"state_dict": {"w": torch.ones(2)}}, tmp_path / "best.ckpt")
    save({"state_dict": {"w": torch.ones(2)}}, tmp_path / "last.ckpt")
    check_resumable(str(tmp_path / "last.ckpt"), tmp_path)
    (tmp_path / "last.ckpt").write_bytes(b"")
    with pytest.raises(
        ResumeError,
        match=r"(?s)cannot resume: .*last\.ckpt.*The run folder was left as it was\. "
        r"To continue, resume from another checkpoint: ckpt_path=\S+best\.ckpt",
    ):
        check_resumable(str(tmp_path / "last.ckpt"), tmp_path)
    check_resumable("hpc", tmp_path)  # Lightning's keywords are Lightning's


def test_a_damaged_alternative_is_not_suggested(tmp_path):
    from elmo_tasks.core.resume import ResumeError, check_resumable

    save = AtomicCheckpointIO().save_checkpoint
    for name in ("best.ckpt", "last.ckpt", "epoch_1.ckpt"):
        save({"state_dict": {"w": torch.ones(2)}}, tmp_path / name)
    (tmp_path / "last.ckpt").write_bytes(b"")
    (tmp_path / "best.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(ResumeError) as refused:
        check_resumable(str(tmp_path / "last.ckpt"), tmp_path)
    message = str(refused.value)
    assert "best.ckpt cannot be used either: checkpoint " in message
    assert "ckpt_path=" + str(tmp_path / "best.ckpt") not in message
    assert "resume from another checkpoint: ckpt_path=" + str(tmp_path / "epoch_1.ckpt") in message
    (tmp_path / "epoch_1.ckpt").write_bytes(b"")
    with pytest.raises(ResumeError, match=r"There is no other usable checkpoint in \S+: drop"):
        check_resumable(str(tmp_path / "last.ckpt"), tmp_path)


def test_a_failed_resume_puts_the_run_files_back(tmp_path):
    from elmo_tasks.core.run_files import keep_run_files, restore_run_files, training_started

    hydra = tmp_path / ".hydra"
    hydra.mkdir()
    (hydra / "overrides.yaml").write_text("- trainer.max_epochs=2\n")
    (tmp_path / "train.log").write_text("epoch 0\n")
    keep_run_files(tmp_path)
    (hydra / "overrides.yaml").write_text("- trainer.max_epochs=3\n- ckpt_path=last\n")
    (hydra / "hydra.yaml").write_text("new\n")  # created by the attempt
    (tmp_path / "train.log").write_text("epoch 0\nresuming\n")
    restore_run_files()
    assert (hydra / "overrides.yaml").read_text() == "- trainer.max_epochs=2\n"
    assert (
        not (hydra / "hydra.yaml").exists() and (tmp_path / "train.log").read_text() == "epoch 0\n"
    )
    restore_run_files()  # nothing kept any more: nothing happens

    keep_run_files(tmp_path)
    training_started()  # once the resumed run trains, its log is history
    (tmp_path / "train.log").write_text("epoch 0\nepoch 1\n")
    (hydra / "overrides.yaml").write_text("- ckpt_path=last\n")
    restore_run_files()
    assert (tmp_path / "train.log").read_text() == "epoch 0\nepoch 1\n"
    assert (hydra / "overrides.yaml").read_text() == "- trainer.max_epochs=2\n"
