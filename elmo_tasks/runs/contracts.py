"""The parts a run builds, checked against what the run will pass them, before any data is read.

``experiment.build`` calls the data module with its config's keys, every encoder with
``vocabulary=`` and its keys, and the head with the task's arguments (``input_dim``,
``num_classes`` or ``num_tags``, ``labels``, ``scheme``), ``passthrough_dim`` when the encoder
has pass-through features (``encoder.at_output=true``) and its keys. :func:`contract_problems`
checks each of those calls with the constructor's signature, and that an encoder is a
:class:`~elmo_tasks.encoders.TokenEncoder`, so that a head of your own that cannot take
``passthrough_dim`` fails at once with one message instead of a ``TypeError`` after the data
has been read (the contracts: :mod:`elmo_tasks.heads.base`, :mod:`elmo_tasks.encoders.base`).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl

from elmo_tasks.core.checks import hydra_choice, target_class
from elmo_tasks.core.errors import ElmoTasksError
from elmo_tasks.core.targets import GUIDE, ConstructorMismatchError, call_problem
from elmo_tasks.encoders import ConcatEncoder, TokenEncoder
from elmo_tasks.heads import ClassificationHead, TaggingHead
from elmo_tasks.tasks import ClassificationTask, TaggingTask

# Which LightningModule trains which kind of data module (``datamodule.kind``).
TASK_MODULES: dict[str, type[pl.LightningModule]] = {
    "classification": ClassificationTask,
    "tagging": TaggingTask,
}
ROLES = {"classification": "a classification head", "tagging": "a tagging head"}
HEAD_BASES = {"classification": ClassificationHead, "tagging": TaggingHead}
HEAD_OPTIONS = {
    "classification": "head=max, head=mean, head=attention, head=first_last or head=max_mean",
    "tagging": "head=tagger_crf or head=tagger_softmax",
}
PASSTHROUGH = "passthrough_dim"


def contract_problems(cfg: Any) -> list[ElmoTasksError]:
    """Every part of ``cfg`` (``task``, ``encoder`` with its inner encoders, ``head``) whose
    constructor cannot take what the run will pass it (parts that cannot be imported are left
    to :func:`elmo_tasks.core.targets.import_problems`)."""
    problems: list[ElmoTasksError | None] = []
    task = cfg.get("task")
    task_class = target_class(task)
    if task_class is not None:
        problems.append(call_problem(task_class, "task", task, {}, "a data module"))
    encoder = cfg.get("encoder")
    problems += encoder_problems(encoder, "encoder")
    kind = getattr(task_class, "kind", None)
    head = cfg.get("head")
    head_class = target_class(head)
    if head_class is not None and kind in TASK_MODULES:
        passed = dict(getattr(TASK_MODULES[kind], "head_arguments", {}))
        if passes_through(encoder):
            passed[PASSTHROUGH] = (
                "the encoder has pass-through features: encoder.at_output=true; give the "
                "constructor passthrough_dim: int = 0 so the head works with every encoder"
            )
        problems.append(
            role_problem(head_class, head, task, kind)
            or call_problem(head_class, "head", head, passed, ROLES[kind])
        )
    return [p for p in problems if p is not None]


def role_problem(head_class: Any, head: Any, task: Any, kind: str) -> ElmoTasksError | None:
    """A classification head on a tagging task, or the other way round."""
    other = "tagging" if kind == "classification" else "classification"
    if not (inspect.isclass(head_class) and issubclass(head_class, HEAD_BASES[other])):
        return None
    if issubclass(head_class, HEAD_BASES[kind]):
        return None
    task_name = hydra_choice("task") or task.get("name", "?")
    head_name = hydra_choice("head")
    shown = (
        f"head={head_name} ({head_class.__qualname__})"
        if head_name
        else (f"head._target_={head.get('_target_')}")
    )
    return ConstructorMismatchError(
        f"{shown} is {ROLES[other]}, but task={task_name} is a {kind} task: choose "
        f"{ROLES[kind]}, e.g. {HEAD_OPTIONS[kind]}"
    )


def encoder_problems(config: Any, key: str) -> list[ElmoTasksError]:
    """What is wrong with building the encoder of ``config`` (and its inner encoders)."""
    encoder_class = target_class(config)
    if encoder_class is None:
        return []
    if inspect.isclass(encoder_class) and not issubclass(encoder_class, TokenEncoder):
        return [
            ConstructorMismatchError(
                f"{key}._target_={config.get('_target_')}: {encoder_class.__qualname__} is not a "
                "TokenEncoder: an encoder subclasses elmo_tasks.encoders.TokenEncoder, takes "
                "vocabulary=, sets output_dim and returns (vectors (B, T, output_dim), mask (B, T)) "
                f"from forward(tokens); see {GUIDE}"
            )
        ]
    problems: list[ElmoTasksError] = []
    problem = call_problem(
        encoder_class,
        key,
        config,
        {"vocabulary": "the training vocabulary, most frequent first"},
        "an encoder",
    )
    if problem is not None:
        problems.append(problem)
    if inspect.isclass(encoder_class) and issubclass(encoder_class, ConcatEncoder):
        inner = config.get("encoders") or {}
        pairs = inner.items() if isinstance(inner, Mapping) else enumerate(inner)
        for name, sub in pairs:
            problems += encoder_problems(sub, f"{key}.encoders.{name}")
    return problems


def passes_through(config: Any) -> bool:
    """Whether the encoder of ``config`` will have pass-through features (its class's
    ``passes_through``)."""
    check = getattr(target_class(config), "passes_through", None)
    return bool(check(config)) if callable(check) else False
