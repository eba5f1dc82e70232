"""Checks of single config values (whole numbers, ranges, writable folders) and the error that
reports them: each component's own check says ``key=value: why`` (see
:mod:`elmo_tasks.core.checks`), and the pre-flight step raises them together as one
:class:`ConfigValueError` (exit status 2) before anything is built."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from elmo_tasks.core.errors import ElmoTasksError


class ConfigValueError(ElmoTasksError, ValueError):
    """Config values of the wrong type or out of range, or folders that cannot be written."""

    exit_status = 2


def shown_value(value: Any) -> str:
    """A value as messages show it: strings quoted, the rest as written."""
    return repr(value) if isinstance(value, str) else str(value)


def whole_number(
    value: Any,
    key: str,
    minimum: int | None = None,
    allow_none: bool = True,
    note: str = "",
    maximum: int | None = None,
) -> str | None:
    """Why ``key=value`` is not a whole number in ``[minimum, maximum]`` (None when it is)."""
    if value is None:
        return None if allow_none else f"{key} must be set to a whole number{note}"
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            bound = f" >= {minimum}" if minimum is not None else ""
            return f"{key}={shown_value(value)}: must be a whole number{bound}{note}, e.g. {key}={max(minimum or 1, 1)}"
    if minimum is not None and value < minimum:
        return f"{key}={value}: must be at least {minimum}{note}"
    if maximum is not None and value > maximum:
        return f"{key}={value}: must be at most {maximum}{note}"
    return None


def real_number(
    value: Any,
    key: str,
    minimum: float | None = None,
    strict: bool = False,
    maximum: float | None = None,
    allow_none: bool = True,
    example: str = "",
) -> str | None:
    """Why ``key=value`` is not a finite number in the range (None when it is)."""
    if value is None:
        return None if allow_none else f"{key} must be set to a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return f"{key}={shown_value(value)}: must be a number" + (
            f", e.g. {key}={example}" if example else ""
        )
    if minimum is not None and (value <= minimum if strict else value < minimum):
        relation = "greater than" if strict else "at least"
        return f"{key}={value}: must be {relation} {minimum}" + (
            f", e.g. {key}={example}" if example else ""
        )
    if maximum is not None and value > maximum:
        return f"{key}={value}: must be at most {maximum}"
    return None


def writable_folder(path: Any, key: str) -> str | None:
    """Why the folder ``path`` (made if missing) cannot be written, or None."""
    if path is None or str(path) == "" or "://" in str(path):
        return None
    folder = Path(str(path)).expanduser().absolute()
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is None:
        return None
    if not existing.is_dir():
        return f"{key}={path}: cannot create the folder, {existing} is a file; give another folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        what = (
            "is not writable"
            if existing == folder
            else f"cannot be created ({existing} is not writable)"
        )
        return f"{key}={path}: the folder {what}; give a folder you can write to"
    return None


def run_folder_problem(argv: list[str], default_log_dir: str | Path) -> str | None:
    """Why the run folder that Hydra is about to create cannot be written, or None: Hydra makes
    it before any of the project's code runs, and fails with a traceback.

    Looks at ``hydra.run.dir=`` (``hydra.sweep.dir=`` for ``-m``), else ``paths.log_dir=``, else
    ``default_log_dir``; a value with ``${...}`` is checked up to its first interpolation."""
    multirun = any(arg in ("-m", "--multirun") for arg in argv)
    values = dict(arg.split("=", 1) for arg in argv if "=" in arg and not arg.startswith("-"))
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    for candidate in (key, "paths.log_dir"):
        if candidate in values:
            path = values[candidate].split("${", 1)[0]
            return writable_folder(path, candidate) if path else None
    return writable_folder(default_log_dir, "paths.log_dir")
