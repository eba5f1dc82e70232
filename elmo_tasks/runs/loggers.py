"""The experiment loggers of a config's ``logger`` group (csv, tensorboard, mlflow, wandb)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import hydra
from lightning_fabric.loggers.logger import rank_zero_experiment
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.utilities.rank_zero import rank_zero_warn

# MLflow 3 refuses its file store (``file:`` tracking URIs, the default of logger=mlflow, which
# needs no server) unless this is set; it still reads and writes it fully.
MLFLOW_FILE_STORE_SWITCH = "MLFLOW_ALLOW_FILE_STORE"


class _RunFolderWriter(ExperimentWriter):
    """Lightning's CSV writer, minus its "logs directory ... exists and is not empty" warning
    for the files that every run folder holds (Hydra's .hydra/ and run log, checkpoints)."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            rank_zero_warn(
                f"{self.metrics_file_path} exists (an earlier run wrote into this folder); it is "
                "replaced by this run's metrics"
            )
            self._fs.rm_file(self.metrics_file_path)


class RunFolderCSVLogger(CSVLogger):
    """``CSVLogger`` for ``metrics.csv`` and ``hparams.yaml`` in the run folder itself
    (``logger=csv``). Lightning's warns that a non-empty folder's "previous log files will be
    deleted" whenever the folder holds anything, which a Hydra run folder always does; this
    one warns only when there is an earlier ``metrics.csv`` to replace (a second run into the
    same ``hydra.run.dir``; resuming keeps the rows, see elmo_tasks/core/resume.py)."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _RunFolderWriter(log_dir=self.log_dir)
        return self._experiment


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
