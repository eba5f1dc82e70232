"""logger=mlflow and logger=wandb on a tiny run, offline (a file store; W&B offline mode)."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.tiny_runs import train_classifier


def test_csv_logger_writes_the_config_as_hyperparameters(tmp_path):
    run_dir = train_classifier(tmp_path, "logger=csv", epochs=1)
    hparams = yaml.safe_load((run_dir / "hparams.yaml").read_text())
    assert hparams["task"]["name"] == "text_classification" and hparams["encoder"]["dim"] == 8
    assert (run_dir / "metrics.csv").is_file()


def test_mlflow_logger_writes_metrics_and_params_to_a_file_store(tmp_path):
    pytest.importorskip(
        "mlflow", reason="mlflow is an optional extra: pip install 'elmo-tasks[mlflow]'"
    )
    from mlflow.tracking import MlflowClient

    store = tmp_path / "mlruns"
    run_dir = train_classifier(
        tmp_path, "logger=mlflow", f"logger.mlflow.tracking_uri=file:{store}", epochs=2
    )
    client = MlflowClient(tracking_uri=f"file:{store}")
    experiment = client.get_experiment_by_name("text_classification")
    assert experiment is not None
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "text_classification-seed42"
    assert (
        run.data.params["encoder/dim"] == "8"
        and run.data.params["task/name"] == "text_classification"
    )
    history = client.get_metric_history(run.info.run_id, "val/accuracy")
    assert len(history) >= 2  # every epoch, and the final validation of the best checkpoint
    results = json.loads((run_dir / "results.json").read_text())
    assert history[-1].value == pytest.approx(results["val"]["accuracy"])


def test_wandb_logger_offline_writes_a_run_folder(tmp_path, monkeypatch):
    pytest.importorskip(
        "wandb", reason="wandb is an optional extra: pip install 'elmo-tasks[wandb]'"
    )
    for name, value in {
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "WANDB_DIR": tmp_path / "wandb_home",
        "WANDB_CONFIG_DIR": tmp_path / "wandb_config",
        "WANDB_CACHE_DIR": tmp_path / "wandb_cache",
        "WANDB_DATA_DIR": tmp_path / "wandb_data",
        "WANDB_DISABLE_GIT": "true",
    }.items():
        monkeypatch.setenv(name, str(value))
    run_dir = train_classifier(tmp_path, "logger=wandb", "logger.wandb.offline=true", epochs=2)
    import wandb

    assert wandb.run is None  # finished, so that the next run of a multirun gets its own
    [offline] = list((run_dir / "wandb").glob("offline-run-*"))
    # The offline run is W&B's binary log (protobuf records), which holds strings as they are.
    [log] = list(offline.glob("run-*.wandb"))
    data = log.read_bytes()
    assert b"text_classification-seed42" in data  # the run name
    assert (
        b'"_target_":"elmo_tasks.encoders.WordEmbeddingEncoder"' in data and b'"dim":8' in data
    )  # the config
    assert b"val/accuracy" in data and b"train/loss_epoch" in data  # the metrics


def test_pretraining_logs_to_mlflow_too(tmp_path):
    """The logger configs serve elmo_tasks.pretraining.run, which has no task: experiment 'pretrain'."""
    pytest.importorskip(
        "mlflow", reason="mlflow is an optional extra: pip install 'elmo-tasks[mlflow]'"
    )
    from mlflow.tracking import MlflowClient

    from elmo_tasks.pretraining.run import run as pretrain
    from tests.test_pretrain import _config, _pattern_lines

    corpus = {"train": tmp_path / "train.txt", "valid": tmp_path / "valid.txt"}
    corpus["train"].write_text("\n".join(_pattern_lines(100)) + "\n", encoding="utf-8")
    corpus["valid"].write_text("\n".join(_pattern_lines(20, seed=1)) + "\n", encoding="utf-8")
    store = tmp_path / "mlruns"
    pretrain(
        _config(
            tmp_path,
            corpus,
            "run",
            "trainer.max_steps=3",
            "logger=mlflow",
            f"logger.mlflow.tracking_uri=file:{store}",
        )
    )
    client = MlflowClient(tracking_uri=f"file:{store}")
    [run] = client.search_runs([client.get_experiment_by_name("pretrain").experiment_id])
    assert run.info.run_name == "pretrain-seed42"
    assert client.get_metric_history(run.info.run_id, "val/ppl")
