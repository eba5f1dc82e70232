"""Every ``_target_`` of a config imported before the run, and the calls the framework will make
checked against the constructors' signatures.

Hydra imports a target only when it builds it, after the data has been read, and reports a
module that is not on ``PYTHONPATH`` or a constructor that cannot take its arguments with a
traceback. The pre-flight step calls :func:`import_problems` and :func:`call_problem` first,
so each of those is one message naming the config key, exit status 2.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from elmo_tasks.core.docs import doc
from elmo_tasks.core.errors import ElmoTasksError

TARGET_KEY = "_target_"
# Keys of a config node that Hydra reads itself and does not pass on.
HYDRA_KEYS = ("_target_", "_partial_", "_args_", "_recursive_", "_convert_")
GUIDE = doc("extending.md")


class TargetImportError(ElmoTasksError, ImportError):
    """A config names a ``_target_`` whose module cannot be imported or lacks the name."""

    exit_status = 2


class ConstructorMismatchError(ElmoTasksError, TypeError):
    """A class (or function) named by a config cannot take the arguments the run will pass it,
    or is not the kind of object its place asks for."""

    exit_status = 2


def config_targets(config: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """``(key, target)`` of every node with a string ``_target_`` in ``config`` (``hydra`` left
    out), e.g. ``("head", "myheads.CnnHead")``, ``("encoder.encoders.elmo", ...)``."""
    if isinstance(config, Mapping):
        target = config.get(TARGET_KEY)
        if isinstance(target, str) and "${" not in target:
            yield prefix, target
        for name in config:
            if name == "hydra" and not prefix:
                continue
            try:
                child = config.get(name)
            except Exception:  # noqa: BLE001 - an interpolation that needs a running Hydra
                continue
            yield from config_targets(child, f"{prefix}.{name}" if prefix else str(name))
    elif isinstance(config, Sequence) and not isinstance(config, (str, bytes)):
        for index, child in enumerate(config):
            yield from config_targets(child, f"{prefix}.{index}")


def locate(target: str, key: str) -> Any:
    """The object ``target`` names (``package.module.Name``, nested names allowed); raises
    :class:`TargetImportError` saying which module is missing and how to make it importable."""
    parts = target.split(".")
    where = f"{key + '.' if key else ''}{TARGET_KEY}={target}"
    if len(parts) < 2 or not all(parts):
        raise TargetImportError(
            f"{where}: not a dotted path to a class or function (write module.Name, e.g. myheads.CnnHead)"
        )
    module, found = None, 0
    for count in range(len(parts) - 1, 0, -1):
        name = ".".join(parts[:count])
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name and not name.startswith(error.name) and error.name != name:
                raise TargetImportError(
                    f"{where}: importing module '{name}' failed: it imports '{error.name}', which "
                    f"is not installed (pip install the package that provides {error.name})"
                ) from None
            continue
        except Exception as error:  # noqa: BLE001 - the user's module fails while importing
            raise TargetImportError(
                f"{where}: importing module '{name}' failed: {_described(error)}"
            ) from None
        found = count
        break
    if module is None:
        top = parts[0]
        raise TargetImportError(
            f"{where}: no module named '{'.'.join(parts[:-1])}' can be imported (Python finds no "
            f"'{top}' on its path). Put the folder that holds {top}.py (or the package folder "
            f"{top}/) on PYTHONPATH, e.g. PYTHONPATH=/path/to/that/folder elmo-tasks train ... "
            "(the current folder is not searched by elmo-tasks), or install the package that "
            f"provides it; see {GUIDE}"
        )
    obj: Any = module
    for depth, part in enumerate(parts[found:], start=found):
        if not hasattr(obj, part):
            owner = ".".join(parts[:depth])
            names = [n for n in dir(obj) if not n.startswith("_")]
            nearest = difflib.get_close_matches(part, names, n=1)
            hint = f"; did you mean {owner}.{nearest[0]}?" if nearest else ""
            if depth < len(parts) - 1 and inspect.ismodule(obj):
                folder = getattr(obj, "__path__", None)
                place = f" (no {part}.py in {list(folder)[0]})" if folder else ""
                raise TargetImportError(f"{where}: no module named '{owner}.{part}'{place}{hint}")
            raise TargetImportError(f"{where}: '{owner}' has no attribute '{part}'{hint}")
        obj = getattr(obj, part)
    return obj


def import_problems(config: Any) -> list[TargetImportError]:
    """One error for each ``_target_`` of ``config`` that cannot be imported."""
    problems = []
    for key, target in config_targets(config):
        try:
            locate(target, key)
        except TargetImportError as error:
            problems.append(error)
    return problems


def call_problem(
    obj: Any,
    key: str,
    config: Mapping[str, Any],
    passed: Mapping[str, str],
    role: str,
) -> ConstructorMismatchError | None:
    """Why ``obj(**passed, **config's own keys)`` would fail, checked with its signature, or None.

    ``passed`` maps each argument the framework adds to why it does (``"input_dim"`` ->
    ``"the encoder's output_dim"``); ``role`` names the contract (``"a classification head"``).
    """
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):  # a builtin without a signature: nothing to check
        return None
    own = [str(name) for name in config if name not in HYDRA_KEYS]
    params = signature.parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    named = [
        name for name, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    problems = []
    if not takes_any:
        for name in passed:
            if name not in named:
                problems.append(
                    f"it takes no argument '{name}', which the run passes ({passed[name]})"
                )
        for name in own:
            if name not in named and name not in passed:
                nearest = difflib.get_close_matches(name, named, n=1)
                hint = f"; did you mean {key}.{nearest[0]}?" if nearest else ""
                problems.append(
                    f"it takes no argument '{name}' ({key}.{name} in the config: remove the key or "
                    f"add the argument{hint})"
                )
    for name, p in params.items():
        required = p.default is inspect.Parameter.empty and p.kind in (
            p.POSITIONAL_OR_KEYWORD,
            p.KEYWORD_ONLY,
        )
        if required and name not in passed and name not in own:
            problems.append(
                f"its argument '{name}' has no default and neither the run nor the config gives "
                f"it: add {key}.{name}=... (or +{key}.{name}=...) or give it a default"
            )
    if not problems:
        return None
    return ConstructorMismatchError(
        f"{key}.{TARGET_KEY}={config.get(TARGET_KEY)}: {shown_call(obj, signature)} cannot be built as "
        f"{role}: " + "; ".join(problems) + f". The run calls it with "
        f"{', '.join(f'{n}=...' for n in [*passed, *own])}; see {GUIDE} for what each kind receives"
    )


def shown_call(obj: Any, signature: inspect.Signature) -> str:
    """``Name(a, b, c=3, **kwargs)``: a signature as a reader would write it."""
    parts = []
    for name, p in signature.parameters.items():
        if p.kind is p.VAR_POSITIONAL:
            parts.append(f"*{name}")
        elif p.kind is p.VAR_KEYWORD:
            parts.append(f"**{name}")
        elif p.default is inspect.Parameter.empty:
            parts.append(name)
        else:
            parts.append(f"{name}={p.default!r}")
    return f"{getattr(obj, '__qualname__', str(obj))}({', '.join(parts)})"


def _described(error: BaseException) -> str:
    """``SyntaxError at file, line N: why`` or ``Type: message``."""
    if isinstance(error, SyntaxError):
        return f"SyntaxError at {error.filename}, line {error.lineno}: {error.msg}"
    return f"{type(error).__name__}: {error}"
