"""Pretrain your own ELMo biLM on raw text (``python -m elmo_tasks.pretrain model=mini``).

Hydra composes conf/pretrain.yaml (model presets in conf/pretrain/model/); see
docs/pretraining.md. The run folder gets the vocabulary, checkpoints, metrics.csv and,
at the end, ``export_dir`` with options.json + weights.hdf5 ready for ``encoder=elmo``.
Returns the final validation perplexity (what sweepers minimise).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from elmo_tasks.core.atomic import atomic_open
from elmo_tasks.core.checkpoint_io import AtomicCheckpointIO
from elmo_tasks.core.checks import Problem
from elmo_tasks.core.integrity import set_verification
from elmo_tasks.core.lightning_noise import quiet_lightning
from elmo_tasks.core.paths import DEFAULT_PROJECT_ROOT, config_dir
from elmo_tasks.core.resume import LastCheckpoint, RandomStateCheckpoint, check_resumable
from elmo_tasks.data.sources import check_task_values
from elmo_tasks.elmo.hub import resolve
from elmo_tasks.elmo.options import load_options
from elmo_tasks.elmo.weights import load_weights
from elmo_tasks.encoders.file_checks import elmo_files_problem
from elmo_tasks.pretraining.corpus import LmDataModule
from elmo_tasks.pretraining.export import export_pretrained
from elmo_tasks.pretraining.language_model import BiLmPretrainer, read_checkpoint
from elmo_tasks.pretraining.text import (
    build_vocabulary,
    pretrain_data_problem,
    read_vocabulary,
    resolve_files,
    write_vocabulary,
)
from elmo_tasks.runs import preflight, signals
from elmo_tasks.runs.config import register_resolvers
from elmo_tasks.runs.loggers import build_loggers, finish_loggers
from elmo_tasks.runs.progress import with_progress_bar

log = logging.getLogger(__name__)

CONFIG_DIR = config_dir()
CONFIG_NAME = "pretrain"

register_resolvers(DEFAULT_PROJECT_ROOT)
quiet_lightning()  # the litlogger tip and a torch deprecation inside Lightning


def compose_pretrain_config(output_dir: str | Path, overrides: list[str] = ()) -> DictConfig:
    """``conf/pretrain.yaml`` composed outside Hydra's entry point (tests, notebooks), with
    the run folder ``output_dir``."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(
            CONFIG_NAME,
            overrides=[
                f"paths.output_dir={output_dir}",
                f"paths.log_dir={output_dir}/logs",
                *overrides,
            ],
        )


def load_or_build_vocabulary(cfg: DictConfig, train_files: list[Path]) -> list[str]:
    """``data.vocab_file`` if set, else the vocabulary of the checkpoint being resumed, else
    one built from the training files (``data.min_count``, ``data.max_vocab_size``)."""
    data = cfg.data
    if data.get("vocab_file"):
        return read_vocabulary(data.vocab_file)
    ckpt = cfg.get("ckpt_path")
    if ckpt and Path(str(ckpt)).is_file():
        return list(read_checkpoint(ckpt)["pretrain"]["vocabulary"])
    return build_vocabulary(
        train_files, data.min_count, data.max_vocab_size, data.tokenizer, data.lowercase
    )


def model_options(cfg: DictConfig) -> dict[str, Any]:
    """The biLM architecture: ``model.options``, or the options of ``model.init_from``."""
    init_from = cfg.model.get("init_from")
    if init_from:
        path = resolve(init_from.options_file, "options")
        log.info("model.init_from: architecture and weights from %s (model.options ignored)", path)
        return load_options(path).to_dict()
    return OmegaConf.to_container(cfg.model.options, resolve=True)


def build_pretrainer(
    cfg: DictConfig, vocabulary: list[str], corpus: dict[str, Any]
) -> BiLmPretrainer:
    """The LightningModule of ``cfg``, starting from ``model.init_from`` when given."""
    m = cfg.model
    optimizer = hydra.utils.instantiate(cfg.optim.optimizer)
    scheduler = hydra.utils.instantiate(cfg.optim.scheduler) if cfg.optim.get("scheduler") else None
    module = BiLmPretrainer(
        options=model_options(cfg),
        vocabulary=vocabulary,
        softmax=m.softmax,
        num_samples=m.num_samples,
        cutoffs=list(m.cutoffs),
        div_value=m.div_value,
        dropout=m.dropout,
        optimizer=optimizer,
        scheduler=scheduler,
        corpus=corpus,
    )
    if m.get("init_from") and not cfg.get("ckpt_path"):
        load_weights(module.bilm, resolve(m.init_from.weight_file, "weights"))
    return module


def pretraining_problems(cfg: DictConfig) -> list[Problem | None]:
    """Pretraining's own checks for the pre-flight step: the corpus settings and files, and the
    biLM files of ``model.init_from``."""
    problems: list[Problem | None] = [
        *check_task_values(cfg.data, "data"),
        pretrain_data_problem(cfg),
    ]
    init_from = cfg.model.get("init_from")
    if init_from:
        problems.append(elmo_files_problem(init_from, "model.init_from"))
    return problems


@signals.reports_sigterm  # SIGTERM: last.ckpt, one message naming ckpt_path=..., exit 143
def run(cfg: DictConfig) -> float | None:
    """Build the vocabulary, train, export; write the vocabulary and export into the run folder.
    A NaN or infinite loss stops it with status 3 and no export (tasks/divergence.py)."""
    # missing corpus/vocab/init_from files, bad values, CUDA absent: one clear message first
    preflight.check(cfg, command="python -m elmo_tasks.pretrain", extra=[pretraining_problems])
    set_verification(cfg.get("verify_checksums", True))
    if cfg.get("ckpt_path") and Path(str(cfg.ckpt_path)).is_file():
        check_resumable(str(cfg.ckpt_path), Path(str(cfg.ckpt_path)).parent)
    start = time.perf_counter()
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(cfg.seed, workers=True)
    data = cfg.data
    train_files = resolve_files(_plain(data.train_files), "data.train_files")
    validation_files = resolve_files(_plain(data.get("validation_files")), "data.validation_files")
    test_files = resolve_files(_plain(data.get("test_files")), "data.test_files")
    vocabulary = load_or_build_vocabulary(cfg, train_files)
    write_vocabulary(vocabulary, output_dir / "vocab.txt")
    log.info("vocabulary: %d words (%s)", len(vocabulary), output_dir / "vocab.txt")

    datamodule = LmDataModule(
        train_files=[str(f) for f in train_files],
        validation_files=[str(f) for f in validation_files] or None,
        vocabulary=vocabulary,
        batch_size=data.batch_size,
        unroll_steps=data.unroll_steps,
        tokenizer=data.tokenizer,
        lowercase=data.lowercase,
        num_workers=data.num_workers,
        batches_per_epoch=data.batches_per_epoch,
        shuffle=data.shuffle,
        shuffle_buffer=data.shuffle_buffer,
        seed=cfg.seed,
        test_files=[str(f) for f in test_files] or None,
    )
    corpus = {
        "train_files": [str(f.resolve()) for f in train_files],
        "validation_files": [str(f.resolve()) for f in validation_files],
        "test_files": [str(f.resolve()) for f in test_files],
    }
    model = build_pretrainer(cfg, vocabulary, corpus)

    callback_cfgs = OmegaConf.to_container(cfg.get("callbacks") or {}, resolve=True)
    if not validation_files and callback_cfgs.get("model_checkpoint"):
        callback_cfgs["model_checkpoint"]["monitor"] = None  # nothing to rank checkpoints by
    callbacks = [hydra.utils.instantiate(c) for c in callback_cfgs.values() if c is not None]
    callbacks.append(
        RandomStateCheckpoint()
    )  # dropout and sampled softmax draw the same numbers after a resume
    callbacks = with_progress_bar(callbacks, cfg.trainer)  # "Epoch N", not "Epoch N/-2"
    last = _last_checkpoint(callbacks)
    if last is not None:  # last.ckpt at each epoch end and on SIGTERM (at the step just trained)
        callbacks.append(LastCheckpoint(dirpath=last.parent))
    loggers = build_loggers(cfg.get("logger"))
    trainer: pl.Trainer = hydra.utils.instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=loggers or False,
        plugins=[AtomicCheckpointIO()],  # crash-safe checkpoints
    )
    program = "python -m elmo_tasks.pretrain"
    resume = signals.resume_command(program, _overrides(), None, last or "")
    signals.watch(trainer, last, resume, unwritten="export")
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"), weights_only=True)
    if validation_files and model.last_val_step != trainer.global_step:
        trainer.validate(
            model, datamodule=datamodule, verbose=False
        )  # perplexity of the final weights
    if test_files:
        trainer.test(
            model, datamodule=datamodule, verbose=False
        )  # held-out perplexity, once, at the end

    last_checkpoint = None
    if trainer.checkpoint_callback is not None:
        last_checkpoint = Path(trainer.checkpoint_callback.dirpath) / "last.ckpt"
        trainer.save_checkpoint(
            last_checkpoint, weights_only=False
        )  # the final state, whatever stopped training
    finish_loggers(loggers)
    if trainer.is_global_zero:
        info = {
            "steps": trainer.global_step,
            "epochs": trainer.current_epoch,
            "train_tokens_per_s": round(model.train_tokens / model.train_seconds, 1)
            if model.train_seconds
            else None,
            "wall_time_s": round(time.perf_counter() - start, 3),
            "checkpoint": str(last_checkpoint) if last_checkpoint else None,
            "config_overrides": _overrides(),
        }
        export_pretrained(model, cfg.export_dir, info)
        with atomic_open(output_dir / "config_resolved.yaml", "w", encoding="utf-8") as handle:
            OmegaConf.save(cfg, handle, resolve=True)
        log.info(
            "export: %s",
            json.dumps(
                {
                    "options_file": f"{cfg.export_dir}/options.json",
                    "weight_file": f"{cfg.export_dir}/weights.hdf5",
                }
            ),
        )
        print(final_summary(model.last_val, model.last_test, trainer.global_step, cfg.export_dir))
    return model.last_val.get("val/ppl")


def _perplexities(values: dict[str, float], split: str) -> str | None:
    """``12.04 (forward 12.11, backward 11.97)`` of ``split``'s logged values, or None."""
    if values.get(f"{split}/ppl") is None:
        return None
    text = f"{float(values[f'{split}/ppl']):.2f}"
    directions = [
        f"{name} {float(values[f'{split}/ppl_{name}']):.2f}"
        for name in ("forward", "backward")
        if values.get(f"{split}/ppl_{name}") is not None
    ]
    return f"{text} ({', '.join(directions)})" if directions else text


def final_summary(
    last_val: dict[str, float], last_test: dict[str, float], steps: int, export_dir: str
) -> str:
    """What a finished pretraining run prints: its perplexities (also in pretrain_info.json)
    and where the exported biLM is."""
    lines = [f"pretraining finished after {steps} steps"]
    for label, values, split in (
        ("validation perplexity", last_val, "val"),
        ("test perplexity", last_test, "test"),
    ):
        found = _perplexities(values, split)
        if found:
            lines.append(f"  {label}: {found}")
    if len(lines) == 1:
        lines.append("  no perplexity measured (set data.validation_files or data.test_files)")
    lines.append(f"  exported biLM: {export_dir}/options.json, {export_dir}/weights.hdf5")
    return "\n".join(lines)


def _last_checkpoint(callbacks: list[pl.Callback]) -> Path | None:
    """``checkpoints/last.ckpt`` beside the run's ModelCheckpoint (None when it has none)."""
    for callback in callbacks:
        if isinstance(callback, pl.callbacks.ModelCheckpoint) and callback.dirpath:
            return Path(callback.dirpath) / "last.ckpt"
    return None


def _plain(value: Any) -> Any:
    """A config value as plain Python (lists of a ListConfig), other values as they are."""
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def _overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
