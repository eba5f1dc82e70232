"""The extras (word2vec, joblib, slurm): without one, the command that needs it exits 2 with one
line naming it, and the quickstart runs its jobs one at a time. "Not installed" is what
tests/not_installed/sitecustomize.py makes of a module for a Python started through it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from elmo_tasks.core import extras
from elmo_tasks.core.config_search import composable
from elmo_tasks.core.hydra_argv import parse

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHIM = Path(__file__).resolve().parent / "not_installed"
JOBLIB = "hydra_plugins.hydra_joblib_launcher"
SUBMITIT = "hydra_plugins.hydra_submitit_launcher"


def without(*modules: str, args: list[str], cwd: Path, timeout: float = 120, **env: str):
    """``python ARGS`` in ``cwd`` with ``modules`` not installed."""
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SHIM), str(PROJECT_ROOT)]),
        "NOT_INSTALLED": ",".join(modules),
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        **env,
    }
    environment.pop("ELMO_TASKS_EXTRA_OVERRIDES", None)
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_shim_hides_a_module_and_a_hydra_plugin(tmp_path):
    code = (
        "import importlib.util\n"
        "from hydra.core.plugins import Plugins\n"
        "from hydra.plugins.launcher import Launcher\n"
        "names = [p.__name__ for p in Plugins.instance().discover(Launcher)]\n"
        "try:\n    import gensim\nexcept ModuleNotFoundError:\n    names.append('no gensim')\n"
        "print(sorted(names))\n"
    )
    pytest.importorskip("gensim", reason="needs the word2vec extra (to hide it)")
    pytest.importorskip(JOBLIB, reason="needs the joblib extra (to hide it)")
    hidden = without("gensim", JOBLIB, args=["-c", code], cwd=tmp_path)
    assert hidden.returncode == 0, hidden.stderr
    assert "'no gensim'" in hidden.stdout and "JoblibLauncher" not in hidden.stdout
    assert "BasicLauncher" in hidden.stdout
    shown = without(args=["-c", code], cwd=tmp_path)
    assert "JoblibLauncher" in shown.stdout and "no gensim" not in shown.stdout


def test_pyproject_declares_each_extra_and_dev_pulls_them():
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
        "project"
    ]
    optional = project["optional-dependencies"]
    for extra in (extras.WORD2VEC, extras.JOBLIB, extras.SLURM):
        assert [r.split(">")[0] for r in optional[extra.name]] == [extra.distribution]
        assert not any(r.startswith(extra.distribution) for r in project["dependencies"])
    assert "elmo-tasks[word2vec,joblib,slurm]" in optional["dev"]


def test_pretrain_word2vec_without_gensim_names_the_extra(tmp_path):
    done = without(
        "gensim",
        args=["-m", "elmo_tasks", "pretrain-word2vec", "data.train_files=corpus.txt"],
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "error: pretrain-word2vec needs gensim: pip install 'elmo-tasks[word2vec]'\n"
    )
    assert not (tmp_path / "outputs").exists()  # checked before any work
    helped = without(
        "gensim", args=["-m", "elmo_tasks", "pretrain-word2vec", "--help"], cwd=tmp_path
    )
    assert helped.returncode == 0 and "powered by Hydra" in helped.stdout  # --help still answers


@pytest.mark.parametrize(
    ("command", "launcher", "hidden", "extra"),
    [
        (["train.py", "-m", "seed=1,2"], "joblib", JOBLIB, "joblib"),
        (["train.py", "-m", "experiment=sst2_baseline"], "submitit_slurm", SUBMITIT, "slurm"),
        (["train.py", "-m", "experiment=sst2_baseline"], "submitit_local", SUBMITIT, "slurm"),
        (["train.py", "-m", "experiment=sst2_baseline"], "slurm", SUBMITIT, "slurm"),
        (["-m", "elmo_tasks", "pretrain", "-m", "model=tiny"], "submitit_local", SUBMITIT, "slurm"),
    ],
)
def test_a_launcher_chosen_without_its_plugin_names_the_extra(
    command, launcher, hidden, extra, tmp_path
):
    args = [str(PROJECT_ROOT / command[0]), *command[1:]] if command[0] == "train.py" else command
    done = without(hidden, args=[*args, f"hydra/launcher={launcher}"], cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    distribution = {"joblib": "hydra-joblib-launcher", "slurm": "hydra-submitit-launcher"}[extra]
    assert done.stderr == (
        f"error: hydra/launcher={launcher} needs {distribution}: pip install 'elmo-tasks[{extra}]'\n"
    )
    assert not (tmp_path / "outputs").exists()


def test_the_quickstart_without_joblib_runs_its_jobs_one_at_a_time(tmp_path):
    sweep = tmp_path / "sweep"
    done = without(
        JOBLIB,
        args=[
            str(PROJECT_ROOT / "train.py"),
            "seed=1",
            "task.max_train_samples=40",
            "task.max_eval_samples=20",
            "trainer.max_epochs=1",
            "callbacks.rich_progress_bar=null",
            "trainer.enable_progress_bar=false",
            f"paths.log_dir={tmp_path}/logs",
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=tmp_path,
        timeout=300,
        ELMO_TASKS_CACHE=str(tmp_path / "cache"),
        OMP_NUM_THREADS="1",
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    notes = [line for line in done.stderr.splitlines() if "joblib" in line]
    assert notes == [
        "note: the joblib launcher is not installed, so the jobs run one at a time; "
        "pip install 'elmo-tasks[joblib]' runs them in parallel"
    ]
    results = [json.loads(p.read_text()) for p in sorted(sweep.glob("*/results.json"))]
    assert sorted(r["encoder"] for r in results) == [
        "ConcatEncoder",
        "ElmoEncoder",
        "WordEmbeddingEncoder",
    ]
    hydra_config = (sweep / "0" / ".hydra" / "hydra.yaml").read_text()
    assert "hydra/launcher: basic" in hydra_config
    assert "Comparison of the runs" in done.stdout


def test_with_the_plugins_installed_nothing_changes():
    pytest.importorskip(JOBLIB, reason="needs the joblib extra")
    pytest.importorskip(SUBMITIT, reason="needs the slurm extra")
    argv = ["-m", "hydra/launcher=submitit_local", "seed=1,2"]
    assert extras.launcher_argv(argv) == argv
    assert extras.launcher_argv([]) == []
    assert composable(["seed=1"]) == ["seed=1"]
    assert extras.missing_launcher(parse([])) is None


def test_starting_the_commands_imports_neither_gensim_nor_datasets(tmp_path):
    code = (
        "import sys\n"
        "import elmo_tasks.cli.train, elmo_tasks.cli.pretrain, elmo_tasks.cli.pretrain_word2vec\n"
        "print(sorted(m for m in ('gensim', 'datasets', 'torch') if m in sys.modules))\n"
    )
    done = without(args=["-c", code], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
