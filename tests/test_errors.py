"""Errors a newcomer hits read like help: what was looked for, which key set it, how to fix it.

Nothing here touches the network: hub tests run in offline mode or against a closed port
on 127.0.0.1, and ELMo downloads are pointed at such a port too.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import datasets
import pytest
import torch
import yaml

from elmo_tasks.core.checks import PreflightError, component_problems, raise_problems, target_class
from elmo_tasks.core.config_errors import check_overrides
from elmo_tasks.core.errors import (
    CudaUnavailableError,
    DataNotFoundError,
    ElmoTasksError,
    HubUnavailableError,
    MissingValueError,
    WeightsNotFoundError,
    train_command,
)
from elmo_tasks.core.reporting import readable_errors
from elmo_tasks.data.sources import HUB_ALTERNATIVES
from elmo_tasks.elmo import hub
from elmo_tasks.runs import preflight
from elmo_tasks.runs.trainer_checks import cuda_problem
from tests.compose import compose_config

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = PROJECT_ROOT / "conf"
# Compose groups by hand (the default experiment, when there is one, picks its own task).
BY_HAND = ["experiment=none"] if (CONF_DIR / "experiment" / "none.yaml").is_file() else []
OFFLINE_ENV = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def compose(tmp_path: Path, *overrides: str):
    tagging = any(o in ("task=conll2003", "task=token_classification") for o in overrides)
    head = (
        ["head=tagger_crf"] if tagging and not any(o.startswith("head=") for o in overrides) else []
    )
    return compose_config(tmp_path / "run", [*BY_HAND, *overrides, *head])


def closed_port() -> int:
    """A local TCP port that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_train(
    *argv: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **OFFLINE_ENV, **(env or {})}
    return subprocess.run(
        [sys.executable, "train.py", *argv],
        cwd=PROJECT_ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# --------------------------------------------------------------------------- config typos


@pytest.mark.parametrize(
    "override, suggestion",
    [
        ("+trainer.max_epoch=3", "did you mean trainer.max_epochs=3?"),
        ("++trainer.max_epoch=3", "did you mean trainer.max_epochs=3?"),
        ("+optim.optimizer.beta=[0.9,0.99]", "did you mean +optim.optimizer.betas=[0.9,0.99]?"),
        ("+task.hubname=glue", "task.hub_name=glue?"),
    ],
)
def test_added_key_that_the_object_does_not_take_gets_a_suggestion(
    override: str, suggestion: str
) -> None:
    message = check_overrides([*BY_HAND, override], CONF_DIR)
    assert message is not None and message.startswith(f"{override}:") and suggestion in message
    assert "takes no argument" in message


@pytest.mark.parametrize(
    "argv",
    [
        ["+trainer.max_steps=10"],
        ["+task.hub_name=glue"],
        ["+optim.optimizer.betas=[0.9,0.99]"],
        ["+anything=1"],
    ],
)
def test_added_keys_the_object_takes_are_accepted(argv: list[str]) -> None:
    assert check_overrides([*BY_HAND, *argv], CONF_DIR) is None


def test_typo_inside_a_group_is_caught() -> None:
    message = check_overrides([*BY_HAND, "trainer.max_epoch=3"], CONF_DIR)
    assert message is not None and "did you mean trainer.max_epochs=3?" in message


# --------------------------------------------------------------------------- missing data

# task -> (files under the data folder, the key that names the first one)
TASK_FILES = {
    "sst2": (["sst2/train.tsv", "sst2/dev.tsv", "sst2/test.tsv"], "task.train_file"),
    "tweet_sentiment": (
        ["tweet_sentiment_extraction/train.jsonl", "tweet_sentiment_extraction/test.jsonl"],
        "task.train_file",
    ),
    "tweeteval_sentiment": (
        ["tweeteval_sentiment/train_text.txt", "tweeteval_sentiment/mapping.txt"],
        "task.data_dir",
    ),
    "sst5": (["sst5/train.txt", "sst5/dev.txt", "sst5/test.txt"], "task.train_file"),
    "sst3": (["sst5/train.txt", "sst5/dev.txt", "sst5/test.txt"], "task.train_file"),
    "conll2003": (
        ["conll2003/train.txt", "conll2003/dev.txt", "conll2003/test.txt"],
        "task.train_file",
    ),
}


@pytest.mark.parametrize("task", sorted(TASK_FILES))
def test_missing_task_data_names_paths_key_environment_and_fixes(
    task: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nowhere = tmp_path / "nowhere"
    monkeypatch.setenv("ELMO_TASKS_DATA", str(nowhere))
    cfg = compose(tmp_path, f"task={task}")
    with pytest.raises(DataNotFoundError) as caught:
        preflight.check(cfg)
    assert isinstance(caught.value, FileNotFoundError)
    message = str(caught.value)
    files, key = TASK_FILES[task]
    for name in files:
        assert str(nowhere / name) in message
    assert f"<- {key}" in message
    assert f"ELMO_TASKS_DATA={nowhere}" in message and "that folder does not exist" in message
    assert "export ELMO_TASKS_DATA=" in message
    assert task == "sst3" or "task.reader=hub" in message or "task.hub_name=" in message


def test_hub_alternatives_in_the_messages_compose(tmp_path: Path) -> None:
    """The overrides the message suggests are valid ones (the hub itself is not contacted)."""
    for task, hub_overrides in HUB_ALTERNATIVES.items():
        argv = [*BY_HAND, f"task={task}", *hub_overrides.split()]
        assert check_overrides(argv, CONF_DIR) is None, argv
        cfg = compose_config(tmp_path / task, argv)
        source, files = target_class(cfg.task).config_sources(cfg.task)
        assert source is not None and files == [], task


def test_user_file_missing_names_the_path_relative_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ELMO_TASKS_DATA", "/some/data")
    cfg = compose(tmp_path, "task=text_classification", "task.train_file=reviews.csv")
    with pytest.raises(DataNotFoundError) as caught:
        preflight.check(cfg)
    message = str(caught.value)
    assert (
        f"{tmp_path / 'reviews.csv'} (relative to the current directory)   <- task.train_file"
        in message
    )
    assert (
        "ELMO_TASKS_DATA=/some/data" in message
        and "task.train_file=/path/to/reviews.csv" in message
    )


def test_unset_train_file_says_how_to_give_it(tmp_path: Path) -> None:
    cfg = compose(tmp_path, "task=text_classification")
    with pytest.raises(MissingValueError, match=r"task\.train_file must be given") as caught:
        preflight.check(cfg)
    assert train_command("task=text_classification task.train_file=/path/to/train.csv") in str(
        caught.value
    )


def test_missing_data_stops_the_run_before_anything_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from elmo_tasks.runs import experiment

    def no_build(cfg):
        raise AssertionError("the model was built before the data was checked")

    monkeypatch.setattr(experiment, "build", no_build)
    cfg = compose(tmp_path, "task=conll2003", f"paths.data_dir={tmp_path / 'empty'}")
    with pytest.raises(
        DataNotFoundError, match=re.escape(str(tmp_path / "empty" / "conll2003" / "train.txt"))
    ):
        experiment.run(cfg)


def test_missing_pretraining_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from elmo_tasks.pretraining import run as pretrain
    from elmo_tasks.pretraining.text import resolve_files

    monkeypatch.setenv("ELMO_TASKS_DATA", str(tmp_path / "nowhere"))
    cfg = pretrain.compose_pretrain_config(tmp_path / "run", ["model=tiny"])
    with pytest.raises(DataNotFoundError) as caught:
        pretrain.run(cfg)
    message = str(caught.value)
    assert f"{tmp_path / 'nowhere' / 'wikitext2' / 'train.txt.gz'}   <- data.train_files" in message
    assert (
        f"ELMO_TASKS_DATA={tmp_path / 'nowhere'}" in message
        and "data.train_files='corpus/*.txt.gz'" in message
    )
    with pytest.raises(
        DataNotFoundError, match=r"data.train_files: no file matches .*ELMO_TASKS_DATA="
    ):
        resolve_files(str(tmp_path / "absent.txt"))


# --------------------------------------------------------------------------- missing weights


def test_missing_elmo_files_name_paths_keys_and_presets(tmp_path: Path) -> None:
    options = tmp_path / "nowhere" / "options.json"
    cfg = compose(
        tmp_path, "encoder=elmo", f"encoder.options_file={options}", "encoder.weight_file=smal"
    )
    with pytest.raises(WeightsNotFoundError) as caught:
        preflight.check(cfg)
    message = str(caught.value)
    assert f"ELMo options file not found: {options}   <- encoder.options_file" in message
    assert "<- encoder.weight_file (did you mean the preset 'small'?)" in message
    assert "small, medium, original, original_5.5B" in message


def test_resolve_of_a_missing_local_file_names_keys_and_presets(tmp_path: Path) -> None:
    missing = tmp_path / "weights.hdf5"
    with pytest.raises(WeightsNotFoundError) as caught:
        hub.resolve(missing, "weights")
    message = str(caught.value)
    assert (
        str(missing) in message and "encoder.weight_file" in message and "original_5.5B" in message
    )


def test_preset_not_cached_and_unreachable_fails_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELMO_TASKS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(hub, "ELMO_BASE_URL", f"http://127.0.0.1:{closed_port()}/elmo")
    cfg = compose(
        tmp_path, "encoder=elmo", "encoder.options_file=small", "encoder.weight_file=small"
    )
    start = time.perf_counter()
    with pytest.raises(WeightsNotFoundError) as caught:
        preflight.check(cfg)
    assert time.perf_counter() - start < 5.0
    message = str(caught.value)
    assert "ELMo preset 'small' is not in the download cache" in message
    assert (
        "(encoder.options_file, encoder.weight_file)" in message and "is not reachable" in message
    )
    assert hub.PRESETS["small"].url("weights") in message


def test_cached_preset_passes_without_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELMO_TASKS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(hub, "ELMO_BASE_URL", f"http://127.0.0.1:{closed_port()}/elmo")
    for kind in ("options", "weights"):
        target = hub._cache_path(hub.PRESETS["small"].url(kind))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("x")
        target.with_name(target.name + ".sha256").write_text(hub.file_sha256(target) + "\n")
    cfg = compose(
        tmp_path, "encoder=elmo", "encoder.options_file=small", "encoder.weight_file=small"
    )
    assert component_problems(cfg.encoder, "encoder") == []


def test_missing_word_vectors(tmp_path: Path) -> None:
    from elmo_tasks.encoders.word_embedding import read_vectors

    glove = tmp_path / "glove.6B.300d.txt"
    cfg = compose(
        tmp_path,
        "encoder=concat",
        f"encoder.encoders.words.pretrained_file={glove}",
        f"encoder.encoders.elmo.options_file={tmp_path}/o.json",
        f"encoder.encoders.elmo.weight_file={tmp_path}/w.hdf5",
    )
    with pytest.raises(PreflightError) as caught:  # both encoders' problems, in one message
        raise_problems(component_problems(cfg.encoder, "encoder"))
    assert [type(p) for p in caught.value.problems] == [WeightsNotFoundError, WeightsNotFoundError]
    assert caught.value.exit_status == 1
    message = str(caught.value)
    assert message.startswith("2 problems stop this run before it starts:\n1. ")
    assert f"{glove}   <- encoder.encoders.words.pretrained_file" in message
    assert (
        f"ELMo options file not found: {tmp_path}/o.json   <- encoder.encoders.elmo.options_file"
        in message
    )
    with pytest.raises(WeightsNotFoundError, match=r"encoder\.pretrained_file.*or null"):
        read_vectors(glove, None, False)


# --------------------------------------------------------------------------- hub offline


@pytest.fixture()
def online_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """``datasets`` as if HF offline mode were off; no proxy, so a probe goes where it is told."""
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    for variable in (
        "HF_HUB_OFFLINE",
        "HF_DATASETS_OFFLINE",
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(variable, raising=False)


@pytest.mark.parametrize(
    "overrides, local",
    [
        (
            ["task=tweeteval_sentiment", "task.reader=hub"],
            "task=text_classification task.train_file=",
        ),
        (
            ["task=token_classification", "task.hub_name=someone/ner", "task.train_file=train"],
            "task=conll2003",
        ),
    ],
)
def test_unreachable_hub_fails_within_seconds(
    overrides: list[str],
    local: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    online_mode: None,
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    cfg = compose(tmp_path, *overrides)
    start = time.perf_counter()
    with pytest.raises(HubUnavailableError) as caught:
        preflight.check(cfg)
    assert time.perf_counter() - start < 5.0
    message = str(caught.value)
    assert "offline or the hub is unreachable" in message and "Use local files instead" in message
    assert local in message


def test_hub_dataset_offline_through_train_py(tmp_path: Path) -> None:
    result = run_train(
        *BY_HAND,
        "task=tweeteval_sentiment",
        "task.reader=hub",
        "task.validation_file=validation",
        f"paths.log_dir={tmp_path}",
        env={"HF_HOME": str(tmp_path / "hf")},
    )
    assert result.returncode == 1, result.stderr
    assert (
        "error: cannot load hub dataset tweet_eval/sentiment [train]: offline mode is on"
        in result.stderr
    )
    assert train_command("task=text_classification task.train_file=") in result.stderr
    assert "Traceback" not in result.stderr and "Error executing job" not in result.stderr


# --------------------------------------------------------------------------- CUDA


@pytest.mark.parametrize(
    "overrides, fix",
    [
        (["trainer=gpu"], "trainer=cpu"),
        (["trainer=ddp", "trainer.accelerator=gpu"], "trainer.accelerator=cpu"),
    ],
)
def test_cuda_requested_but_absent(
    overrides, fix, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = compose(tmp_path, *overrides)
    with pytest.raises(CudaUnavailableError) as caught:
        preflight.check(cfg)
    message = str(caught.value)
    assert (
        "CUDA was requested (trainer.accelerator=gpu) but torch.cuda.is_available() is False"
        in message
    )
    assert fix in message


def test_more_gpus_than_visible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    cfg = compose(tmp_path, "trainer=gpu", "trainer.devices=2")
    with pytest.raises(
        CudaUnavailableError,
        match=r"trainer.devices=2 asks for 2 CUDA devices but only 1 is visible",
    ):
        raise cuda_problem(cfg.trainer)
    assert cuda_problem(compose(tmp_path, "trainer=cpu").trainer) is None


def test_cuda_check_comes_before_building(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from elmo_tasks.runs import experiment

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(experiment, "build", lambda cfg: pytest.fail("built before the CUDA check"))
    with pytest.raises(CudaUnavailableError):
        experiment.run(compose(tmp_path, "trainer=gpu"))


# --------------------------------------------------------------------------- what train.py prints


def test_readable_errors_prints_the_message_alone(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as caught, readable_errors():
        raise DataNotFoundError("data for task=x not found")
    assert caught.value.code == 1
    assert capsys.readouterr().err == "error: data for task=x not found\n"
    with pytest.raises(ValueError), readable_errors():  # other errors keep their traceback
        raise ValueError("a bug")
    assert issubclass(HubUnavailableError, ElmoTasksError) and issubclass(
        hub.DownloadError, ElmoTasksError
    )


def test_train_py_prints_missing_data_as_one_message(tmp_path: Path) -> None:
    nowhere = tmp_path / "nowhere"
    result = run_train(*BY_HAND, f"paths.log_dir={tmp_path}", env={"ELMO_TASKS_DATA": str(nowhere)})
    assert result.returncode == 1
    assert re.search(r"^error: data for task=sst2 not found", result.stderr, re.M)
    assert f"{nowhere / 'sst2' / 'train.tsv'}   <- task.train_file" in result.stderr
    assert "Traceback" not in result.stderr and "Error executing job" not in result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_train_py_says_cuda_is_absent(tmp_path: Path) -> None:
    result = run_train(*BY_HAND, "trainer=gpu", f"paths.log_dir={tmp_path}")
    assert result.returncode == 1
    expected = "error: CUDA was requested (trainer.accelerator=gpu, trainer=gpu) but torch.cuda.is_available() is False"
    assert re.search("^" + re.escape(expected), result.stderr, re.M)
    assert "trainer=cpu" in result.stderr and "Traceback" not in result.stderr


# --------------------------------------------------------------------------- the configuration reference


def _leaf_keys(node, prefix: str = "") -> set[str]:
    keys: set[str] = set()
    # a mapping keyed by values (label_names: {0: negative}) is one value, not config keys
    if isinstance(node, dict) and all(str(key).isidentifier() for key in node):
        for key, value in node.items():
            if key in ("defaults", "hydra") and not prefix:
                continue
            keys |= _leaf_keys(value, f"{prefix}.{key}" if prefix else str(key))
        return keys
    return {prefix} if prefix else set()


def _documented_names(doc: str) -> set[str]:
    """Every backquoted name of the doc, split at spaces, ``=`` and ``,`` (``a.b=1`` gives ``a.b``)."""
    prose = re.sub(r"^```.*?^```", "", doc, flags=re.S | re.M)  # code blocks are examples
    return {
        part
        for text in re.findall(r"`([^`]+)`", prose)
        for part in re.split(r"[\s=,:]+", text)
        if part
    }


def test_every_config_key_is_documented() -> None:
    """Each leaf key of every YAML under conf/ (``optimizer.lr`` in conf/optim/adam.yaml) is
    named in backquotes in docs/configuration.md: as it is, with a prefix (``optim.optimizer.lr``)
    or, for a dotted name, as its last two or more parts (``model_checkpoint.dirpath`` for
    ``callbacks.model_checkpoint.dirpath``). A list counts as a leaf. ``defaults`` and ``hydra``
    settings are Hydra's; ``_target_`` and ``_partial_`` are explained once for all."""
    names = _documented_names(
        (PROJECT_ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    )
    dotted = {name for name in names if "." in name}
    undocumented = []
    for path in sorted(CONF_DIR.rglob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for key in sorted(_leaf_keys(data)):
            if key.rsplit(".", 1)[-1] in ("_target_", "_partial_"):
                continue
            if key in names or any(
                name.endswith("." + key) or key.endswith("." + name) for name in dotted
            ):
                continue
            undocumented.append(f"{path.relative_to(CONF_DIR)}: {key}")
    assert not undocumented, "keys missing from docs/configuration.md:\n" + "\n".join(undocumented)


def test_every_group_option_is_documented() -> None:
    doc = (PROJECT_ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = []
    for folder in sorted(p for p in CONF_DIR.rglob("*") if p.is_dir()):
        group = folder.relative_to(CONF_DIR).as_posix()
        for option in sorted(p.stem for p in folder.glob("*.yaml")):
            if f"`{option}`" not in doc:
                missing.append(f"{group}={option}")
    assert not missing, "group options missing from docs/configuration.md: " + ", ".join(missing)
