"""Config schemas: the type and range of each key, declared once as a dataclass beside the code
that reads the keys, and checked the same way for every key before anything is built.

A schema is a dataclass whose fields are config keys; the annotation gives the type and the
field's metadata the range::

    @dataclass
    class PoolingHeadSchema:
        dropout: float = number(minimum=0.0, maximum=0.99, example="0.2")
        hidden_dims: list[int] = whole(minimum=1, example="[128]")
        pooled_norm: Literal["none", "batch", "layer"] = choice()

A component names its schema with the class attribute ``config_schema`` (user classes too;
subclasses inherit it); the run's own keys, the trainer's and the optimiser's have theirs by
config path (see :mod:`elmo_tasks.runs.preflight`). Only the keys a schema declares are
checked: a config may carry more (a user's head with keys of its own). Types: ``int`` (whole
numbers), ``float``, ``bool``, ``str``, ``Literal[...]`` (one of), ``list[...]`` of those, and
``... | None`` where null is allowed. Unlike a Hydra structured config this leaves composing
untouched, so user configs that extend the package's with keys of their own keep working, and
it checks ranges as well as types.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal

from elmo_tasks.core.config_values import real_number, shown_value, whole_number

SCHEMA_ATTRIBUTE = "config_schema"


def whole(
    minimum: int | None = None, maximum: int | None = None, note: str = "", example: str = ""
) -> Any:
    """A field for a whole number (or a list of them) in ``[minimum, maximum]``."""
    return dataclasses.field(
        default=None,
        metadata={"minimum": minimum, "maximum": maximum, "note": note, "example": example},
    )


def number(
    minimum: float | None = None,
    maximum: float | None = None,
    strict: bool = False,
    example: str = "",
) -> Any:
    """A field for a finite number in the range (``strict``: greater than ``minimum``)."""
    return dataclasses.field(
        default=None,
        metadata={"minimum": minimum, "maximum": maximum, "strict": strict, "example": example},
    )


def choice(example: str = "") -> Any:
    """A field whose ``Literal[...]`` annotation lists the values it takes (or a bool / str)."""
    return dataclasses.field(default=None, metadata={"example": example})


def schema_of(target: Any) -> type | None:
    """The schema a class (or function) declares with ``config_schema``, or None."""
    schema = getattr(target, SCHEMA_ATTRIBUTE, None)
    return schema if dataclasses.is_dataclass(schema) else None


def check_schema(config: Any, schema: type, key: str) -> list[str]:
    """``key.name=value: why`` for each key of ``config`` that ``schema`` declares and whose
    value has the wrong type or is out of range (keys it does not declare are not looked at)."""
    if not isinstance(config, Mapping):
        return []
    hints = typing.get_type_hints(schema)
    problems = []
    for spec in dataclasses.fields(schema):
        if spec.name not in config or _refers_to_another_key(config, spec.name):
            continue
        try:
            value = config.get(spec.name)
        except Exception:  # noqa: BLE001 - needs a running Hydra (${hydra:...}) to resolve
            continue
        full = f"{key}.{spec.name}" if key else spec.name
        problem = check_value(value, hints[spec.name], full, dict(spec.metadata))
        if problem:
            problems.append(problem)
    return problems


def check_value(value: Any, annotation: Any, key: str, limits: dict[str, Any]) -> str | None:
    """Why ``key=value`` does not fit ``annotation`` and ``limits``, or None."""
    kinds = _alternatives(annotation)
    if value is None:
        return None if type(None) in kinds else f"{key} must be set (null is not allowed here)"
    kinds = [kind for kind in kinds if kind is not type(None)]
    allow_none = len(kinds) < len(_alternatives(annotation))
    kind = kinds[0] if len(kinds) == 1 else Any
    origin = typing.get_origin(kind)
    if origin is Literal:
        options = typing.get_args(kind)
        if value in options:
            return None
        shown = ", ".join(str(option) for option in options) + (", null" if allow_none else "")
        return f"{key}={shown_value(value)}: must be one of {shown}"
    if origin in (list, tuple):
        (item,) = typing.get_args(kind)[:1] or (Any,)
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            example = limits.get("example") or "[...]"
            return f"{key}={shown_value(value)}: must be a list, e.g. {key}={example}"
        for index, element in enumerate(value):
            problem = check_value(element, item, f"{key}.{index}", limits)
            if problem:
                return problem
        return None
    if kind is bool:
        return (
            None
            if isinstance(value, bool)
            else f"{key}={shown_value(value)}: must be true or false"
        )
    if kind is int:
        problem = whole_number(
            value,
            key,
            limits.get("minimum"),
            note=limits.get("note", ""),
            maximum=limits.get("maximum"),
        )
        if problem and limits.get("example") and ", e.g." not in problem:
            problem += f", e.g. {key}={limits['example']}"
        return problem
    if kind is float:
        return real_number(
            value,
            key,
            minimum=limits.get("minimum"),
            strict=limits.get("strict", False),
            maximum=limits.get("maximum"),
            example=limits.get("example", ""),
        )
    if kind is str:
        return None if isinstance(value, str) else f"{key}={shown_value(value)}: must be a string"
    return None


def _refers_to_another_key(config: Any, name: str) -> bool:
    """``task.seed: ${seed}``: the value is another key's, checked there (not twice)."""
    get_node = getattr(config, "_get_node", None)
    node = get_node(name) if callable(get_node) else None
    if node is None or not node._is_interpolation():
        return False
    return re.fullmatch(r"\$\{[\w.]+\}", str(node._value())) is not None


def _alternatives(annotation: Any) -> list[Any]:
    """The members of a union (``int | None`` -> [int, NoneType]), else [annotation]."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return list(typing.get_args(annotation))
    return [annotation]
