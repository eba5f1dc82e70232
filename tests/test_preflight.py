"""The pre-flight step asks each component about its own config and gathers every answer into
one message: a new task or encoder brings its checks with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from elmo_tasks.core.checks import PreflightError, component_problems, gathered
from elmo_tasks.core.config_values import ConfigValueError
from elmo_tasks.core.errors import DataNotFoundError, WeightsNotFoundError
from elmo_tasks.runs import preflight
from tests.compose import compose_config


class CustomDataModule:
    """A data module of a user's own: nothing in the package knows it."""

    def __init__(self, corpus: str, window: int = 1, main_metric: str = "accuracy") -> None:
        self.corpus, self.window = corpus, window

    @classmethod
    def check_config(cls, config, key, root):
        problems = []
        if not Path(str(config.get("corpus"))).is_file():
            problems.append(
                DataNotFoundError(f"corpus not found: {config.get('corpus')}   <- {key}.corpus")
            )
        if config.get("window", 1) < 1:
            problems.append(f"{key}.window={config.get('window')}: must be at least 1")
        return problems


def test_a_component_of_its_own_is_asked_without_editing_the_checker(tmp_path):
    cfg = compose_config(tmp_path / "run", ["experiment=none", "encoder=word_embedding"])
    cfg.task = {
        "_target_": f"{__name__}.CustomDataModule",
        "corpus": str(tmp_path / "nowhere.txt"),
        "window": 0,
        "main_metric": "accuracy",
    }
    with pytest.raises(PreflightError) as caught:
        preflight.check(cfg)
    assert [type(p) for p in caught.value.problems] == [ConfigValueError, DataNotFoundError]
    assert "task.window=0: must be at least 1" in str(caught.value)
    assert f"corpus not found: {tmp_path / 'nowhere.txt'}   <- task.corpus" in str(caught.value)
    assert caught.value.exit_status == 1  # a missing file is not a command-line typo


def test_values_data_and_weights_arrive_in_one_message(tmp_path, monkeypatch):
    monkeypatch.setenv("ELMO_TASKS_DATA", str(tmp_path / "nowhere"))
    cfg = compose_config(
        tmp_path / "run",
        [
            "experiment=none",
            "task=sst2",
            "encoder=elmo",
            f"encoder.options_file={tmp_path}/o.json",
            f"encoder.weight_file={tmp_path}/w.hdf5",
            "trainer.max_epochs=abc",
            "task.batch_size=0",
        ],
    )
    with pytest.raises(PreflightError) as caught:
        preflight.check(cfg)
    kinds = [type(p) for p in caught.value.problems]
    assert kinds == [ConfigValueError, DataNotFoundError, WeightsNotFoundError]
    message = str(caught.value)
    assert message.startswith("3 problems stop this run before it starts:\n1. bad config values:")
    assert (
        "trainer.max_epochs='abc'" in message and "task.batch_size=0: must be at least 1" in message
    )
    assert (
        "\n2. data for task=sst2 not found" in message
        and "\n3. ELMo options file not found" in message
    )


def test_one_problem_is_raised_as_itself_and_values_alone_exit_2(tmp_path):
    assert gathered([None, ""]) is None
    single = gathered(["threads=0: must be at least 1"])
    assert (
        isinstance(single, ConfigValueError)
        and str(single) == "bad config value: threads=0: must be at least 1"
    )
    assert single.exit_status == 2
    both = gathered(["a=1: bad", ConfigValueError("bad config value: b=2: bad")])
    assert isinstance(both, PreflightError) and both.exit_status == 2


def test_nested_encoders_are_asked_under_their_own_keys(tmp_path):
    cfg = compose_config(
        tmp_path / "run",
        [
            "experiment=none",
            "encoder=concat",
            f"encoder.encoders.elmo.cache_dir={tmp_path}/file/cache",
            "encoder.encoders.elmo.dropout=1.5",
        ],
    )
    (tmp_path / "file").write_text("x")
    problems = component_problems(cfg.encoder, "encoder", cfg)
    assert any(str(p).startswith("encoder.encoders.elmo.cache_dir=") for p in problems)
    assert "encoder.encoders.elmo.dropout=1.5: must be at most 0.99" in problems


def test_a_target_that_cannot_be_imported_is_left_to_instantiation():
    assert component_problems({"_target_": "no_such_package.Thing"}, "task") == []
    assert component_problems({"no_target": 1}, "task") == []
