"""elmo-tasks COMMAND: dispatch, and misspelt commands, groups and keys exiting 2 with a suggestion."""

from __future__ import annotations

import subprocess
import sys

import pytest

from elmo_tasks.cli import COMMANDS, main
from tests.conftest import PROJECT_ROOT


def _exit(argv: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    captured = capsys.readouterr()
    return stop.value.code, captured.out, captured.err


def test_help_lists_every_command_and_typos_exit_2(capsys):
    code, out, _ = _exit(["--help"], capsys)
    assert code == 0 and all(f"  {name}" in out for name in COMMANDS)
    code, _, err = _exit(["predcit"], capsys)
    assert code == 2 and "unknown command 'predcit'; did you mean predict?" in err
    code, _, err = _exit([], capsys)
    assert code == 2 and "usage: elmo-tasks COMMAND" in err


@pytest.mark.parametrize(
    "argv,message",
    [
        (
            ["pretrain", "model=minii"],
            "'minii' is not an option of model (conf/pretrain/model/*.yaml); did you mean model=mini?",
        ),
        (["pretrain", "data.batch_sise=3"], "did you mean data.batch_size=3?"),
        (["pretrain-word2vec", "optim=adamm"], "did you mean optim=adam?"),
        (["train", "experiment=sst2_elmoo"], "did you mean experiment=sst2_elmo?"),
    ],
)
def test_hydra_commands_answer_misspellings_with_exit_2(argv, message, capsys):
    if argv[0] == "pretrain-word2vec":  # without gensim it names the extra first
        pytest.importorskip(
            "gensim", reason="needs the word2vec extra: pip install 'elmo-tasks[word2vec]'"
        )
    code, _, err = _exit(argv, capsys)
    assert code == 2 and message in err


def test_other_commands_return_their_status(capsys):
    code, _, err = _exit(["export", "run_dir=nowhere", "out=x"], capsys)
    assert code == 1 and "is not a folder" in err
    code, out, _ = _exit(["embed", "--help"], capsys)
    assert code == 0 and "options=..." in out


def test_python_m_pretrain_exits_2_for_a_misspelt_group():
    result = subprocess.run(
        [sys.executable, "-m", "elmo_tasks.pretrain", "model=minii"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2 and "did you mean model=mini?" in result.stderr


def test_version_and_python_m_elmo_tasks(capsys):
    from elmo_tasks import __version__

    code, out, _ = _exit(["--version"], capsys)
    assert code == 0 and out.startswith(f"elmo-tasks {__version__} (Python ")
    result = subprocess.run(
        [sys.executable, "-m", "elmo_tasks", "--version"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and result.stdout.startswith(f"elmo-tasks {__version__}")
    result = subprocess.run(
        [sys.executable, "-m", "elmo_tasks", "predcit"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "did you mean predict?" in result.stderr
