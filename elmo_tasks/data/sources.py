"""What a task (data module) config will read, checked before anything is read: its sizes and
limits, every local file it names, and its hub dataset's reachability. The data modules call
this from their ``check_config`` (see :mod:`elmo_tasks.core.checks`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from omegaconf import OmegaConf

from elmo_tasks.core.checks import Problem, hydra_choice
from elmo_tasks.core.docs import doc
from elmo_tasks.core.errors import (
    DataNotFoundError,
    ElmoTasksError,
    data_dir_note,
    data_env_value,
    shown_path,
)
from elmo_tasks.core.schema import check_schema, choice, number, whole
from elmo_tasks.core.text_encoding import encoding_problem

FILE_KEYS = ("train_file", "validation_file", "test_file")


@dataclass
class TaskSchema:
    """Types and ranges of a task (data module) config's sizes and limits; data modules name it
    as their ``config_schema`` (see :mod:`elmo_tasks.core.schema`)."""

    batch_size: int = whole(minimum=1)
    eval_batch_size: int | None = whole(minimum=1)
    max_train_samples: int | None = whole(minimum=1, note=" (null: no limit)")
    max_eval_samples: int | None = whole(minimum=1, note=" (null: no limit)")
    min_count: int | None = whole(minimum=1)
    max_vocab_size: int | None = whole(minimum=1)
    num_workers: int | None = whole(minimum=0)
    validation_fraction: float | None = number(minimum=0.0, maximum=0.99, example="0.1")
    seed: int | None = whole(minimum=0, maximum=2**32 - 1)
    lowercase: bool | None = choice()


@dataclass
class TaggingTaskSchema(TaskSchema):
    """A tagging task's keys: :class:`TaskSchema`'s, the sentence length limit and the columns."""

    max_length: int | None = whole(minimum=1, note=" (null: no limit)")
    long_sentences: Literal["split", "error"] = choice()
    token_column: int | None = whole()
    tag_column: int | None = whole()


# Hub copies of the shared data sets, as overrides of the task that reads the local copy.
HUB_ALTERNATIVES = {
    "sst2": "task.reader=hub +task.hub_name=glue +task.hub_config=sst2 task.train_file=train "
    "task.validation_file=validation task.test_file=null",
    "sst5": "task.reader=hub +task.hub_name=SetFit/sst5 task.train_file=train task.validation_file=validation "
    "task.test_file=test",
    "tweet_sentiment": "task.reader=hub +task.hub_name=mteb/tweet_sentiment_extraction task.train_file=train "
    "task.test_file=test",
    "tweeteval_sentiment": "task.reader=hub task.validation_file=validation",
}

Sources = tuple[str | None, list[tuple[str, Path]]]
"""``(hub source, [])`` for a hub dataset, else ``(None, [(config key, local path), ...])``."""


def check_task_values(task: Any, key: str = "task") -> list[str]:
    """Problems with the sizes and limits of a task (data module) config and its encoding, before
    any data is read."""
    problems = check_schema(task, TaskSchema, key)
    problem = encoding_of(task, key)
    return [*problems, problem] if problem else problems


def encoding_of(task: Any, key: str = "task") -> str | None:
    """Why ``task.encoding`` names no text encoding Python knows, or None."""
    return (
        encoding_problem(task.get("encoding"), f"{key}.encoding") if task.get("encoding") else None
    )


def task_hub_source(task: Mapping[str, Any]) -> str:
    """How messages name the hub dataset a task trains on: ``name/config@revision [split]``."""
    from elmo_tasks.data.hub import hub_source

    return hub_source(
        task.get("hub_name"),
        task.get("hub_config"),
        task.get("train_file"),
        task.get("hub_revision"),
    )


def files_of(task: Mapping[str, Any], keys: tuple[str, ...] = FILE_KEYS) -> list[tuple[str, Path]]:
    """``(task.<key>, path)`` of each file key that is set."""
    return [
        (f"task.{key}", Path(str(task.get(key))).expanduser())
        for key in keys
        if task.get(key) is not None
    ]


def check_sources(task: Any, sources: Sources, root: Any, tagging: bool) -> list[Problem]:
    """Everything wrong with a task's data: missing files (one error naming each), or an
    unreachable hub dataset."""
    hub, files = sources
    if hub is not None:
        from elmo_tasks.data.hub import check_hub_reachable

        try:
            check_hub_reachable(hub, tagging=tagging)
        except ElmoTasksError as error:  # offline or unreachable: reported with the other problems
            return [error]
        return []
    missing = [(key, path) for key, path in files if not path.is_file()]
    return (
        [DataNotFoundError(missing_data_message(task, root, missing, tagging))] if missing else []
    )


def missing_data_message(
    task: Any, root: Any, missing: list[tuple[str, Path]], tagging: bool
) -> str:
    """Which files are missing, where ``paths.data_dir`` points, and the fixes."""
    name = str(task.get("name", "?"))
    choice = hydra_choice("task") or name
    raw = OmegaConf.to_container(task, resolve=False) if OmegaConf.is_config(task) else dict(task)
    paths = root.get("paths") if root is not None else None
    data_dir = Path(str(paths.data_dir)).expanduser() if paths is not None else None
    from_data_dir = any("paths.data_dir" in str(raw.get(_field(key), "")) for key, _ in missing)
    noun = "file" if len(missing) == 1 else "files"
    lines = [f"data for task={choice} not found; the {noun} looked for:"]
    for key, path in missing:
        note = " (a folder, not a file)" if path.is_dir() else ""
        lines.append(f"  {shown_path(path)}{note}   <- {key}")
    lines.append(
        data_dir_note(data_dir, data_dir_from_env(root))
        if from_data_dir
        else (
            f"These paths were given on the command line or in the task config ({data_env_value()}; it only "
            "moves the paths built from ${paths.data_dir})."
        )
    )
    lines.append("To fix it, do one of:")
    if from_data_dir:
        inside = relative_to(missing[0][1], data_dir)
        lines.append(
            f"  - point ELMO_TASKS_DATA at the folder that holds {inside}: export ELMO_TASKS_DATA=/path/to/data "
            f"(or add paths.data_dir=/path/to/data); the expected layout: {doc('data.md', 'The shared data sets')}"
        )
    given: dict[str, str] = {}
    for key, path in missing:
        if not key.startswith("task.data_dir"):
            given.setdefault(key, f"{key}=/path/to/{path.name}")
    if given:
        lines.append("  - add the files' paths to the command: " + " ".join(given.values()))
    else:
        lines.append(
            "  - point task.data_dir at a folder with {split}_text.txt, {split}_labels.txt and mapping.txt: "
            "add task.data_dir=/path/to/tweeteval/sentiment to the command"
        )
    if name == "tweeteval_sentiment" and any(p.name == "train_text.txt" for _, p in missing):
        lines.append(
            "    (the shared copy of TweetEval lacks train_text.txt: its train texts are not redistributed)"
        )
    hub = HUB_ALTERNATIVES.get(name)
    if hub is None:
        prefix = "" if "hub_name" in task else "+"
        reader = "" if tagging else "task.reader=hub "
        columns = " (a dataset with tokens / ner_tags columns)" if tagging else ""
        hub = f"{reader}{prefix}task.hub_name=NAME task.train_file=train task.validation_file=validation{columns}"
    if name != "sst3":
        lines.append(f"  - read a Hugging Face hub dataset instead (needs network): add {hub}")
    return "\n".join(lines)


def _field(key: str) -> str:
    """``task.train_file`` -> ``train_file``; ``task.data_dir + ...`` -> ``data_dir``."""
    return key.split(" ")[0].split(".", 1)[1]


def relative_to(path: Path, folder: Path | None) -> str:
    try:
        return f"{path.relative_to(folder)}" if folder is not None else str(path)
    except ValueError:
        return str(path)


def data_dir_from_env(root: Any) -> bool:
    """Whether ``paths.data_dir`` comes from ``$ELMO_TASKS_DATA`` (not given by hand)."""
    paths = root.get("paths") if root is not None else None
    raw = OmegaConf.to_container(paths, resolve=False) if paths is not None else {}
    return "ELMO_TASKS_DATA" in str(raw.get("data_dir", ""))
