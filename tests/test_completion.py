"""Tab completion as bash runs it: the installed script's function, called with the line being
typed, offers the config groups and options of `elmo-tasks train`, `elmo-tasks pretrain` and
`python train.py`, and the subcommands of `elmo-tasks`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

BIN = Path(sys.executable).parent
pytestmark = [
    pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash"),
    pytest.mark.skipif(
        not (BIN / "elmo-tasks").is_file(),
        reason=f"needs the elmo-tasks command of this environment ({BIN / 'elmo-tasks'}): pip install -e .",
    ),
]


def candidates(install: str, line: str) -> list[str]:
    """COMPREPLY after `eval "$(INSTALL)"` and a completion request for ``line``."""
    words = line.split(" ")
    script = (
        f'eval "$({install})"\n'
        f"COMP_LINE={line!r} COMP_POINT={len(line)} COMP_CWORD={len(words) - 1}\n"
        "hydra_bash_completion\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")])}
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_elmo_tasks_completes_its_subcommands_and_their_config_groups():
    install = "elmo-tasks -sc install=bash"
    assert candidates(install, "elmo-tasks pre") == [
        "predict",
        "pretrain",
        "pretrain-export",
        "pretrain-word2vec",
    ]
    assert candidates(install, "elmo-tasks train encoder=elmo_") == [
        "encoder=elmo_char",
        "encoder=elmo_mini",
    ]
    assert "task=sst2" in candidates(install, "elmo-tasks train experiment=none task=")
    assert candidates(install, "elmo-tasks pretrain model=") == [
        "model=mini",
        "model=original",
        "model=small",
        "model=tiny",
    ]
    assert candidates(install, "elmo-tasks pretrain-word2vec word2vec.d") == ["word2vec.dim="]


def test_the_script_from_a_subcommand_is_the_same_and_python_train_py_completes_too():
    def script(*argv: str) -> str:
        return subprocess.run(
            argv, capture_output=True, text=True, check=True, timeout=300, cwd=PROJECT_ROOT
        ).stdout

    whole = script(str(BIN / "elmo-tasks"), "-sc", "install=bash")
    assert whole.rstrip().endswith("hydra_bash_completion elmo-tasks")
    assert script(str(BIN / "elmo-tasks"), "train", "-sc", "install=bash") == whole
    install = f"{BIN / 'python'} train.py -sc install=bash"
    assert "head=attention" in candidates(install, "python train.py head=")
