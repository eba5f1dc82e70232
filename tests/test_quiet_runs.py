"""What a run prints and where it writes: Lightning's noise is gone, real warnings stay, and
outputs go to the folder the command runs in (not the checkout)."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import pytorch_lightning as pl

from elmo_tasks.runs.experiment import build
from elmo_tasks.runs.loggers import RunFolderCSVLogger
from tests.compose import compose_config
from tests.doc_pages import working_copy
from tests.tiny_runs import tiny_elmo, write_classification

# What every quickstart run printed and no user could act on.
NOISE = (
    "exists and is not empty",
    "Previous log files in this directory will be deleted",
    "litlogger",
    "module(s) in eval mode at the start of training",
    "LeafSpec",
    "You have overridden `transfer_batch_to_device`",
    "Epoch 0/-",
)


def _tiny_overrides(tmp_path: Path) -> list[str]:
    files = write_classification(tmp_path / "data", count=24)
    return [
        "experiment=none",
        "task=text_classification",
        f"task.train_file={files['train']}",
        f"task.validation_file={files['dev']}",
        f"task.test_file={files['dev']}",
        *tiny_elmo(tmp_path / "elmo"),  # a frozen biLM: its modules stay in eval mode
        "head=max",
        "trainer.max_epochs=1",
        "threads=1",
    ]


def test_a_run_from_another_folder_writes_there_and_prints_no_noise(tmp_path, data_dir):
    """``python -m elmo_tasks train`` from a fresh folder, default logger (CSV) and progress bar:
    outputs/ appears in that folder, nothing new in the checkout's outputs/, none of the noise,
    and Lightning's real advice (fewer batches than the logging interval) is still printed.
    The checkout is a copy of this one, which no other test (under pytest-xdist, running at the
    same time) writes into."""
    checkout = tmp_path / "checkout"
    working_copy(checkout, data_dir)
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    checkout_outputs = checkout / "outputs"
    before = set(checkout_outputs.rglob("*")) if checkout_outputs.is_dir() else set()
    env = {**os.environ, "PYTHONPATH": str(checkout), "HYDRA_FULL_ERROR": "1"}
    env.pop("ELMO_TASKS_EXTRA_OVERRIDES", None)
    result = subprocess.run(
        [sys.executable, "-m", "elmo_tasks", "train", *_tiny_overrides(tmp_path)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    results = list((cwd / "outputs" / "runs").glob("*/results.json"))
    assert len(results) == 1, output[-3000:]
    assert (results[0].parent / "metrics.csv").is_file()
    after = set(checkout_outputs.rglob("*")) if checkout_outputs.is_dir() else set()
    assert not after - before, sorted(after - before)[:5]
    for noise in NOISE:
        assert noise not in output, f"{noise!r} printed:\n{output[-3000:]}"
    assert "is smaller than the logging interval" in output  # a real warning still shows


def _fit(model: pl.LightningModule, datamodule: pl.LightningDataModule) -> list[str]:
    trainer = pl.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(model, datamodule=datamodule)
    return [str(w.message) for w in caught]


def test_eval_mode_warning_is_kept_for_modules_that_are_not_a_frozen_bilm(tmp_path):
    cfg = compose_config(tmp_path / "run", _tiny_overrides(tmp_path))
    datamodule, model = build(cfg)
    in_eval = [name for name, m in model.named_modules() if not m.training]
    assert in_eval and all(".bilm." in f"{name}." for name in in_eval)  # the frozen biLM
    assert not [m for m in _fit(model, datamodule) if "in eval mode" in m]

    datamodule, model = build(cfg)
    model.head.eval()  # by mistake: the head would train without dropout
    messages = [m for m in _fit(model, datamodule) if "in eval mode" in m]
    expected = len([m for m in model.modules() if not m.training])
    assert messages == [
        f"Found {expected} module(s) in eval mode at the start of training. This may lead to "
        "unexpected behavior during training. If this is intentional, you can ignore this warning."
    ]
    # The filter of a run is removed once training started: the next model is judged afresh.
    assert not [f for f in warnings.filters if "in eval mode" in str(f[1])]


def test_csv_logger_warns_only_when_it_replaces_metrics(tmp_path):
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / "train.log").write_text("hydra's log\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        logger = RunFolderCSVLogger(save_dir=run, name="", version="")
        logger.log_metrics({"val/accuracy": 0.5}, step=0)
        logger.save()
    assert not caught and (run / "metrics.csv").is_file() and (run / "train.log").is_file()
    with pytest.warns(UserWarning, match=r"metrics\.csv exists .* replaced by this run's"):
        assert RunFolderCSVLogger(save_dir=run, name="", version="").experiment is not None
    assert not (run / "metrics.csv").exists()
