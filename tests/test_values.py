"""Types and ranges of trainer, optimiser and task values and writable folders, checked by the
pre-flight step before anything is built: one message, exit status 2."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from elmo_tasks.core.config_values import (
    ConfigValueError,
    run_folder_problem,
    writable_folder,
)
from elmo_tasks.core.reporting import readable_errors
from elmo_tasks.core.threads import threads_for
from elmo_tasks.data.sources import check_task_values
from elmo_tasks.runs import preflight
from elmo_tasks.runs.trainer_checks import check_trainer_values
from elmo_tasks.tasks.optim_checks import check_optim_values


def test_trainer_values():
    good = {
        "max_epochs": 3,
        "max_steps": -1,
        "devices": 1,
        "gradient_clip_val": 5.0,
        "accumulate_grad_batches": 1,
        "log_every_n_steps": 20,
        "limit_train_batches": 0.5,
    }
    assert check_trainer_values(OmegaConf.create(good)) == []
    bad = OmegaConf.create(
        {
            "max_epochs": "abc",
            "min_epochs": -2,
            "devices": 0,
            "gradient_clip_val": -1,
            "accumulate_grad_batches": True,
            "limit_val_batches": "all",
        }
    )
    assert check_trainer_values(bad) == [
        "trainer.max_epochs='abc': must be a whole number >= -1 (-1: no limit), e.g. trainer.max_epochs=1",
        "trainer.min_epochs=-2: must be at least 0",
        "trainer.accumulate_grad_batches=True: must be a whole number >= 1, e.g. trainer.accumulate_grad_batches=1",
        "trainer.gradient_clip_val=-1: must be at least 0.0, e.g. trainer.gradient_clip_val=5.0",
        "trainer.limit_val_batches='all': must be a number, e.g. trainer.limit_val_batches=1.0",
        "trainer.devices=0: must be a positive number of devices, -1 (all) or auto",
    ]
    assert check_trainer_values(OmegaConf.create({"devices": "0,1"})) == []
    assert check_trainer_values(OmegaConf.create({"devices": [0, 1]})) == []


def test_optimiser_values():
    assert (
        check_optim_values(OmegaConf.create({"optimizer": {"lr": 0.001, "weight_decay": 0.0}}))
        == []
    )
    assert check_optim_values(
        OmegaConf.create({"optimizer": {"lr": -1, "weight_decay": "x", "betas": [0.9, 1.5]}})
    ) == [
        "optim.optimizer.lr=-1: must be greater than 0.0, e.g. optim.optimizer.lr=0.001",
        "optim.optimizer.weight_decay='x': must be a number, e.g. optim.optimizer.weight_decay=0.01",
        "optim.optimizer.betas.1=1.5: must be at most 0.999999",
    ]
    assert check_optim_values(OmegaConf.create({"optimizer": {"lr": 0}}))[0].startswith(
        "optim.optimizer.lr=0: must be greater"
    )


def test_task_values():
    assert check_task_values(OmegaConf.create({"batch_size": 32, "max_train_samples": None})) == []
    assert check_task_values(
        OmegaConf.create({"batch_size": 0, "max_train_samples": -5, "max_eval_samples": 2.5})
    ) == [
        "task.batch_size=0: must be at least 1",
        "task.max_train_samples=-5: must be at least 1 (null: no limit)",
        "task.max_eval_samples=2.5: must be a whole number >= 1 (null: no limit), e.g. task.max_eval_samples=1",
    ]


def test_folders(tmp_path):
    assert writable_folder(tmp_path / "new" / "deeper", "paths.output_dir") is None
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert writable_folder(blocker / "cache", "encoder.cache_dir") == (
        f"encoder.cache_dir={blocker / 'cache'}: cannot create the folder, {blocker} is a file; give another folder"
    )
    assert run_folder_problem([f"hydra.run.dir={blocker}/run"], tmp_path).startswith(
        "hydra.run.dir="
    )
    assert run_folder_problem(
        ["-m", f"hydra.sweep.dir={blocker}/x/${{now:%H}}"], tmp_path
    ).startswith("hydra.sweep.dir=")
    assert run_folder_problem([f"paths.log_dir={blocker}"], tmp_path).startswith("paths.log_dir=")
    assert run_folder_problem([], blocker / "outputs").startswith("paths.log_dir=")
    assert run_folder_problem(["hydra.run.dir=${paths.log_dir}/x"], tmp_path) is None


def test_preflight_gathers_every_problem_into_one_message_with_exit_status_2(tmp_path, capsys):
    from tests.compose import compose_config

    blocker = tmp_path / "file"
    blocker.write_text("x")
    cfg = compose_config(
        tmp_path / "run",
        [
            "experiment=none",
            "encoder=elmo_mini",
            f"encoder.cache_dir={blocker}/c",
            "trainer.max_epochs=abc",
            "optim.optimizer.lr=-1",
            "task.max_train_samples=-5",
            "threads=0",
        ],
    )
    with pytest.raises(ConfigValueError) as error_info:
        preflight.check_values(cfg)
    message = str(error_info.value)
    assert message.splitlines() == [
        "bad config values:",
        "  - threads=0: must be at least 1",
        "  - trainer.max_epochs='abc': must be a whole number >= -1 (-1: no limit), e.g. trainer.max_epochs=1",
        "  - optim.optimizer.lr=-1: must be greater than 0.0, e.g. optim.optimizer.lr=0.001",
        "  - task.max_train_samples=-5: must be at least 1 (null: no limit)",
        f"  - encoder.cache_dir={blocker}/c: cannot create the folder, {blocker} is a file; give another folder",
    ]
    with pytest.raises(SystemExit) as exit_info, readable_errors():
        raise error_info.value
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error: bad config values:\n")


def test_threads_share_the_cores_between_jobs():
    assert threads_for(None, cores=8, jobs=1) is None  # a single run keeps torch's default
    assert threads_for(None, cores=8, jobs=2) == 4
    assert threads_for(None, cores=2, jobs=4) == 1
    assert threads_for(3, cores=8, jobs=2) == 3  # threads= wins


def test_a_folder_without_write_permission_is_named(tmp_path, monkeypatch):
    import os

    monkeypatch.setattr(
        os, "access", lambda path, mode: False
    )  # the suite may run as root, which may write anywhere
    assert writable_folder(tmp_path, "paths.output_dir") == (
        f"paths.output_dir={tmp_path}: the folder is not writable; give a folder you can write to"
    )
    assert writable_folder(tmp_path / "new", "encoder.cache_dir") == (
        f"encoder.cache_dir={tmp_path / 'new'}: the folder cannot be created ({tmp_path} is not writable); "
        "give a folder you can write to"
    )
