"""A user's own config folder and Python module, end to end: Hydra's flags anywhere on the line,
the override checker knowing the user's groups (``--config-dir``, ``hydra.searchpath``) with
any flag, values checked against the components' schemas, every ``_target_`` imported and each
constructor checked against what the run passes, all before any data is read: one message,
exit status 2, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from elmo_tasks.core.hydra_argv import parse
from elmo_tasks.core.targets import ConstructorMismatchError, TargetImportError, locate
from elmo_tasks.runs.contracts import contract_problems

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

USER_FILES = {
    "my_configs/task/my_task.yaml": (
        "defaults:\n  - text_classification\n  - _self_\n\nname: my_task\n"
        "train_file: {tmp}/bad.csv\ntest_file: null\n"
    ),
    "my_configs/head/my_max.yaml": "defaults:\n  - max\n  - _self_\n\ndropout: 0.1\n",
    "my_configs/head/no_pass.yaml": "_target_: userheads.NoPassHead\n_partial_: true\nwidth: 8\n",
    "my_configs/head/missing.yaml": "_target_: nosuchmodule.CnnHead\n_partial_: true\n",
    "my_configs/encoder/not_encoder.yaml": "_target_: userheads.NotAnEncoder\n_partial_: true\n",
    "my_configs/model/my_model.yaml": "defaults:\n  - tiny\n  - _self_\n",
    "userheads.py": (
        "from torch import nn\n\n"
        "from elmo_tasks.encoders import TokenEncoder\n\n\n"
        "class NoPassHead(nn.Module):\n"
        "    def __init__(self, input_dim: int, num_classes: int, width: int = 8) -> None:\n"
        "        super().__init__()\n"
        "        self.out = nn.Linear(input_dim, num_classes)\n\n\n"
        "class NoDimEncoder(TokenEncoder):\n"
        "    def __init__(self, vocabulary=None) -> None:\n"
        "        super().__init__()\n\n\n"
        "class NotAnEncoder(nn.Module):\n"
        "    def __init__(self, vocabulary=None) -> None:\n"
        "        super().__init__()\n"
    ),
    # A data file that stops any run that reads it (exit status 1): errors with exit status 2
    # below show that nothing was read.
    "bad.csv": "text,label\ngood film,1\nbad,film,0\n",
}


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("user")
    for name, content in USER_FILES.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content.replace("{tmp}", str(folder)), encoding="utf-8")
    return folder


def run(command: list[str], user: Path, pythonpath: bool = True) -> subprocess.CompletedProcess:
    """``command`` (``train.py`` / ``elmo-tasks`` first) in the user's folder."""
    paths = [str(PROJECT_ROOT), *([str(user)] if pythonpath else [])]
    env = {
        **os.environ,
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "HYDRA_FULL_ERROR": "",
        "PYTHONPATH": os.pathsep.join(paths),
    }
    if command[0] == "train.py":
        command = [sys.executable, str(PROJECT_ROOT / "train.py"), *command[1:]]
    else:
        command = [str(BIN / command[0]), *command[1:]]
    return subprocess.run(command, cwd=user, env=env, capture_output=True, text=True, timeout=300)


def one_message(done: subprocess.CompletedProcess, status: int, *says: str) -> None:
    shown = f"exit {done.returncode}\n{done.stderr[-3000:]}"
    assert done.returncode == status, shown
    assert done.stderr.startswith("error: ") and done.stderr.count("error: ") == 1, shown
    assert "Traceback" not in done.stderr and "Error executing job" not in done.stderr, shown
    for text in says:
        assert text in done.stderr, shown


# --------------------------------------------------------------------------- flags anywhere


def test_flags_go_first_and_keep_their_values() -> None:
    line = parse(["task=x", "--config-dir", "d", "-m", "seed=1", "--cfg=job", "-i", "searchpath"])
    assert line.argv() == [
        "--config-dir",
        "d",
        "-m",
        "--cfg=job",
        "-i",
        "searchpath",
        "task=x",
        "seed=1",
    ]
    assert line.multirun and line.values["config_dir"] == "d" and line.informational


@pytest.mark.parametrize(
    "command",
    [
        ["elmo-tasks", "train", "--config-dir", "my_configs", "task=my_task", "--cfg", "job"],
        ["elmo-tasks", "train", "task=my_task", "--config-dir", "my_configs", "--cfg", "job"],
        ["elmo-tasks", "train", "task=my_task", "-cd", "my_configs", "head=my_max", "-c", "job"],
        ["train.py", "task=my_task", "--config-dir=my_configs", "seed=3", "--cfg", "job"],
        ["train.py", "--cfg", "job", "task=my_task", "-cd", "my_configs"],
    ],
)
def test_config_dir_anywhere_on_the_line(command: list[str], user: Path) -> None:
    done = run(command, user)
    assert done.returncode == 0, done.stderr[-3000:]
    composed = OmegaConf.create(done.stdout)
    assert composed.task.name == "my_task" and composed.task.train_file == f"{user}/bad.csv"


def test_pretrain_takes_config_dir_anywhere(user: Path) -> None:
    done = run(
        ["elmo-tasks", "pretrain", "model=my_model", "--config-dir", "my_configs", "--cfg", "job"],
        user,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert OmegaConf.create(done.stdout).model.options.lstm.dim == 32  # the tiny preset's


# --------------------------------------------------------------------------- the user's groups


@pytest.mark.parametrize(
    "command, says",
    [
        (
            ["elmo-tasks", "train", "--config-dir", "my_configs", "task=my_tsk"],
            [
                "task=my_tsk: 'my_tsk' is not an option of task (conf/task/*.yaml or my_configs/task/*.yaml)",
                "did you mean task=my_task?",
            ],
        ),
        (
            ["train.py", "hydra.searchpath=[file://{user}/my_configs]", "head=my_mx"],
            ["did you mean head=my_max?"],
        ),
        (
            ["train.py", "-m", "--config-dir", "my_configs", "task=my_task", "head=my_max,mx"],
            ["head=my_max,mx: 'mx' is not an option of head", "did you mean 'max'?"],
        ),
        (
            ["elmo-tasks", "train", "-m", "seed=1,2", "trainer.max_epoch=1"],
            [
                "trainer.max_epoch=1: trainer has no key 'max_epoch'; did you mean trainer.max_epochs=1?"
            ],
        ),
        (
            ["train.py", "task=my_task", "head=my_max", "head.dropot=0.2", "-cd", "my_configs"],
            ["did you mean head.dropout=0.2?"],
        ),
        (
            ["train.py", "experiment=quickstart/baseline", "trainr.max_epochs=1"],
            ["trainr.max_epochs=1: 'trainr' is not a config group or a top-level key"],
        ),
        (
            ["elmo-tasks", "train", "--config-dir", "nowhere", "task=my_task"],
            ["--config-dir nowhere: no such folder"],
        ),
        (
            ["elmo-tasks", "pretrain", "-cd", "my_configs", "model=my_modl"],
            ["did you mean model=my_model?"],
        ),
    ],
)
def test_typos_of_user_groups_get_suggestions_whatever_the_flags(
    command: list[str], says: list[str], user: Path
) -> None:
    done = run([arg.replace("{user}", str(user)) for arg in command], user)
    one_message(done, 2, *says)
    assert done.stdout == ""
    assert "not an option of experiment" not in done.stderr  # quickstart/baseline is one


def test_hydra_searchpath_is_accepted(user: Path) -> None:
    done = run(
        [
            "train.py",
            f"hydra.searchpath=[file://{user}/my_configs]",
            "task=my_task",
            "--cfg",
            "job",
        ],
        user,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert OmegaConf.create(done.stdout).task.name == "my_task"


# --------------------------------------------------------------------------- values (schemas)

TRAIN = ["train.py", "--config-dir", "my_configs", "task=my_task", "trainer.max_epochs=1"]


def test_seed_that_is_not_a_number_is_one_message(user: Path) -> None:
    done = run([*TRAIN, "seed=abc", f"hydra.run.dir={user}/runs/seed"], user)
    one_message(done, 2, "bad config value: seed='abc': must be a whole number >= 0, e.g. seed=1")
    assert "task.seed" not in done.stderr  # ${seed} is checked once, where it is set


def test_dropout_out_of_range_is_one_message(user: Path) -> None:
    done = run([*TRAIN, "head.dropout=1.5", f"hydra.run.dir={user}/runs/dropout"], user)
    one_message(done, 2, "bad config value: head.dropout=1.5: must be at most 0.99")


# --------------------------------------------------------------------------- targets and constructors


def test_a_module_not_on_pythonpath_is_named_with_the_key_and_the_fix(user: Path) -> None:
    done = run([*TRAIN, "head=missing", f"hydra.run.dir={user}/runs/missing"], user)
    one_message(
        done,
        2,
        "head._target_=nosuchmodule.CnnHead: no module named 'nosuchmodule' can be imported",
        "on PYTHONPATH",
    )


def test_a_head_without_passthrough_dim_stops_when_the_encoder_passes_it(user: Path) -> None:
    done = run(
        [
            *TRAIN,
            "head=no_pass",
            "encoder=elmo_mini",
            "encoder.at_output=true",
            f"hydra.run.dir={user}/runs/nopass",
        ],
        user,
    )
    one_message(
        done,
        2,
        "head._target_=userheads.NoPassHead: NoPassHead(input_dim, num_classes, width=8)",
        "cannot be built as a classification head: it takes no argument 'passthrough_dim'",
        "encoder.at_output=true",
    )


def test_an_encoder_that_is_not_a_token_encoder_stops(user: Path) -> None:
    done = run([*TRAIN, "encoder=not_encoder", f"hydra.run.dir={user}/runs/notenc"], user)
    one_message(
        done, 2, "encoder._target_=userheads.NotAnEncoder: NotAnEncoder is not a TokenEncoder"
    )


def test_contracts_in_process(user: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same checks without a process: what each kind is passed, and YAML keys."""
    monkeypatch.syspath_prepend(str(user))
    task = {"_target_": "elmo_tasks.data.ClassificationDataModule", "name": "t", "train_file": "x"}
    head = {"_target_": "userheads.NoPassHead", "_partial_": True, "width": 8}
    word = {"_target_": "elmo_tasks.encoders.WordEmbeddingEncoder", "_partial_": True, "dim": 8}
    assert contract_problems(OmegaConf.create({"task": task, "encoder": word, "head": head})) == []
    head["widht"] = 4
    tagging = {**task, "_target_": "elmo_tasks.data.TaggingDataModule"}
    problems = contract_problems(OmegaConf.create({"task": tagging, "encoder": word, "head": head}))
    assert len(problems) == 1 and isinstance(problems[0], ConstructorMismatchError)
    message = str(problems[0])
    assert "cannot be built as a tagging head" in message
    assert "it takes no argument 'num_tags', which the run passes" in message
    assert "it takes no argument 'widht' (head.widht in the config" in message
    assert "did you mean head.width?" in message
    pooling = {"_target_": "elmo_tasks.heads.MaxPoolingClassifier", "_partial_": True}
    problems = contract_problems(
        OmegaConf.create({"task": tagging, "encoder": word, "head": pooling})
    )
    assert [str(p) for p in problems] == [
        "head._target_=elmo_tasks.heads.MaxPoolingClassifier is a classification head, but task=t "
        "is a tagging task: choose a tagging head, e.g. head=tagger_crf or head=tagger_softmax"
    ]
    with pytest.raises(TargetImportError, match=r"did you mean userheads\.NoPassHead\?"):
        locate("userheads.NoPasHead", "head")
    with pytest.raises(TargetImportError, match=r"no module named 'elmo_tasks\.nosuch'"):
        locate("elmo_tasks.nosuch.Thing", "head")


def test_an_encoder_that_sets_no_output_dim_is_named(user: Path, monkeypatch) -> None:
    from elmo_tasks.tasks.parts import TaskParts

    monkeypatch.syspath_prepend(str(user))
    encoder = {"_target_": "userheads.NoDimEncoder", "_partial_": True}
    head = {"_target_": "elmo_tasks.heads.MaxPoolingClassifier", "_partial_": True}
    optimizer = {"_target_": "torch.optim.Adam", "_partial_": True}
    with pytest.raises(ConstructorMismatchError, match="NoDimEncoder did not set output_dim"):
        TaskParts.build(encoder, head, optimizer, None, ["a"])
