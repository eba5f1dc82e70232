"""Misspelt overrides get a one-line suggestion instead of a Hydra traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from elmo_tasks.core.config_errors import check_overrides, group_options

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = PROJECT_ROOT / "conf"


@pytest.mark.parametrize(
    "override, suggestion",
    [
        ("experiment=sst2_elmoo", "experiment=sst2_elmo"),
        ("encoder=elmo_chr", "encoder=elmo_char"),
        ("task.max_train_sample=10", "task.max_train_samples=10"),
        ("trainer.max_epoch=3", "trainer.max_epochs=3"),
        ("encodr=elmo", "encoder=elmo"),
        ("trainr.max_epoch=3", "trainer.max_epochs=3"),
    ],
)
def test_typo_gets_the_nearest_valid_name(override: str, suggestion: str) -> None:
    message = check_overrides(["seed=3", override], CONF_DIR)
    assert message is not None and "\n" not in message
    assert message.startswith(f"{override}:") and f"did you mean {suggestion}?" in message


def test_keys_are_checked_against_the_chosen_group_options() -> None:
    """head.contextualizer_dm is near a key of the chosen head, after experiment= picked it."""
    message = check_overrides(["experiment=conll2003_elmo", "head.contextualizer_dm=8"], CONF_DIR)
    assert message is not None and "did you mean head.contextualizer_dim=8?" in message


def test_nothing_close_lists_the_options() -> None:
    message = check_overrides(["encoder=xyzzy"], CONF_DIR)
    assert message is not None and ", ".join(group_options(CONF_DIR, "encoder")) in message


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["experiment=sst2_elmo", "seed=3", "trainer.max_epochs=2", "task.max_train_samples=10"],
        ["encoder=elmo_char", "+extra_key=1", "hydra.run.dir=/tmp/somewhere"],
        ["~ckpt_path"],
        ["-m", "experiment=sst2_elmo,sst2_baseline", "seed=1,2"],
        ["--help", "experiment=sst2_elmoo"],  # Hydra prints its help and runs nothing
        ["experiment=quickstart/baseline", "task=sst2"],  # a nested option
        # Failures that are not misspelt names stay Hydra's to report: a sweep without -m,
        # null for a group (Hydra wants ~experiment).
        ["seed=1,2"],
        ["experiment=null"],
    ],
)
def test_valid_or_unexplained_overrides_return_none(argv: list[str]) -> None:
    assert check_overrides(argv, CONF_DIR) is None


@pytest.mark.parametrize(
    "argv, suggestion",
    [
        (["-m", "experiment=sst2_elmoo"], "did you mean experiment=sst2_elmo?"),
        (["experiment=sst2_elmo,sst2_baselin", "-m"], "did you mean 'sst2_baseline'?"),
        (["-m", "seed=1,2", "trainer.max_epoch=1,2"], "did you mean trainer.max_epochs=1,2?"),
        (["--cfg", "job", "encodr=elmo"], "did you mean encoder=elmo?"),
        (["experiment=quickstart/baseline", "trainr.max_epochs=1"], "trainer.max_epochs=1"),
    ],
)
def test_flags_keep_the_suggestions(argv: list[str], suggestion: str) -> None:
    message = check_overrides(argv, CONF_DIR)
    assert message is not None and suggestion in message and "\n" not in message, message
    if "experiment=quickstart/baseline" in argv:  # a nested option is an option
        assert "not an option" not in message


def test_train_py_exits_2_with_the_suggestion() -> None:
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "train.py", "experiment=sst2_elmoo"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "did you mean experiment=sst2_elmo?" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
