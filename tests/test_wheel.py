"""The package installed from a wheel, as a tool: `elmo-tasks train` and `predict` from any folder.

Builds a wheel of a copy of the checkout, installs it without dependencies (and without the
network) into a fresh virtual environment, and runs a one-batch training and a prediction in an
empty folder, without the checkout on the path.

The fresh environment borrows the dependencies (torch, Lightning, Hydra ...) from the interpreter
running the tests through a ``.pth`` file listing that interpreter's site-packages folders: its
virtual environment's when the suite runs in one (``venv --system-site-packages`` would see the
*base* interpreter's instead), the system's when the packages are installed system-wide. A
``.pth`` file adds plain folders: the ``.pth`` files inside them are not run, so an editable
install of the checkout there stays inert, and the environment's own site-packages (the wheel)
comes first on ``sys.path``.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
IGNORED = shutil.ignore_patterns(
    ".git", "__pycache__", "*.egg-info", "build", "dist", ".pytest_cache", "outputs"
)


def _run(
    command: list[str], cwd: Path, env: dict[str, str], timeout: int = 600
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, (
        f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-3000:]}"
    )
    return result


def borrowed_site_packages() -> list[str]:
    """The folders this interpreter imports installed distributions from: purelib and platlib of
    its environment (a virtual environment's own, or the system's), the other site folders it
    reads (Debian's dist-packages beside /usr/local's) and the user's, when it reads that."""
    paths = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    paths += site.getsitepackages()
    if site.ENABLE_USER_SITE:
        paths.append(site.getusersitepackages())
    return [path for path in dict.fromkeys(paths) if Path(path).is_dir()]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """(bin folder of a fresh venv with the wheel installed, a clean environment to run it in)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(PROJECT_ROOT, source, symlinks=True, ignore=IGNORED)
    env = {
        key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")
    }
    env.update(
        OMP_NUM_THREADS="1", HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", PYTHONNOUSERSITE="1"
    )
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(root / "dist"),
            str(source),
        ],
        root,
        env,
    )
    [wheel] = list((root / "dist").glob("elmo_tasks-*.whl"))
    venv = root / "venv"
    python = str(venv / "bin" / "python")
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], root, env)
    own = _run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], root, env
    )
    purelib = Path(own.stdout.strip())
    (purelib / "_borrowed_dependencies.pth").write_text(
        "\n".join(borrowed_site_packages()) + "\n", encoding="utf-8"
    )
    # pip itself is borrowed too; --ignore-installed: an elmo-tasks installed where the
    # dependencies live is neither reused nor uninstalled, the wheel goes into the fresh venv.
    _run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed"]
        + [str(wheel)],
        root,
        env,
    )
    return venv / "bin", env


def write_two_word_csv(path: Path) -> None:
    """A training file anything learns in one step: "good film" is pos, "bad film" neg."""
    rows = ["text,label"] + [
        f"{word} film,{label}" for word, label in [("good", "pos"), ("bad", "neg")] * 8
    ]
    path.write_text("\n".join(rows) + "\n")


def test_the_installed_command_runs_the_wheel_not_the_checkout(installed, tmp_path):
    bin_dir, env = installed
    venv = bin_dir.parent.resolve()
    where = _run(
        [
            str(bin_dir / "python"),
            "-c",
            "import importlib.metadata as m, elmo_tasks, elmo_tasks.cli;"
            "print(elmo_tasks.__file__); print(elmo_tasks.cli.__file__);"
            "print(m.distribution('elmo-tasks').locate_file('elmo_tasks'))",
        ],
        tmp_path,
        env,
    ).stdout.split()
    assert len(where) == 3 and all(Path(path).resolve().is_relative_to(venv) for path in where), (
        f"elmo_tasks imported from {where}, not from the wheel installed in {venv}"
    )
    script = (bin_dir / "elmo-tasks").read_text(encoding="utf-8").splitlines()
    assert Path(script[0].removeprefix("#!")).parent.resolve() == bin_dir.resolve(), script[0]
    assert "from elmo_tasks.cli import main" in "\n".join(script)


def test_wheel_trains_and_predicts_from_another_folder(installed, tmp_path):
    bin_dir, env = installed
    work = tmp_path / "elsewhere"
    work.mkdir()
    write_two_word_csv(work / "train.csv")
    _run(
        [
            str(bin_dir / "elmo-tasks"),
            "train",
            "experiment=none",
            "task=text_classification",
            "task.train_file=train.csv",
            "task.validation_file=train.csv",
            "encoder=word_embedding",
            "encoder.dim=8",
            "trainer.max_epochs=1",
            "+trainer.limit_train_batches=1",
            "+trainer.limit_val_batches=1",
            "test=false",
            "logger=[]",
            "callbacks.rich_progress_bar=null",
            "trainer.enable_progress_bar=false",
            "hydra.run.dir=run",
        ],
        work,
        env,
    )
    results = json.loads((work / "run" / "results.json").read_text())
    assert (
        results["task"] == "text_classification"
        and (work / "run" / "checkpoints" / "best.ckpt").is_file()
    )
    (work / "texts.txt").write_text("good film\nbad film\n")
    out = _run(
        [str(bin_dir / "elmo-tasks"), "predict", "run_dir=run", "input=texts.txt", "device=cpu"],
        work,
        env,
    )
    predictions = [json.loads(line) for line in out.stdout.splitlines()]
    assert [p["text"] for p in predictions] == ["good film", "bad film"]
    assert all(set(p["probabilities"]) == {"neg", "pos"} for p in predictions)


def test_command_help_and_typos(installed, tmp_path):
    bin_dir, env = installed
    listing = _run([str(bin_dir / "elmo-tasks"), "--help"], tmp_path, env).stdout
    assert all(
        command in listing
        for command in ("train", "predict", "export", "compare", "embed", "pretrain")
    )
    typo = subprocess.run(
        [str(bin_dir / "elmo-tasks"), "trian"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert typo.returncode == 2 and "did you mean train?" in typo.stderr
    groups = _run([str(bin_dir / "elmo-tasks"), "train", "--help"], tmp_path, env).stdout
    assert "experiment:" in groups and "quickstart" in groups  # the configs shipped in the wheel


def test_users_add_their_own_configs_with_config_dir(installed, tmp_path):
    bin_dir, env = installed
    (tmp_path / "myconf" / "task").mkdir(parents=True)
    (tmp_path / "myconf" / "task" / "reviews.yaml").write_text(
        "defaults:\n  - text_classification\n  - _self_\nname: reviews\ntrain_file: reviews.csv\n"
    )
    shown = _run(
        [
            str(bin_dir / "elmo-tasks"),
            "train",
            "--config-dir",
            "myconf",
            "experiment=none",
            "task=reviews",
            "--cfg",
            "job",
        ],
        tmp_path,
        env,
    ).stdout
    assert (
        "name: reviews" in shown
        and "train_file: reviews.csv" in shown
        and "text_column: text" in shown
    )


def test_pretrain_help_lists_its_own_groups_only(installed, tmp_path):
    bin_dir, env = installed
    text = _run([str(bin_dir / "elmo-tasks"), "pretrain", "--help"], tmp_path, env).stdout
    groups = text.split("== Configuration groups ==")[1].split("== Config ==")[0]
    names = {
        line.split(":")[0]
        for line in groups.splitlines()
        if ":" in line and not line.startswith("Compose")
    }
    assert names == {"logger", "model", "optim", "paths", "trainer"}
    assert "model: mini, original, small, tiny" in groups and "experiment" not in groups


def test_wheel_metadata_license_typing_and_docs(installed, tmp_path):
    """SPDX license with its file, URLs, authors and classifiers; py.typed; the docs that the
    messages cite are inside the installed package; python -m elmo_tasks and --version."""
    bin_dir, env = installed
    code = (
        "import json, sys\n"
        "from importlib import metadata, resources\n"
        "from pathlib import Path\n"
        "from elmo_tasks.core.docs import doc\n"
        "m = metadata.metadata('elmo-tasks')\n"
        "files = [str(f) for f in metadata.files('elmo-tasks')]\n"
        "package = resources.files('elmo_tasks')\n"
        "print(json.dumps({\n"
        "  'license': m.get('License-Expression'), 'license_files': m.get_all('License-File'),\n"
        "  'urls': m.get_all('Project-URL'), 'author': m.get('Author'),\n"
        "  'classifiers': m.get_all('Classifier'), 'files': files,\n"
        "  'typed': package.joinpath('py.typed').is_file(),\n"
        "  'data_md': doc('data.md'), 'exists': Path(doc('data.md')).is_file(),\n"
        "}))\n"
    )
    found = json.loads(_run([str(bin_dir / "python"), "-c", code], tmp_path, env).stdout)
    assert found["license"] == "Apache-2.0" and found["license_files"] == ["LICENSE"]
    assert any(f.endswith("licenses/LICENSE") for f in found["files"])
    assert any(u.startswith("Homepage, https://") for u in found["urls"])
    assert any(u.startswith("Issues, https://") for u in found["urls"])
    assert found["author"] == "elmo-tasks developers"
    assert "Typing :: Typed" in found["classifiers"] and found["typed"]
    assert found["exists"] and str(bin_dir.parent) in found["data_md"]  # in the installed copy
    version = _run([str(bin_dir / "python"), "-m", "elmo_tasks", "--version"], tmp_path, env)
    assert version.stdout.startswith("elmo-tasks 0.")


def test_wheel_runs_an_optuna_search_through_its_hydra_plugin(installed, tmp_path):
    bin_dir, env = installed
    files = _run(
        [
            str(bin_dir / "python"),
            "-c",
            "import importlib.metadata as m; print('\\n'.join(str(f) for f in m.files('elmo-tasks')))",
        ],
        tmp_path,
        env,
    ).stdout.split()
    assert "hydra_plugins/elmo_tasks_optuna_sweeper/optuna_sweeper.py" in files
    assert "elmo_tasks/conf/hydra/sweeper/optuna.yaml" in files
    write_two_word_csv(tmp_path / "train.csv")
    _run(
        [
            str(bin_dir / "elmo-tasks"),
            "train",
            "hparams_search=sst2_optuna",
            "experiment=none",
            "task=text_classification",
            "task.train_file=train.csv",
            "task.validation_file=train.csv",
            "encoder.dim=8",
            "trainer.max_epochs=1",
            "test=false",
            "logger=[]",
            "callbacks.rich_progress_bar=null",
            "trainer.enable_progress_bar=false",
            "hydra.sweeper.n_trials=1",
            "hydra.sweep.dir=search",
        ],
        tmp_path,
        env,
    )
    summary = (tmp_path / "search" / "optimization_results.yaml").read_text()
    assert "best_trial: 0" in summary and (tmp_path / "search" / "0" / "results.json").is_file()
