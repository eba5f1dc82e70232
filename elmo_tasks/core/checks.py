"""Checks before the heavy work: each component checks its own config; a run gathers them.

A class named by a config's ``_target_`` (a data module, an encoder, ...) may declare the types
and ranges of its keys as a dataclass, ``config_schema`` (see :mod:`elmo_tasks.core.schema`),
and may define::

    @classmethod
    def check_config(cls, config, key, root) -> list[str | ElmoTasksError]: ...

It reads only the config (``config`` is its own node, ``key`` where that node sits, e.g.
``encoder.encoders.elmo``, ``root`` the whole config for shared paths) and answers cheaply:
a string is a value of the wrong type or range (``key=value: why, e.g. key=...``), an
:class:`~elmo_tasks.core.errors.ElmoTasksError` any other problem (a missing file, an
unreachable hub, absent weights). :func:`raise_problems` turns what every component said into
one message, so a new task or encoder brings its checks with it and nothing central changes.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import Any

from elmo_tasks.core.config_values import ConfigValueError
from elmo_tasks.core.errors import ElmoTasksError
from elmo_tasks.core.schema import check_schema, schema_of

Problem = str | ElmoTasksError
CHECK_METHOD = "check_config"


class PreflightError(ElmoTasksError):
    """Several problems found before the run: each one's message, numbered. The exit status is 2
    when every problem is a config mistake, else 1."""

    def __init__(self, problems: list[ElmoTasksError]) -> None:
        self.problems = problems
        self.exit_status = 2 if all(getattr(p, "exit_status", 1) == 2 for p in problems) else 1
        parts = [f"{len(problems)} problems stop this run before it starts:"]
        for number, problem in enumerate(problems, 1):
            text = str(problem).replace("\n", "\n   ")
            parts.append(f"{number}. {text}")
        super().__init__("\n".join(parts))


def target_class(config: Any) -> type | None:
    """The class (or function) a config's ``_target_`` names, or None when there is none or it
    cannot be imported (building the object reports that with its own message)."""
    target = config.get("_target_") if isinstance(config, Mapping) else None
    if not target or "." not in str(target):
        return None
    module_name, _, attribute = str(target).rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attribute, None)
    except ImportError:
        return None


def component_problems(config: Any, key: str, root: Any = None) -> list[Problem]:
    """What is wrong with ``config`` by its class: the values its ``config_schema`` declares
    (:mod:`elmo_tasks.core.schema`), then what its ``check_config`` says (nothing for a class
    with neither)."""
    target = target_class(config)
    schema = schema_of(target)
    problems: list[Problem] = list(check_schema(config, schema, key)) if schema else []
    check = getattr(target, CHECK_METHOD, None)
    return problems + list(check(config, key, root)) if callable(check) else problems


def value_problems(problems: Iterable[Problem | None]) -> list[str]:
    return [p for p in problems if isinstance(p, str)]


def gathered(problems: Iterable[Problem | None]) -> ElmoTasksError | None:
    """One error for all ``problems``: the bad values as one :class:`ConfigValueError` (exit 2),
    the others as they are; several errors become one :class:`PreflightError`."""
    problems = [p for p in problems if p]
    values = value_problems(problems)
    errors: list[ElmoTasksError] = [p for p in problems if isinstance(p, ElmoTasksError)]
    if len(values) == 1:
        errors.insert(0, ConfigValueError(f"bad config value: {values[0]}"))
    elif values:
        errors.insert(
            0, ConfigValueError("bad config values:\n" + "\n".join(f"  - {v}" for v in values))
        )
    if not errors:
        return None
    return errors[0] if len(errors) == 1 else PreflightError(errors)


def raise_problems(problems: Iterable[Problem | None]) -> None:
    error = gathered(problems)
    if error is not None:
        raise error


def hydra_choice(group: str) -> str | None:
    """The option chosen for ``group`` in this Hydra run (``sst2`` for ``task``), if known."""
    try:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            value = HydraConfig.get().runtime.choices.get(group)
            return str(value) if value is not None else None
    except Exception:  # noqa: BLE001 - outside Hydra or no choices
        return None
    return None
