"""A folder someone hands you runs no code: load_run, predict, export, load_from_checkpoint and
resume build only the package's own classes and the modules the user trusts on purpose.

Each attack names ``builtins.open(VICTIM, "w")`` (which truncates VICTIM) somewhere Hydra's
``instantiate`` would reach it; each test checks that VICTIM still holds its bytes, that the
command stops with one message (exit status 2, no traceback) naming the key and the target and
how to trust a module. The end-to-end ones run the real commands in subprocesses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from elmo_tasks.core.checkpoint_io import save_with_sidecar
from elmo_tasks.core.trust import (
    UntrustedCodeError,
    check_code,
    code_modules,
    find_targets,
    is_package_target,
    package_problem,
    trusted_modules,
)
from elmo_tasks.runs.model_folder import export_run
from elmo_tasks.runs.trained import load_run
from tests.conftest import PROJECT_ROOT
from tests.tiny_runs import QUIET, train_classifier, write_classification

SECRET = b"precious bytes\n"
TRACEBACK = "Traceback (most recent call last)"


def run_python(args: list[str], *paths: Path, stdin: str | None = None) -> tuple[int, str]:
    """``python ARGS`` from the project root with ``paths`` on PYTHONPATH after the project's:
    (exit status, stdout and stderr)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), *map(str, paths)]),
        "OMP_NUM_THREADS": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
    }
    env.pop("HYDRA_FULL_ERROR", None)
    done = subprocess.run(
        [sys.executable, *args],
        cwd=PROJECT_ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.returncode, done.stdout + done.stderr


def evil(victim: Path) -> dict:
    """A config node that truncates ``victim`` when Hydra builds it."""
    return {"_target_": "builtins.open", "_args_": [str(victim), "w"]}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    return train_classifier(tmp_path_factory.mktemp("trust"), epochs=1)


@pytest.fixture()
def victim(tmp_path) -> Path:
    path = tmp_path / "victim.txt"
    path.write_bytes(SECRET)
    return path


def copy_run(trained: Path, tmp_path: Path) -> Path:
    target = tmp_path / "handed_over"
    shutil.copytree(trained, target)
    return target


def edit_config(path: Path, change) -> None:
    cfg = OmegaConf.load(path)
    change(cfg)
    OmegaConf.save(cfg, path)


def edit_checkpoint(path: Path, change) -> None:
    """Change a checkpoint and write its checksum again, as someone who hands it over would."""
    checkpoint = torch.load(path, weights_only=True)
    change(checkpoint)
    save_with_sidecar(checkpoint, path)


def assert_refused(status: int, output: str, victim: Path, *named: str) -> None:
    assert status == 2, output[-3000:]
    assert TRACEBACK not in output, output[-3000:]
    assert victim.read_bytes() == SECRET, "the victim file was changed"
    for text in (*named, "Nothing was called", "trust"):
        assert text in output, f"{text!r} not in:\n{output[-3000:]}"


# --------------------------------------------------------------------------- end to end


def test_predict_builds_nothing_a_run_folder_names(trained, tmp_path, victim):
    run = copy_run(trained, tmp_path)
    edit_config(
        run / "config_resolved.yaml", lambda cfg: cfg.task.__setitem__("evil", evil(victim))
    )
    status, output = run_python(
        ["-m", "elmo_tasks.predict", f"run_dir={run}", "input=-"], stdin="a good film\n"
    )
    assert_refused(status, output, victim, "task.evil._target_: builtins.open", "config_resolved")


# load_run without trust (refused), then trusting the modules named on the command line.
LOAD = """
import sys
from elmo_tasks import load_run
from elmo_tasks.core.trust import UntrustedCodeError
try:
    load_run(sys.argv[1])
    sys.exit("loaded without trust")
except UntrustedCodeError as error:
    print(f"refused: {error}")
print("label:", load_run(sys.argv[1], trust=sys.argv[2:]).predict(["a good film"])[0]["label"])
"""
# load_run on an export folder, then load_from_checkpoint: each refusal printed, the worst status.
PYTHON_API = """
import sys
from elmo_tasks import load_run
from elmo_tasks.tasks import ClassificationTask
status = 0
for name, load in (
    ("load_run", lambda: load_run(sys.argv[1])),
    ("load_from_checkpoint", lambda: ClassificationTask.load_from_checkpoint(sys.argv[2])),
):
    try:
        load()
        print(f"{name}: loaded")
    except Exception as error:
        print(f"{name}: {type(error).__name__}: {error}")
        status = max(status, getattr(error, "exit_status", 3))
sys.exit(status)
"""


def test_the_python_api_builds_nothing_a_folder_names(trained, tmp_path, victim):
    out = export_run(trained, tmp_path / "export")
    # In the export's config: nested in a _partial_ factory, and in a list of positional arguments.
    edit_config(
        out / "config.yaml",
        lambda cfg: (
            cfg.head.__setitem__("contextualizer", evil(victim)),
            cfg.optim.optimizer.__setitem__("_args_", [evil(victim)]),
        ),
    )
    # In a checkpoint's saved hyperparameters, which load_from_checkpoint builds.
    best = copy_run(trained, tmp_path) / "checkpoints" / "best.ckpt"
    edit_checkpoint(
        best, lambda c: c["hyper_parameters"]["head"].update(contextualizer=evil(victim))
    )
    status, output = run_python(["-c", PYTHON_API, str(out), str(best)])
    assert_refused(
        status,
        output,
        victim,
        "load_run: UntrustedCodeError",
        f"{out / 'config.yaml'} names code",
        "head.contextualizer._target_: builtins.open",
        "optim.optimizer._args_[0]._target_: builtins.open",
        "load_from_checkpoint: UntrustedCodeError",
        "best.ckpt (its saved hyperparameters) names code",
        "ClassificationTask.load_from_checkpoint(path, trust=",
    )


def test_resume_builds_nothing_the_checkpoint_names(trained, tmp_path, victim):
    run = copy_run(trained, tmp_path)
    last = run / "checkpoints" / "last.ckpt"
    edit_checkpoint(
        last, lambda c: c["hyper_parameters"]["head"].update(contextualizer=evil(victim))
    )
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    files = write_classification(tmp_path / "data")
    status, output = run_python(
        [
            "train.py",
            "experiment=none",
            "task=text_classification",
            f"task.train_file={files['train']}",
            f"task.validation_file={files['dev']}",
            f"task.test_file={files['dev']}",
            "encoder.dim=8",
            "trainer.max_epochs=2",
            *QUIET,
            "ckpt_path=last",
            f"hydra.run.dir={run}",
        ]
    )
    assert_refused(status, output, victim, "head.contextualizer._target_: builtins.open")
    assert "a resumed run builds what its own command line" in output
    after = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert after == before, "the run folder is as it was"


# --------------------------------------------------------------------------- every path Hydra takes


def _nested(victim):
    return lambda cfg: cfg.head.__setitem__("contextualizer", evil(victim))


def _listed(victim):
    return lambda cfg: cfg.task.__setitem__("extra", [1, {"deeper": evil(victim)}])


def _create(victim: Path) -> str:
    """``oc.create`` of the evil node: an interpolation that resolves to a new ``_target_``."""
    return f"${{oc.create:{{_target_:builtins.open,_args_:['{victim}',w]}}}}"


def _created_by_a_resolver(victim):
    return lambda cfg: cfg.task.__setitem__("evil", _create(victim))


def _left_for_instantiate(victim):
    # escaped: loading leaves "${oc.create:...}", which instantiate would resolve
    return lambda cfg: cfg.task.__setitem__("evil", "\\" + _create(victim))


def _through_a_package_module(victim):
    target = {"_target_": "elmo_tasks.core.atomic.os.remove", "_args_": [str(victim)]}
    return lambda cfg: cfg.task.__setitem__("evil", target)


@pytest.mark.parametrize(
    "attack, named",
    [
        (_nested, "head.contextualizer._target_: builtins.open"),
        (_listed, "task.extra[1].deeper._target_: builtins.open"),
        (_created_by_a_resolver, "task.evil._target_: builtins.open"),
        (_left_for_instantiate, "task.evil: ${oc.create:"),
        (_through_a_package_module, "elmo_tasks.core.atomic.os.remove (not one of the package's"),
    ],
    ids=["nested", "listed", "created_by_a_resolver", "left_for_instantiate", "package_module"],
)
def test_every_target_of_a_run_config_is_checked(trained, tmp_path, victim, attack, named):
    run = copy_run(trained, tmp_path)
    edit_config(run / "config_resolved.yaml", attack(victim))
    with pytest.raises(UntrustedCodeError) as refused:
        load_run(run)
    assert named in str(refused.value)
    assert victim.read_bytes() == SECRET


def test_the_checkpoints_hyperparameters_are_checked_by_load_run(trained, tmp_path, victim):
    run = copy_run(trained, tmp_path)
    best = run / "checkpoints" / "best.ckpt"
    edit_checkpoint(
        best, lambda c: c["hyper_parameters"]["optimizer"].update(_target_="builtins.exec")
    )
    with pytest.raises(UntrustedCodeError, match=r"best\.ckpt \(its saved hyperparameters\)"):
        load_run(run)


def test_the_package_own_configs_pass_and_others_need_trust():
    """Every _target_ the package's configs name is its own; a user's module only when trusted."""
    from elmo_tasks.core.paths import config_dir

    for path in sorted(config_dir().rglob("*.yaml")):
        if path.relative_to(config_dir()).parts[0] == "hydra":
            continue  # Hydra's own settings (launchers, the sweeper): not part of a run's config
        config = OmegaConf.to_container(OmegaConf.load(path))
        config.pop("hydra", None)  # Hydra's own launchers and sweepers
        for target in find_targets(config):
            assert is_package_target(target.name), (path, target)
            assert package_problem(target.name) is None, (path, target)
    assert code_modules({"head": {"_target_": "myheads.LastToken"}, "optim": {}}) == ["myheads"]
    with pytest.raises(UntrustedCodeError, match="trust=myheads"):
        check_code({"head": {"_target_": "myheads.LastToken"}}, (), "cfg", "trust={modules}")
    assert trusted_modules("[a, b.c]") == ("a", "b.c") == trusted_modules(["a,b.c"])
    with pytest.raises(UntrustedCodeError, match="not a module name"):
        trusted_modules(["os; rm"])


def test_a_trusted_class_that_fails_to_build_is_one_message(trained, tmp_path, monkeypatch):
    """Hydra wraps a constructor's error in InstantiationException: load_run says it in one line."""
    from elmo_tasks.runs.trained import PredictError

    (tmp_path / "badheads.py").write_text(
        "class Broken:\n    def __init__(self, **kwargs):\n        raise TypeError('no such head')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    run = copy_run(trained, tmp_path)
    broken = {"_target_": "badheads.Broken"}  # built while the head factory is made
    edit_config(
        run / "config_resolved.yaml", lambda cfg: cfg.head.__setitem__("contextualizer", broken)
    )
    with pytest.raises(
        PredictError, match=r"cannot rebuild the model of \S+: .*badheads\.Broken.*no such head"
    ):
        load_run(run, trust="badheads")


# --------------------------------------------------------------------------- a user's own head

HEAD_MODULE = '''
import torch
from elmo_tasks.heads.pooling import PoolingClassifier


class LastToken(PoolingClassifier):
    """The vector of the last token."""

    def pool(self, x, mask):
        last = mask.long().sum(1).clamp(min=1) - 1
        return x[torch.arange(x.size(0)), last]
'''
HEAD_CONFIG = "_target_: myheads.LastToken\n_partial_: true\ncontextualizer: none\ndropout: 0.0\n"


@pytest.mark.slow
def test_a_users_head_is_recorded_exported_and_loaded_only_when_trusted(tmp_path):
    code, conf = tmp_path / "code", tmp_path / "my_configs"
    (conf / "head").mkdir(parents=True)
    code.mkdir()
    (code / "myheads.py").write_text(HEAD_MODULE)
    (conf / "head" / "last.yaml").write_text(HEAD_CONFIG)
    files = write_classification(tmp_path / "data")
    model = [
        "experiment=none",
        "task=text_classification",
        f"task.train_file={files['train']}",
        f"task.validation_file={files['dev']}",
        "encoder.dim=8",
        "head=last",
    ]
    arguments = [*model, "trainer.max_epochs=1", *QUIET]
    run = tmp_path / "run"
    status, output = run_python(
        ["train.py", "--config-dir", str(conf), *arguments, f"hydra.run.dir={run}"], code
    )
    assert status == 0, output[-3000:]
    results = json.loads((run / "results.json").read_text())
    assert results["code_modules"] == ["myheads"]
    assert results["train_arguments"] == ["--config-dir", str(conf), *arguments]

    out = tmp_path / "export"
    status, output = run_python(
        ["-m", "elmo_tasks.cli.export", f"run_dir={run}", f"out={out}", "trust=myheads"], code
    )
    assert status == 0, output[-3000:]
    assert json.loads((out / "export.json").read_text())["code_modules"] == ["myheads"]
    card = (out / "README.md").read_text()
    assert f"python train.py --config-dir {conf} experiment=none" in card
    assert 'trust=["myheads"]' in card and "## Code it needs" in card

    # Importable but not trusted: refused; trusted: loaded.
    status, output = run_python(["-c", LOAD, str(out), "myheads"], code)
    assert status == 0 and TRACEBACK not in output, output[-3000:]
    assert "refused: " in output and "head._target_: myheads.LastToken" in output
    assert 'load_run(path, trust="myheads")' in output
    assert output.strip().splitlines()[-1] in ("label: pos", "label: neg")

    # Trusted but not importable here: one message naming the module and the fix.
    status, output = run_python(
        ["-m", "elmo_tasks.predict", f"run_dir={out}", "input=-", "trust=myheads"],
        stdin="a good film\n",
    )
    assert status == 2 and TRACEBACK not in output, output[-3000:]
    assert "needs the module myheads (head._target_: myheads.LastToken)" in output
    assert "on PYTHONPATH" in output and "keep trust=myheads" in output

    # The model card's command makes the same run again, from another folder.
    command = card.split("## How it was made")[1].split("```")[1].strip().split(" ", 2)[2]
    again = tmp_path / "again"
    status, output = run_python(
        [str(PROJECT_ROOT / "train.py"), *_split(command), f"hydra.run.dir={again}"], code
    )
    assert status == 0, output[-3000:]
    assert json.loads((again / "results.json").read_text())["val"] == results["val"]

    # A resume trusts the user's own command line (which names myheads), not the run folder.
    status, output = run_python(
        ["train.py", "--config-dir", str(conf), *model, "trainer.max_epochs=2", *QUIET]
        + ["ckpt_path=last", f"hydra.run.dir={run}"],
        code,
    )
    assert status == 0 and "resuming from" in output, output[-3000:]


def _split(command: str) -> list[str]:
    import shlex

    return shlex.split(command)
