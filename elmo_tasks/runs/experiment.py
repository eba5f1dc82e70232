"""One experiment from a composed config: data -> encoder -> task -> trainer -> results.json."""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from elmo_tasks.core.atomic import atomic_open, atomic_write_text
from elmo_tasks.core.checkpoint_io import AtomicCheckpointIO
from elmo_tasks.core.integrity import set_verification
from elmo_tasks.core.litter import remove_stale_temporaries
from elmo_tasks.core.resume import (
    RandomStateCheckpoint,
    check_resumable,
    keep_metrics_before_resume,
    resolve_ckpt_path,
)
from elmo_tasks.core.run_files import training_started
from elmo_tasks.core.sweeps import check_not_ddp_multirun
from elmo_tasks.core.threads import ThreadShare, apply_threads, is_adaptive
from elmo_tasks.core.trust import code_modules
from elmo_tasks.results.run_summary import show_run_results
from elmo_tasks.runs import outcome, preflight, signals
from elmo_tasks.runs.contracts import TASK_MODULES
from elmo_tasks.runs.loggers import build_loggers, finish_loggers
from elmo_tasks.search.pruning import pruning_callback
from elmo_tasks.tasks.parts import plain_config

log = logging.getLogger(__name__)


def _overrides() -> list[str]:
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def _train_arguments() -> list[str]:
    """The ``train.py`` arguments that make this run again: the user's config folders
    (``--config-dir``, and ``hydra.searchpath`` entries given on the command line, made absolute)
    and the overrides; the run folder is left out."""
    if not HydraConfig.initialized():
        return []
    runtime = HydraConfig.get().runtime
    arguments, searchpath = [], []
    for source in runtime.config_sources:
        if source.provider == "command-line":
            arguments += ["--config-dir", str(source.path)]
        elif str(source.provider).startswith("hydra.searchpath in command-line"):
            path = str(source.path)
            if source.schema == "file":
                path = str((Path(runtime.cwd) / path).resolve())
            searchpath.append(f"{source.schema}://{path}")
    if searchpath:
        arguments.append(f"hydra.searchpath=[{','.join(searchpath)}]")
    return arguments + _overrides()


def _split_metrics(results: list[dict[str, float]], split: str) -> dict[str, float]:
    metrics = {}
    for key, value in (results[0] if results else {}).items():
        name = key.split("/", 1)[1] if key.startswith(f"{split}/") else None
        if name and name != "loss":
            metrics[name] = float(value)
    return metrics


def build(
    cfg: DictConfig, data_state: dict | None = None
) -> tuple[pl.LightningDataModule, pl.LightningModule]:
    """The data module (set up) and the LightningModule of ``cfg``. With ``data_state`` (what a
    checkpoint saved of the training data: vocabulary, labels) no data is read."""
    datamodule = hydra.utils.instantiate(cfg.task)
    if data_state is None:
        datamodule.setup("fit")
    else:
        datamodule.load_trained_state(data_state)
    # The task builds its parts from their configs and saves them as hyperparameters, so that
    # ``TaskClass.load_from_checkpoint(path)`` rebuilds it without this config.
    scheduler = plain_config(cfg.optim.scheduler) if cfg.optim.get("scheduler") else None
    module_class = TASK_MODULES[datamodule.kind]
    param_groups = cfg.optim.get("param_groups")
    model = module_class(
        plain_config(cfg.encoder),
        plain_config(cfg.head),
        plain_config(cfg.optim.optimizer),
        scheduler=scheduler,
        main_metric=cfg.task.main_metric,
        vocabulary=datamodule.vocabulary,
        param_groups=OmegaConf.to_container(param_groups, resolve=True) if param_groups else None,
        **datamodule.module_kwargs(),
    )
    if getattr(model.encoder, "wants_sentences", False):
        model.encoder.prepare_cache(datamodule.sentences())
    model.data_state = datamodule.trained_state()
    return datamodule, model


def build_callbacks(cfg: DictConfig) -> list[pl.Callback]:
    """The configured callbacks; with ``trainer.enable_progress_bar=false`` without the progress
    bar (Lightning refuses a progress bar callback then), so that one key turns it off."""
    callbacks = [
        hydra.utils.instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None
    ]
    if cfg.get("trainer") is not None and cfg.trainer.get("enable_progress_bar", True) is False:
        callbacks = [c for c in callbacks if not isinstance(c, pl.callbacks.ProgressBar)]
    return callbacks


@signals.reports_sigterm  # SIGTERM: last.ckpt, one message naming ckpt_path=last, exit 143
def run(cfg: DictConfig) -> float | None:
    """Train, validate and test the best checkpoint; write results.json; return the main
    validation metric (what sweepers optimise)."""
    check_not_ddp_multirun(cfg)
    preflight.check(
        cfg
    )  # missing data/weights, bad values, hub offline, no CUDA: one clear message first
    set_verification(cfg.get("verify_checksums", True))
    threads = apply_threads(cfg.get("threads"))  # fixed for the run (unless threads=adaptive)
    start = time.perf_counter()
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(cfg.seed, workers=True)
    datamodule, model = build(cfg)

    callbacks = build_callbacks(cfg)
    loggers = build_loggers(cfg.get("logger"))
    if not loggers:
        callbacks = [c for c in callbacks if not isinstance(c, pl.callbacks.LearningRateMonitor)]
    callbacks.append(RandomStateCheckpoint())  # exact resumes: the RNG states go into checkpoints
    if is_adaptive(cfg.get("threads")):
        callbacks.append(ThreadShare())  # opt-in: follow the runs that start or end here
    pruning = pruning_callback(f"val/{cfg.task.main_metric}")  # a trial of an Optuna search
    if pruning is not None:
        callbacks.append(pruning)
    # Checkpoints are written atomically. The bucketing batch sampler splits the data between
    # DDP processes itself, so Lightning must not inject its DistributedSampler.
    trainer: pl.Trainer = hydra.utils.instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=loggers or False,
        plugins=[AtomicCheckpointIO()],
        use_distributed_sampler=False,
    )

    checkpoint_dir = (
        getattr(trainer.checkpoint_callback, "dirpath", None) or output_dir / "checkpoints"
    )
    remove_stale_temporaries(
        checkpoint_dir
    )  # left by a run of this folder that was killed mid-write
    ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), checkpoint_dir, trainer.default_root_dir)
    kept = None
    if ckpt_path:
        # Unreadable, or naming code this run's own config does not: say so before the run
        # folder is touched.
        check_resumable(ckpt_path, checkpoint_dir, trust=code_modules(cfg))
        if trainer.is_global_zero:
            kept = keep_metrics_before_resume(
                output_dir
            )  # the CSV logger would delete the rows logged so far
    # The resolved config as the run's hyperparameters (W&B, MLflow, hparams.yaml ...); after the
    # lines above, since the CSV logger clears metrics.csv when first used.
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    training_started()  # a failure from here on keeps the job's log
    signals.watch_training(trainer, output_dir, _train_arguments())
    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    except BaseException as error:  # diverged, stopped, failed: runs/outcome.py says what stays
        outcome.after_failed_fit(error, cfg, trainer, output_dir, kept, _overrides())
        raise
    has_best = trainer.checkpoint_callback is not None and bool(
        trainer.checkpoint_callback.best_model_path
    )
    ckpt = (
        trainer.checkpoint_callback.best_model_path if has_best else None
    )  # the best of model_checkpoint
    val = _split_metrics(
        trainer.validate(
            model, datamodule=datamodule, ckpt_path=ckpt, verbose=False, weights_only=True
        ),
        "val",
    )
    test = {}
    pruned = pruning is not None and pruning.pruned_at is not None  # stopped as hopeless: no test
    if cfg.get("test") and not pruned and datamodule.files.get("test") is not None:
        test = _split_metrics(
            trainer.test(
                model, datamodule=datamodule, ckpt_path=ckpt, verbose=False, weights_only=True
            ),
            "test",
        )

    finish_loggers(loggers)
    main_metric = cfg.task.main_metric
    value = val.get(main_metric)
    value = None if value is None or math.isnan(value) else value
    if not trainer.is_global_zero:  # DDP: metrics are synced; rank 0 alone writes the run's files
        return value

    if hasattr(model, "write_predictions") and test:
        model.write_predictions(output_dir, datamodule)

    results: dict[str, Any] = {
        "status": outcome.PRUNED if pruned else outcome.COMPLETED,
        **({"pruned": pruning.record()} if pruned else {}),
        "task": cfg.task.name,
        "data": datamodule.data_source() if hasattr(datamodule, "data_source") else None,
        "encoder": cfg.encoder._target_.rsplit(".", 1)[-1],
        "head": cfg.head._target_.rsplit(".", 1)[-1],
        "seed": cfg.seed,
        "val": val,
        "test": test,
        "main_metric": main_metric,
        "params": {
            "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "total": sum(p.numel() for p in model.parameters()),
        },
        "wall_time_s": round(time.perf_counter() - start, 3),
        "threads": threads,
        "threads_adaptive": is_adaptive(cfg.get("threads")),
        "train_tokens_per_s": round(model.train_tokens / model.train_seconds, 1)
        if model.train_seconds
        else None,
        "config_overrides": _overrides(),
        "train_arguments": _train_arguments(),
        "code_modules": code_modules(cfg),
        "best_checkpoint": trainer.checkpoint_callback.best_model_path if has_best else None,
    }
    atomic_write_text(output_dir / "results.json", json.dumps(results, indent=2) + "\n")
    with atomic_open(output_dir / "config_resolved.yaml", "w", encoding="utf-8") as handle:
        OmegaConf.save(cfg, handle, resolve=True)
    log.info("results: %s", output_dir / "results.json")
    show_run_results(results, output_dir / "results.json")  # the scores, as a table
    return value
