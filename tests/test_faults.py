"""Fault injection: the real commands (``train.py``, ``python -m elmo_tasks.cli.predict``, ``embed``,
``pretrain_export``) run as subprocesses while something goes wrong: SIGKILL mid-build or
mid-export, full disks (``RLIMIT_FSIZE`` in the child, so writes fail with EFBIG as on a full
disk), damaged caches, checkpoints and weights, unwritable folders, bad values, bad input.

Each row of ``ROWS`` returns a :class:`Case`; one test checks every row the same way: the exit
status, the message, no traceback or crash, and that the files written before are unchanged.
docs/reliability.md lists each guarantee with the row that checks it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from elmo_tasks.core.integrity import file_sha256, read_sidecar
from tests.conftest import PROJECT_ROOT
from tests.test_resume import write_tiny_sentiment

MINI = PROJECT_ROOT / "elmo_tasks" / "resources" / "elmo_mini"
TRACEBACK_MARKERS = ("Traceback (most recent call last)", "Segmentation fault", "Exception ignored")


# --------------------------------------------------------------------------- running commands


@dataclass
class Result:
    status: int
    output: str  # stdout and stderr together
    stdout: str = ""


def _environment() -> dict[str, str]:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(PROJECT_ROOT),
        "PYTHONHASHSEED": "0",
    }
    env.pop("HYDRA_FULL_ERROR", None)
    return env


def _limit(max_bytes: int | None) -> Callable[[], None] | None:
    if max_bytes is None:
        return None

    def limit() -> None:
        from tests.crash import limit_file_size

        limit_file_size(max_bytes)

    return limit


def command(
    args: list[str],
    *,
    stdin: bytes | None = None,
    max_file_bytes: int | None = None,
    timeout: float = 240,
) -> Result:
    """Run ``python ARGS`` from the project root; ``max_file_bytes`` simulates a full disk."""
    process = subprocess.run(
        [sys.executable, *args],
        cwd=PROJECT_ROOT,
        env=_environment(),
        input=stdin,
        capture_output=True,
        timeout=timeout,
        preexec_fn=_limit(max_file_bytes),
    )
    stdout, stderr = (
        process.stdout.decode(errors="replace"),
        process.stderr.decode(errors="replace"),
    )
    return Result(process.returncode, stdout + stderr, stdout)


def killed_while_paused(hook: str, marker: Path, args: list[str], timeout: float = 240) -> int:
    """Run ``python -m tests.crash HOOK MARKER ARGS``, SIGKILL it once it pauses; its exit status."""
    return killed_at_marker(["-m", "tests.crash", hook, str(marker), *args], marker, timeout)


def killed_at_marker(args: list[str], marker: Path, timeout: float = 240) -> int:
    """Run ``python ARGS``, SIGKILL it once ``marker`` exists (it pauses there); its exit status."""
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=PROJECT_ROOT,
        env=_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + timeout
    try:
        while not marker.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"never paused: {process.stderr.read().decode(errors='replace')[-2000:]}"
                )
            time.sleep(0.1)
        process.send_signal(signal.SIGKILL)
        return process.wait(timeout=30)
    finally:
        process.kill()
        process.stderr.close()


def tiny_task(files: dict[str, Path], *extra: str) -> list[str]:
    """``train.py`` overrides of the toy sentiment task, 1 epoch, no progress bars."""
    return [
        "train.py",
        "experiment=none",
        "task=text_classification",
        f"task.train_file={files['train']}",
        f"task.validation_file={files['validation']}",
        f"task.test_file={files['test']}",
        "task.batch_size=16",
        "callbacks.rich_progress_bar=null",
        "trainer.enable_progress_bar=false",
        "+trainer.enable_model_summary=false",
        "trainer.max_epochs=1",
        "threads=1",
        *extra,
    ]


def elmo_task(files: dict[str, Path], cache_dir: Path, *extra: str) -> list[str]:
    return tiny_task(files, "encoder=elmo_mini", f"encoder.cache_dir={cache_dir}", *extra)


def flip_bytes(path: Path, count: int, start_fraction: float = 0.5) -> None:
    """Invert ``count`` bytes of ``path`` from ``start_fraction`` of its length on."""
    data = bytearray(path.read_bytes())
    start = int(len(data) * start_fraction)
    for index in range(start, min(start + count, len(data))):
        data[index] ^= 0xFF
    path.write_bytes(bytes(data))


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob(".*.tmp")) if folder.is_dir() else []


# --------------------------------------------------------------------------- shared runs


@dataclass
class World:
    root: Path
    files: dict[str, Path]
    run: Path  # a finished word-embedding run (2 epochs: best.ckpt, last.ckpt, metrics.csv, results.json)
    counter: list[int] = field(default_factory=lambda: [0])

    def folder(self, name: str) -> Path:
        self.counter[0] += 1
        path = self.root / f"{self.counter[0]:02d}_{name}"
        path.mkdir(parents=True)
        return path

    def copy_run(self, name: str) -> Path:
        target = self.folder(name) / "run"
        shutil.copytree(self.run, target)
        return target


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    root = tmp_path_factory.mktemp("faults")
    files = write_tiny_sentiment(root / "data")
    run = root / "trained"
    result = command(
        tiny_task(files, "encoder.dim=16", "trainer.max_epochs=2", f"hydra.run.dir={run}")
    )
    assert result.status == 0, result.output[-3000:]
    return World(root, files, run)


@pytest.fixture(scope="module")
def mini_run(world) -> tuple[Path, Path]:
    """A frozen ``elmo_mini`` run on the toy task that built its activation cache: (run, cache dir)."""
    folder = world.folder("mini_run")
    result = command(elmo_task(world.files, folder / "cache", f"hydra.run.dir={folder / 'run'}"))
    assert result.status == 0, result.output[-3000:]
    return folder / "run", folder / "cache"


# --------------------------------------------------------------------------- the rows


@dataclass
class Case:
    """What a row ran and what must hold."""

    result: Result
    status: int
    message: str  # a regular expression the output must match
    kept: dict[Path, bytes] = field(default_factory=dict)  # files that must still hold these bytes
    clean: list[Path] = field(default_factory=list)  # folders that must hold no temporary file


def snapshot(*paths: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in paths}


def full_disk_during_cache_build(world: World, request) -> Case:
    folder = world.folder("full_disk_cache")
    cache = folder / "cache"
    result = command(
        elmo_task(world.files, cache, f"hydra.run.dir={folder / 'run'}"), max_file_bytes=300_000
    )
    assert not list(cache.glob("*.h5")), "no partial cache file may stay"
    return Case(
        result,
        1,
        r"no space left to write \S+/elmo-\w+\.h5 \(needs about .*encoder\.cache_dir=",
        clean=[cache],
    )


def full_disk_during_embed(world: World, request) -> Case:
    folder = world.folder("full_disk_embed")
    text = folder / "sentences.txt"
    text.write_text(
        "".join(f"sentence number {i} is about a film that was quite good\n" for i in range(60))
    )
    output = folder / "out.h5"
    output.write_bytes(b"an earlier output")
    result = command(
        [
            "-m",
            "elmo_tasks.cli.embed",
            "--options",
            "mini",
            "--weights",
            "mini",
            "--input",
            str(text),
            "--output",
            str(output),
        ],
        max_file_bytes=200_000,
    )
    return Case(
        result,
        1,
        r"no space left to write \S+out\.h5 .*output=",
        kept=snapshot(output),
        clean=[folder],
    )


def full_disk_during_checkpoint(world: World, request) -> Case:
    folder = world.folder("full_disk_checkpoint")
    run = folder / "run"
    limit = (
        "+callbacks.full_disk={_target_:tests.crash.LimitFileSizeAtEpoch,epoch:1,max_bytes:8192}"
    )
    result = command(
        tiny_task(
            world.files, "encoder.dim=16", "trainer.max_epochs=2", limit, f"hydra.run.dir={run}"
        )
    )
    last = run / "checkpoints" / "last.ckpt"
    assert last.is_file() and file_sha256(last) in read_sidecar(last), (
        "the epoch-0 checkpoint must stay intact"
    )
    assert torch.load(last, weights_only=True)["epoch"] == 0
    return Case(
        result,
        1,
        r"no space left to write \S+\.ckpt .*hydra\.run\.dir=",
        clean=[run / "checkpoints"],
    )


def _predict_input(folder: Path, lines: list[bytes]) -> Path:
    path = folder / "input.txt"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def full_disk_during_predict_output(world: World, request) -> Case:
    folder = world.folder("full_disk_predict")
    source = _predict_input(folder, [b"a good and lovely film"] * 40)
    output = folder / "predictions.jsonl"
    output.write_text('{"earlier": "predictions"}\n')
    result = command(
        [
            "-m",
            "elmo_tasks.cli.predict",
            f"run_dir={world.run}",
            f"input={source}",
            f"output={output}",
        ],
        max_file_bytes=2_000,
    )
    return Case(
        result,
        1,
        r"no space left to write \S+predictions\.jsonl.*output=",
        kept=snapshot(output),
        clean=[folder],
    )


def invalid_utf8_into_predict_with_existing_output(world: World, request) -> Case:
    folder = world.folder("bad_utf8_file")
    source = _predict_input(folder, [b"a good film", b"a bad \xff film", b"a dull film"])
    output = folder / "predictions.jsonl"
    output.write_text('{"earlier": "predictions"}\n')
    result = command(
        [
            "-m",
            "elmo_tasks.cli.predict",
            f"run_dir={world.run}",
            f"input={source}",
            f"output={output}",
        ]
    )
    return Case(
        result, 1, r"input\.txt, line 2: not valid utf-8 .*encoding=latin-1", kept=snapshot(output)
    )


def invalid_utf8_on_predict_stdin(world: World, request) -> Case:
    result = command(
        ["-m", "elmo_tasks.cli.predict", f"run_dir={world.run}", "input=-"],
        stdin=b"a good film\na bad \xff film\na dull film\n",
    )
    answered = [json.loads(line) for line in result.stdout.splitlines()]
    assert [record["text"] for record in answered] == ["a good film"], (
        "the line before the bad one is answered"
    )
    return Case(result, 1, r"stdin, line 2: not valid utf-8")


def sigkill_during_cache_build_then_rerun(world: World, request) -> Case:
    folder = world.folder("kill_cache_build")
    cache = folder / "cache"
    args = elmo_task(world.files, cache, f"hydra.run.dir={folder / 'run'}")
    assert killed_while_paused("cache", folder / "paused", args) == -signal.SIGKILL
    assert temporaries(cache), (
        "the killed build leaves its temporary file (what the next run removes)"
    )
    result = command(args)
    return Case(result, 0, r"removed \S+\.tmp .*killed.*\n(.|\n)*results:", clean=[cache])


def sigkill_mid_epoch_then_resume(world: World, request) -> Case:
    folder = world.folder("kill_mid_epoch")
    run = folder / "run"
    args = tiny_task(
        world.files,
        "encoder.dim=16",
        "trainer.max_epochs=2",
        "trainer.log_every_n_steps=1",
        "callbacks.last_checkpoint.every_n_train_steps=2",
        f"hydra.run.dir={run}",
    )
    pause = (
        f"+callbacks.pause={{_target_:tests.crash.PauseAtStep,step:5,marker:{folder / 'paused'}}}"
    )
    assert killed_at_marker([*args, pause], folder / "paused") == -signal.SIGKILL
    last = run / "checkpoints" / "last.ckpt"
    assert (
        file_sha256(last) in read_sidecar(last)
        and torch.load(last, weights_only=True)["global_step"] == 4
    )
    before = snapshot(run / "metrics.csv")  # rows of epoch 0 and the steps after it
    result = command([*args, "ckpt_path=last"])
    kept = {
        run / "metrics.before_resume_1.csv": before[run / "metrics.csv"]
    }  # the rows logged before the kill
    assert json.loads((run / "results.json").read_text())["val"], "the resumed run finished"
    return Case(result, 0, r"resuming from \S+last\.ckpt", kept=kept, clean=[run / "checkpoints"])


def concurrent_runs_on_one_cache(world: World, request) -> Case:
    folder = world.folder("concurrent")
    cache = folder / "cache"
    processes = [
        subprocess.Popen(
            [sys.executable, *elmo_task(world.files, cache, f"hydra.run.dir={folder / name}")],
            cwd=PROJECT_ROOT,
            env=_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for name in ("a", "b")
    ]
    outputs = [
        process.communicate(timeout=300)[0].decode(errors="replace") for process in processes
    ]
    statuses = [process.returncode for process in processes]
    results = [
        json.loads((folder / name / "results.json").read_text())
        for name in ("a", "b")
        if statuses == [0, 0]
    ]
    assert (
        len(results) == 2
        and results[0]["val"] == results[1]["val"]
        and results[0]["test"] == results[1]["test"]
    )
    assert len(list(cache.glob("*.h5"))) == 3, "one cache file per split, built once"
    return Case(
        Result(max(statuses), "\n".join(outputs)), 0, r"ELMo activation cache hit", clean=[cache]
    )


def _damaged_cache_rerun(
    world: World, mini_run: tuple[Path, Path], name: str, damage: Callable[[Path], None]
) -> Case:
    run, built = mini_run
    folder = world.folder(name)
    cache = folder / "cache"
    shutil.copytree(built, cache)
    damage(max(cache.glob("*.h5"), key=lambda p: p.stat().st_size))
    result = command(elmo_task(world.files, cache, f"hydra.run.dir={folder / 'run'}"))
    before = json.loads((run / "results.json").read_text())
    after = json.loads((folder / "run" / "results.json").read_text())
    assert (after["val"], after["test"]) == (before["val"], before["test"]), (
        "the rebuilt cache gives the same metrics"
    )
    return Case(
        result, 0, r"rebuilding ELMo activation cache: .*(checksum|corrupted)", clean=[cache]
    )


def truncated_cache_is_rebuilt(world: World, request) -> Case:
    mini = request.getfixturevalue("mini_run")
    return _damaged_cache_rerun(
        world,
        mini,
        "truncated_cache",
        lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]),
    )


def byte_flipped_cache_is_rebuilt(world: World, request) -> Case:
    mini = request.getfixturevalue("mini_run")
    return _damaged_cache_rerun(world, mini, "flipped_cache", lambda path: flip_bytes(path, 64))


def _resume_with_damage(world: World, name: str, *damaged: str) -> tuple[Result, Path, dict]:
    """Resume a copy of the trained run (another max_epochs, ckpt_path=last) after truncating
    the checkpoints named ``damaged``: (the result, the run, every file of the run before)."""
    run = world.copy_run(name)
    for checkpoint in damaged:
        path = run / "checkpoints" / checkpoint
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    kept = snapshot(*(p for p in sorted(run.rglob("*")) if p.is_file()))
    assert run / ".hydra" / "overrides.yaml" in kept and run / "train.log" in kept
    result = command(
        tiny_task(
            world.files,
            "encoder.dim=16",
            "trainer.max_epochs=3",
            "ckpt_path=last",
            f"hydra.run.dir={run}",
        )
    )
    after = sorted(p for p in run.rglob("*") if p.is_file())
    assert after == sorted(kept), "the failed resume created or removed files"
    return result, run, kept


def truncated_checkpoint_resume_leaves_the_run(world: World, request) -> Case:
    result, run, kept = _resume_with_damage(world, "truncated_resume", "last.ckpt")
    assert not list(run.glob("metrics.*resume*.csv")), "metrics.csv stays where it was"
    return Case(result, 1, r"cannot resume: .*last\.ckpt.*\n.*ckpt_path=\S+best\.ckpt", kept=kept)


def damaged_last_and_best_resume_suggests_neither(world: World, request) -> Case:
    result, run, kept = _resume_with_damage(world, "both_damaged", "last.ckpt", "best.ckpt")
    assert "ckpt_path=" not in result.output.split("cannot resume:")[-1], "nothing to resume from"
    return Case(
        result,
        1,
        r"cannot resume: .*last\.ckpt.*\n.*best\.ckpt cannot be used either: .*best\.ckpt.*"
        r"There is no other usable checkpoint in \S+checkpoints: drop ckpt_path",
        kept=kept,
    )


def empty_checkpoint_into_predict(world: World, request) -> Case:
    folder = world.folder("empty_checkpoint")
    empty = folder / "empty.ckpt"
    empty.write_bytes(b"")
    source = _predict_input(folder, [b"a good film"])
    result = command(
        [
            "-m",
            "elmo_tasks.cli.predict",
            f"run_dir={world.run}",
            f"input={source}",
            f"checkpoint={empty}",
        ]
    )
    return Case(result, 1, r"cannot read checkpoint \S+empty\.ckpt: the file is empty \(0 bytes\)")


def byte_flipped_checkpoint_into_predict(world: World, request) -> Case:
    run = world.copy_run("flipped_checkpoint")
    best = run / "checkpoints" / "best.ckpt"
    flip_bytes(best, 16, 0.5)
    source = _predict_input(run.parent, [b"a good film"])
    result = command(["-m", "elmo_tasks.cli.predict", f"run_dir={run}", f"input={source}"])
    return Case(
        result,
        1,
        r"checkpoint \S+best\.ckpt does not match the SHA-256 recorded in \S+best\.ckpt\.sha256.*"
        r"verify=false",
        kept=snapshot(best),
    )


def byte_flipped_weights_into_embed(world: World, request) -> Case:
    folder = world.folder("flipped_weights")
    for name in ("options.json", "options.json.sha256", "weights.hdf5", "weights.hdf5.sha256"):
        shutil.copy(MINI / name, folder / name)
    flip_bytes(folder / "weights.hdf5", 256, 0.6)
    text = folder / "sentences.txt"
    text.write_text("a good film\n")
    result = command(
        [
            "-m",
            "elmo_tasks.cli.embed",
            "--options",
            str(folder / "options.json"),
            "--weights",
            str(folder / "weights.hdf5"),
            "--input",
            str(text),
            "--output",
            str(folder / "out.h5"),
        ]
    )
    assert not (folder / "out.h5").exists()
    return Case(
        result, 1, r"ELMo weights file \S+weights\.hdf5 does not match the SHA-256.*verify=false"
    )


def truncated_weights_without_checksum_into_embed(world: World, request) -> Case:
    folder = world.folder("truncated_weights")
    shutil.copy(MINI / "options.json", folder / "options.json")
    weights = folder / "weights.hdf5"  # made elsewhere: no .sha256 beside it
    weights.write_bytes((MINI / "weights.hdf5").read_bytes()[:100_000])
    text = folder / "sentences.txt"
    text.write_text("a good film\n")
    output = folder / "out.h5"
    output.write_bytes(b"an earlier output")
    result = command(
        [
            "-m",
            "elmo_tasks.cli.embed",
            "--options",
            str(folder / "options.json"),
            "--weights",
            str(weights),
            "--input",
            str(text),
            "--output",
            str(output),
        ]
    )
    return Case(
        result,
        1,
        r"\S+weights\.hdf5: not a readable hdf5 file",
        kept=snapshot(output),
        clean=[folder],
    )


def sigkill_during_export_keeps_the_previous_export(world: World, request) -> Case:
    checkpoint = request.getfixturevalue("pretrain_checkpoint")
    folder = world.folder("kill_export")
    export = folder / "export"
    first = command(["-m", "elmo_tasks.cli.pretrain_export", str(checkpoint), str(export)])
    assert first.status == 0, first.output[-3000:]
    kept = snapshot(*sorted(export.iterdir()))
    status = killed_while_paused(
        "export",
        folder / "paused",
        ["-m", "elmo_tasks.cli.pretrain_export", str(checkpoint), str(export)],
    )
    assert status == -signal.SIGKILL
    assert snapshot(*kept) == kept and temporaries(export), (
        "the old export is intact beside the killed temporary"
    )
    for name in ("weights.hdf5", "options.json"):
        assert file_sha256(export / name) in read_sidecar(export / name)
    result = command(["-m", "elmo_tasks.cli.pretrain_export", str(checkpoint), str(export)])
    return Case(result, 0, r"options_file=\S+options\.json weight_file=", clean=[export])


def unwritable_cache_dir(world: World, request) -> Case:
    folder = world.folder("unwritable_cache")
    blocker = folder / "a_file"
    blocker.write_text("not a folder")
    result = command(elmo_task(world.files, blocker / "cache", f"hydra.run.dir={folder / 'run'}"))
    return Case(
        result,
        2,
        r"encoder\.cache_dir=\S+a_file/cache: cannot create the folder, \S+a_file is a file",
        kept=snapshot(blocker),
    )


def unwritable_run_dir(world: World, request) -> Case:
    folder = world.folder("unwritable_run")
    blocker = folder / "a_file"
    blocker.write_text("not a folder")
    result = command(tiny_task(world.files, f"hydra.run.dir={blocker / 'run'}"))
    return Case(
        result,
        2,
        r"hydra\.run\.dir=\S+a_file/run: cannot create the folder",
        kept=snapshot(blocker),
    )


def bad_values_stop_before_any_cache(world: World, request) -> Case:
    folder = world.folder("bad_values")
    cache = folder / "cache"
    result = command(
        elmo_task(
            world.files,
            cache,
            "trainer.max_epochs=abc",
            "optim.optimizer.lr=-1",
            "task.max_train_samples=-5",
            f"hydra.run.dir={folder / 'run'}",
        )
    )
    assert not cache.exists(), "nothing is built before the values are checked"
    return Case(
        result,
        2,
        r"trainer\.max_epochs='abc': must be a whole number(.|\n)*optim\.optimizer\.lr=-1: must be "
        r"greater than 0(.|\n)*task\.max_train_samples=-5: must be at least 1",
    )


LONG_LINE = ("word " * 20_000)[:100_000].encode()  # 100,000 characters, 20,000 tokens


def long_line_into_predict(world: World, request) -> Case:
    folder = world.folder("long_line_predict")
    source = _predict_input(folder, [b"a good film", LONG_LINE, b"a dull film"])
    output = folder / "predictions.jsonl"
    output.write_text('{"earlier": "predictions"}\n')
    result = command(
        [
            "-m",
            "elmo_tasks.cli.predict",
            f"run_dir={world.run}",
            f"input={source}",
            f"output={output}",
        ]
    )
    return Case(
        result,
        1,
        r"input\.txt, line 2: 20000 tokens, more than max_tokens=4096; .*max_tokens=20000",
        kept=snapshot(output),
    )


def long_line_on_predict_stdin(world: World, request) -> Case:
    result = command(
        ["-m", "elmo_tasks.cli.predict", f"run_dir={world.run}", "input=-", "max_tokens=100"],
        stdin=b"a good film\n" + LONG_LINE + b"\na dull film\n",
    )
    answered = [json.loads(line) for line in result.stdout.splitlines()]
    assert [record["text"] for record in answered] == ["a good film"], "the line before is answered"
    return Case(result, 1, r"stdin, line 2: 20000 tokens, more than max_tokens=100")


def long_line_into_embed(world: World, request) -> Case:
    folder = world.folder("long_line_embed")
    text = folder / "sentences.txt"
    text.write_bytes(b"a good film\n" + LONG_LINE + b"\n")
    output = folder / "out.h5"
    output.write_bytes(b"an earlier output")
    args = ["options=mini", "weights=mini", f"input={text}", f"output={output}"]
    result = command(["-m", "elmo_tasks.cli.embed", *args])
    return Case(
        result,
        1,
        r"sentences\.txt, line 2: 20000 tokens, more than max_tokens=4096",
        kept=snapshot(output),
        clean=[folder],
    )


def long_line_into_evaluate(world: World, request) -> Case:
    folder = world.folder("long_line_evaluate")
    labelled = folder / "labelled.csv"
    labelled.write_bytes(b"text,label\na good film,pos\n" + LONG_LINE + b",neg\n")
    report = folder / "report.json"
    result = command(
        [
            "-m",
            "elmo_tasks.cli.evaluate",
            f"run_dir={world.run}",
            f"input={labelled}",
            f"output={report}",
        ]
    )
    assert not report.exists(), "no report"
    # evaluate: an input it cannot score is a usage mistake (exit status 2, docs/evaluate.md)
    return Case(result, 2, r"labelled\.csv, line 3: 20000 tokens, more than max_tokens=4096")


def single_class_training_file(world: World, request) -> Case:
    folder = world.folder("single_class")
    train = folder / "train.csv"
    train.write_text("text,label\n" + "".join(f"a fine film number {i},pos\n" for i in range(20)))
    files = {**world.files, "train": train}
    result = command(tiny_task(files, f"hydra.run.dir={folder / 'run'}"))
    assert not (folder / "run" / "checkpoints").exists(), "stopped before training"
    return Case(
        result,
        2,
        r"error: \S+train\.csv: every training example has the label 'pos' \(column label\); a "
        r"classifier needs at least two classes",
    )


def tagging_file_with_only_o(world: World, request) -> Case:
    folder = world.folder("only_o")
    train = folder / "train.conll"
    train.write_text("".join(f"the O\nfilm{i} O\n\n" for i in range(20)))
    args = [
        "train.py",
        "experiment=none",
        "task=token_classification",
        "head=tagger_softmax",
        f"task.train_file={train}",
        "callbacks.rich_progress_bar=null",
        "trainer.enable_progress_bar=false",
        "threads=1",
        f"hydra.run.dir={folder / 'run'}",
    ]
    result = command(args)
    assert not (folder / "run" / "checkpoints").exists(), "stopped before training"
    return Case(
        result, 2, r"\S+train\.conll: every token is tagged 'O': no entity to learn; a tagger needs"
    )


ROWS: list = [
    pytest.param(full_disk_during_cache_build, marks=pytest.mark.slow),
    full_disk_during_embed,
    pytest.param(full_disk_during_checkpoint, marks=pytest.mark.slow),
    full_disk_during_predict_output,
    invalid_utf8_into_predict_with_existing_output,
    invalid_utf8_on_predict_stdin,
    pytest.param(sigkill_during_cache_build_then_rerun, marks=pytest.mark.slow),
    pytest.param(sigkill_mid_epoch_then_resume, marks=pytest.mark.slow),
    pytest.param(concurrent_runs_on_one_cache, marks=pytest.mark.slow),
    pytest.param(truncated_cache_is_rebuilt, marks=pytest.mark.slow),
    pytest.param(byte_flipped_cache_is_rebuilt, marks=pytest.mark.slow),
    truncated_checkpoint_resume_leaves_the_run,
    damaged_last_and_best_resume_suggests_neither,
    empty_checkpoint_into_predict,
    byte_flipped_checkpoint_into_predict,
    byte_flipped_weights_into_embed,
    truncated_weights_without_checksum_into_embed,
    pytest.param(sigkill_during_export_keeps_the_previous_export, marks=pytest.mark.slow),
    unwritable_cache_dir,
    unwritable_run_dir,
    bad_values_stop_before_any_cache,
    long_line_into_predict,
    long_line_on_predict_stdin,
    long_line_into_embed,
    long_line_into_evaluate,
    single_class_training_file,
    tagging_file_with_only_o,
]


@pytest.fixture(scope="module")
def pretrain_checkpoint(world) -> Path:
    """The last checkpoint of a 3-step pretraining run of the tiny biLM."""
    from elmo_tasks.pretraining.run import compose_pretrain_config
    from elmo_tasks.pretraining.run import run as pretrain

    corpus = world.folder("corpus")
    lines = [" ".join(f"w{(i * 7 + j) % 23}" for j in range(6)) for i in range(80)]
    (corpus / "train.txt").write_text("\n".join(lines) + "\n")
    cfg = compose_pretrain_config(
        corpus / "run",
        [
            "model=tiny",
            f"data.train_files={corpus / 'train.txt'}",
            "data.validation_files=null",
            "data.test_files=null",
            "data.batch_size=4",
            "data.unroll_steps=5",
            "trainer.max_steps=2",
            "trainer.enable_progress_bar=false",
            "+trainer.enable_model_summary=false",
        ],
    )
    pretrain(cfg)
    return corpus / "run" / "checkpoints" / "last.ckpt"


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.__name__)
def test_fault(row, world, request):
    case = row(world, request)
    output = case.result.output
    assert case.result.status == case.status, (
        f"exit status {case.result.status}, expected {case.status}:\n{output[-4000:]}"
    )
    assert not any(marker in output for marker in TRACEBACK_MARKERS), output[-4000:]
    import re

    assert re.search(case.message, output), f"{case.message!r} not in:\n{output[-4000:]}"
    for path, data in case.kept.items():
        assert path.is_file() and path.read_bytes() == data, f"{path} was changed or removed"
    for folder in case.clean:
        assert not temporaries(folder), f"temporary files left in {folder}: {temporaries(folder)}"
