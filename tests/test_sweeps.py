"""Hydra sweeps of train.py: basic multirun, Optuna search with resume, the joblib and submitit
launchers, and the guard against DDP inside a multirun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from elmo_tasks.core.config_search import composable
from elmo_tasks.core.sweeps import (
    DdpMultirunError,
    _device_count,
    check_not_ddp_multirun,
)
from elmo_tasks.runs.config import register_resolvers
from elmo_tasks.runs.experiment import run

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Small enough that one job takes a few seconds on one core.
TINY = [
    "task.max_train_samples=100",
    "task.max_eval_samples=40",
    "trainer.max_epochs=1",
    "callbacks.rich_progress_bar=null",
    "trainer.enable_progress_bar=false",
    "encoder.dim=32",
    "head.contextualizer_dim=32",
]
OPTUNA_CONFIGS = {
    "sst2_optuna": "sst2",
    "tweet_optuna": "tweet_sentiment",
    "sst5_optuna": "sst5",
    "conll2003_optuna": "conll2003",
}
_SWEEPS: dict[str, Path] = {}


def train_py(*args: str, tmp_path: Path, data_dir: Path) -> subprocess.CompletedProcess:
    """``python train.py ARGS`` from the project root, all outputs under ``tmp_path``; fails the
    test with the end of the log when it exits non-zero."""
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "train.py",
        *args,
        f"paths.data_dir={data_dir}",
        f"paths.log_dir={tmp_path}/logs",
    ]
    completed = subprocess.run(
        command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    if completed.returncode != 0:
        log = (completed.stdout + completed.stderr)[-4000:]
        pytest.fail(f"{' '.join(command)} exited {completed.returncode}:\n{log}")
    return completed


def needs_sst2(data_dir: Path) -> None:
    if not (data_dir / "sst2").is_dir():
        pytest.skip(f"{data_dir / 'sst2'} not found (set ELMO_TASKS_DATA)")


def tiny_multirun(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """The sweep folder of ``-m experiment=sst2_baseline seed=1,2`` on tiny data; runs once per
    session (tests/test_compare.py reuses it)."""
    if "basic" not in _SWEEPS:
        needs_sst2(data_dir)
        root = tmp_path_factory.mktemp("basic_multirun")
        train_py(
            "-m",
            "experiment=sst2_baseline",
            "seed=1,2",
            *TINY,
            f"hydra.sweep.dir={root}/sweep",
            tmp_path=root,
            data_dir=data_dir,
        )
        _SWEEPS["basic"] = root / "sweep"
    return _SWEEPS["basic"]


def results_under(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*/results.json"))]


def compose_with_hydra(overrides: list[str], tmp_path: Path) -> DictConfig:
    """The project config with its ``hydra`` node (launcher, sweeper, mode)."""
    register_resolvers(PROJECT_ROOT)
    with initialize_config_dir(config_dir=str(PROJECT_ROOT / "conf"), version_base="1.3"):
        return compose(
            "config",
            # the basic launcher where the quickstart's joblib is not installed, as train.py runs
            overrides=composable(
                [f"paths.output_dir={tmp_path}", f"paths.log_dir={tmp_path}/logs", *overrides]
            ),
            return_hydra_config=True,
        )


# --- basic launcher -----------------------------------------------------------------------


@pytest.mark.slow
def test_basic_multirun_writes_one_run_folder_per_job(tmp_path_factory, data_dir):
    sweep = tiny_multirun(tmp_path_factory, data_dir)
    assert (sweep / "multirun.yaml").is_file()
    results = results_under(sweep)
    assert [r["seed"] for r in results] == [1, 2]
    for index, result in enumerate(results):
        assert f"seed={index + 1}" in result["config_overrides"]
        assert "experiment=sst2_baseline" in result["config_overrides"]
        assert result["best_checkpoint"].startswith(str(sweep / str(index)))
        assert 0.0 <= result["test"]["accuracy"] <= 1.0


# --- Optuna -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(OPTUNA_CONFIGS))
def test_optuna_search_composes(name, tmp_path):
    cfg = compose_with_hydra([f"hparams_search={name}"], tmp_path)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper")
    assert str(sweeper.direction) == "maximize"
    assert sweeper.storage is None and sweeper.study_name == name and sweeper.n_trials > 0
    assert cfg.hydra.mode.name == "MULTIRUN"
    assert cfg.task.name == OPTUNA_CONFIGS[name]
    assert cfg.hydra.runtime.choices.experiment == name.replace("_optuna", "_elmo")
    params = sweeper.params
    assert params["optim.optimizer.lr"].startswith("tag(log, interval(")
    assert params["head.dropout"].startswith("interval(")
    assert params["head.contextualizer_dim"].startswith("choice(")
    if name != "conll2003_optuna":
        assert params["head"] == "choice(max, attention, mean)"


def test_mini_search_prunes_with_the_median_pruner(tmp_path):
    cfg = compose_with_hydra(["hparams_search=sst2_mini_optuna"], tmp_path)
    assert cfg.hydra.sweeper.pruner._target_ == "optuna.pruners.MedianPruner"
    assert cfg.hydra.sweeper.sampler._target_ == "optuna.samplers.TPESampler"
    assert cfg.encoder.weight_file == "mini" and cfg.hydra.sweeper.n_trials == 20
    assert cfg.hydra.sweeper.params["head"] == "choice(max, attention, mean)"  # sst2_optuna's
    plain = compose_with_hydra(
        ["hparams_search=sst2_mini_optuna", "hydra/sweeper/pruner=none"], tmp_path
    )
    assert plain.hydra.sweeper.pruner is None


def test_optuna_search_keeps_an_experiment_from_the_command_line(tmp_path):
    cfg = compose_with_hydra(["hparams_search=sst2_optuna", "experiment=sst2_baseline"], tmp_path)
    assert cfg.hydra.runtime.choices.experiment == "sst2_baseline"
    assert cfg.encoder._target_.endswith("WordEmbeddingEncoder")


@pytest.fixture(scope="module")
def optuna_study(tmp_path_factory, data_dir) -> tuple[Path, str]:
    """A 2-trial sst2 search stored in sqlite: (work folder, storage URL)."""
    needs_sst2(data_dir)
    root = tmp_path_factory.mktemp("optuna")
    storage = f"sqlite:///{root}/study.db"
    optuna_sweep(root, storage, "first", 2, data_dir)
    return root, storage


def optuna_sweep(root: Path, storage: str, name: str, n_trials: int, data_dir: Path) -> Path:
    train_py(
        "hparams_search=sst2_optuna",
        "experiment=sst2_baseline",
        f"hydra.sweeper.n_trials={n_trials}",
        f"hydra.sweeper.storage={storage}",
        "hydra.sweeper.study_name=tiny",
        *TINY,
        f"hydra.sweep.dir={root}/{name}",
        tmp_path=root,
        data_dir=data_dir,
    )
    return root / name


@pytest.mark.slow
def test_optuna_search_runs_trials_that_write_results(optuna_study):
    root, _ = optuna_study
    results = results_under(root / "first")
    assert len(results) == 2
    assert all(
        any(o.startswith("optim.optimizer.lr=") for o in r["config_overrides"]) for r in results
    )
    best = (root / "first" / "optimization_results.yaml").read_text()
    assert "best_value" in best and "optim.optimizer.lr" in best


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Deprecated API features detected")
def test_optuna_study_in_sqlite_resumes(optuna_study, data_dir):
    import optuna

    root, storage = optuna_study
    # n_trials is the study's total: a second sweep on the same study goes on from 2 to 3
    second = optuna_sweep(root, storage, "second", 3, data_dir)
    assert len(results_under(second)) == 1
    study = optuna.load_study(study_name="tiny", storage=storage)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    assert optuna_sweep(root, storage, "third", 3, data_dir).is_dir()  # nothing left to run
    assert len(optuna.load_study(study_name="tiny", storage=storage).trials) == 3


NEEDS_JOBLIB = "needs the joblib extra: pip install 'elmo-tasks[joblib]'"
NEEDS_SLURM = "needs the slurm extra: pip install 'elmo-tasks[slurm]'"

# --- launchers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("launcher", "target"),
    [
        ("joblib", "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"),
        ("submitit_slurm", "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"),
        ("submitit_local", "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher"),
    ],
)
def test_launcher_composes(launcher, target, tmp_path):
    pytest.importorskip(
        target.rsplit(".", 2)[0], reason="needs the launcher's extra (joblib, slurm)"
    )
    cfg = compose_with_hydra([f"hydra/launcher={launcher}"], tmp_path)
    assert cfg.hydra.launcher._target_ == target


def test_slurm_launcher_takes_the_documented_settings(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason=NEEDS_SLURM)
    cfg = compose_with_hydra(
        [
            "hydra/launcher=submitit_slurm",
            "hydra.launcher.partition=gpu",
            "hydra.launcher.gpus_per_node=2",
            "hydra.launcher.tasks_per_node=2",
            "hydra.launcher.timeout_min=240",
            "trainer=ddp",
            "trainer.accelerator=gpu",
        ],
        tmp_path,
    )
    assert cfg.hydra.launcher.tasks_per_node == cfg.trainer.devices == 2
    assert cfg.hydra.launcher.submitit_folder == f"{cfg.hydra.sweep.dir}/.submitit/%j"
    assert cfg.hydra.sweep.dir.startswith(f"{tmp_path}/logs/multiruns/")


@pytest.mark.slow
def test_joblib_launcher_runs_two_jobs(tmp_path, data_dir):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason=NEEDS_JOBLIB)
    needs_sst2(data_dir)
    completed = train_py(
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "experiment=sst2_baseline",
        "seed=1,2",
        *TINY,
        f"hydra.sweep.dir={tmp_path}/sweep",
        tmp_path=tmp_path,
        data_dir=data_dir,
    )
    assert "Joblib.Parallel(n_jobs=2" in completed.stdout + completed.stderr
    assert [r["seed"] for r in results_under(tmp_path / "sweep")] == [1, 2]


# --- DDP inside a multirun ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "fails"),
    [
        (["trainer=ddp", "hydra.mode=MULTIRUN"], True),
        (["trainer=ddp", "hydra.mode=MULTIRUN", "hydra/launcher=joblib"], True),
        (["trainer=ddp", "hydra.mode=MULTIRUN", "trainer.devices=auto"], True),
        (["trainer=ddp", "hydra.mode=MULTIRUN", "trainer.devices=[0,1]"], True),
        (["trainer=ddp", "hydra.mode=MULTIRUN", "trainer.devices=1", "+trainer.num_nodes=2"], True),
        (
            [
                "trainer=ddp",
                "hydra.mode=MULTIRUN",
                "trainer.strategy=ddp_find_unused_parameters_true",
            ],
            True,
        ),
        (["trainer=ddp", "hydra.mode=MULTIRUN", "trainer.devices=1"], False),
        (["trainer=ddp", "hydra.mode=MULTIRUN", "hydra/launcher=submitit_slurm"], False),
        (["trainer=ddp", "hydra.mode=RUN"], False),
        (["trainer=ddp"], False),
        (["trainer=cpu", "hydra.mode=MULTIRUN", "trainer.devices=2"], False),
    ],
)
def test_ddp_multirun_check(overrides, fails, tmp_path):
    for launcher, module, reason in (
        ("joblib", "hydra_plugins.hydra_joblib_launcher", NEEDS_JOBLIB),
        ("submitit_slurm", "hydra_plugins.hydra_submitit_launcher", NEEDS_SLURM),
    ):
        if f"hydra/launcher={launcher}" in overrides:
            pytest.importorskip(module, reason=reason)
    # experiment=none: the default experiment, the quickstart, is a multirun of its own.
    cfg = compose_with_hydra(["experiment=none", *overrides], tmp_path)
    if fails:
        with pytest.raises(DdpMultirunError, match="each DDP rank would re-run the sweep"):
            check_not_ddp_multirun(cfg)
    else:
        check_not_ddp_multirun(cfg)


def test_ddp_multirun_check_reads_the_running_hydra_job(tmp_path):
    cfg = compose_with_hydra(["trainer=ddp", "hydra.mode=MULTIRUN"], tmp_path)
    job_cfg = cfg.copy()
    with open_dict(job_cfg):
        del job_cfg["hydra"]
    HydraConfig.instance().set_config(cfg)
    try:
        with pytest.raises(DdpMultirunError, match="submitit launcher with one task per job"):
            check_not_ddp_multirun(job_cfg)
    finally:
        HydraConfig.instance().cfg = None


def test_run_refuses_ddp_in_a_multirun_before_training(tmp_path):
    cfg = compose_with_hydra(["trainer=ddp", "hydra.mode=MULTIRUN"], tmp_path / "run")
    with pytest.raises(DdpMultirunError):
        run(cfg)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("devices", "count"),
    [
        (1, 1),
        (4, 4),
        (-1, None),
        ("auto", None),
        ("2", 2),
        ("-1", None),
        ("0,1", 2),
        ("0,", 1),
        ([0, 1, 2], 3),
    ],
)
def test_device_count(devices, count):
    assert _device_count(devices) == count
