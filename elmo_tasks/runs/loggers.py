"""The experiment loggers of a config's ``logger`` group (csv, tensorboard, mlflow, wandb)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import hydra

# MLflow 3 refuses its file store (``file:`` tracking URIs, the default of logger=mlflow, which
# needs no server) unless this is set; it still reads and writes it fully.
MLFLOW_FILE_STORE_SWITCH = "MLFLOW_ALLOW_FILE_STORE"


def _uses_mlflow_file_store(config: Mapping[str, Any]) -> bool:
    """True for an MLFlowLogger whose tracking URI (or MLflow's default, ./mlruns) is a folder."""
    if str(config.get("_target_", "")).rsplit(".", 1)[-1] != "MLFlowLogger":
        return False
    uri = str(
        config.get("tracking_uri") or os.environ.get("MLFLOW_TRACKING_URI") or "file:./mlruns"
    )
    return uri.startswith("file:") or "://" not in uri


def build_loggers(configs: Mapping[str, Any] | None) -> list[Any]:
    """One Lightning logger per non-null entry of ``configs`` (the ``logger`` group)."""
    loggers = []
    for config in (configs or {}).values():
        if config is None:
            continue
        if _uses_mlflow_file_store(config):
            os.environ.setdefault(MLFLOW_FILE_STORE_SWITCH, "true")
        loggers.append(hydra.utils.instantiate(config))
    return loggers


def finish_loggers(loggers: list[Any]) -> None:
    """End the W&B run of this experiment: the runs of a Hydra multirun share one process, and
    a W&B run left open would take the next run's metrics too."""
    for logger in loggers:
        if (
            type(logger).__name__ == "WandbLogger"
            and getattr(logger, "_experiment", None) is not None
        ):
            logger.experiment.finish()
