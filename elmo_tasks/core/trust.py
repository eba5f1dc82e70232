"""What loading a folder may build: elmo-tasks' own components and the modules the user trusts.

A run folder or an exported model folder may come from someone else. Its config names classes
by ``_target_``, and rebuilding the model calls them (Hydra's ``instantiate``): a
``_target_: builtins.open`` with ``_args_: [FILE, w]`` would truncate FILE. So before anything
is built from a folder (its config, a checkpoint's saved hyperparameters), every ``_target_``
in it, at any depth (nested nodes, ``_partial_`` factories, lists such as ``_args_``), must name

- a component of elmo-tasks: a class of the package that is a data module, a torch module
  (encoders, heads), a Lightning callback or logger, an optimiser or a scheduler, or a
  function the package marks with :func:`buildable`; or a class its configs name from its
  frameworks (``torch.optim`` optimisers and schedulers, ``pytorch_lightning.Trainer`` and its
  callbacks, loggers, strategies and profilers);
- or a class or function of a module the user trusts on purpose (``trust=``), never one the
  folder asks for.

A name is judged by its text first: nothing outside those modules is imported, since importing
a module runs it. An interpolation (``${...}``) left in a folder's config is refused too:
``instantiate`` would resolve it, and ``${oc.create:...}`` can make a new ``_target_``.
Everything found is one :class:`UntrustedCodeError` (exit status 2) naming each key and target
and how to trust a module; nothing has been called when it is raised.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from elmo_tasks.core.errors import ElmoTasksError

TARGET_KEY = "_target_"
BUILDABLE = "__elmo_tasks_buildable__"
PACKAGE = "elmo_tasks"
# What the package's configs name from its frameworks: module prefix -> base classes (as
# "module:Class") a target there must derive from.
FRAMEWORK_CLASSES: dict[str, tuple[str, ...]] = {
    "torch.optim": ("torch.optim:Optimizer", "torch.optim.lr_scheduler:LRScheduler"),
    "pytorch_lightning.callbacks": ("pytorch_lightning:Callback",),
    "pytorch_lightning.loggers": ("pytorch_lightning.loggers:Logger",),
    "pytorch_lightning.strategies": ("pytorch_lightning.strategies:Strategy",),
    "pytorch_lightning.profilers": ("pytorch_lightning.profilers:Profiler",),
    "pytorch_lightning.Trainer": ("pytorch_lightning:Trainer",),
}
# The package's own classes: what a component derives from.
COMPONENT_CLASSES = (
    "torch.nn:Module",
    "pytorch_lightning:LightningDataModule",
    "pytorch_lightning:Callback",
    "pytorch_lightning.loggers:Logger",
    "hydra.experimental.callback:Callback",
    "torch.optim:Optimizer",
    "torch.optim.lr_scheduler:LRScheduler",
)
# Saved hyperparameters of a task module that are data, never built (a vocabulary may hold any string).
DATA_HYPERPARAMETERS = ("vocabulary", "labels")
DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\Z")

F = TypeVar("F", bound=Callable[..., Any])


class UntrustedCodeError(ElmoTasksError, ValueError):
    """A folder's config or checkpoint names code that loading it may not call (nothing was
    called); the message names each key and target and how to trust a module on purpose."""

    exit_status = 2


class MissingCodeError(ElmoTasksError, ImportError):
    """A trusted module that a folder needs cannot be imported here."""

    exit_status = 2


def buildable(function: F) -> F:
    """Mark a function of the package as one a folder's config may name (a scheduler factory)."""
    setattr(function, BUILDABLE, True)
    return function


@dataclass(frozen=True)
class Target:
    """A ``_target_`` of a config: where it is and what it names."""

    key: str
    name: str

    @property
    def module(self) -> str:
        """The module part of the name (``myheads`` for ``myheads.LastToken``)."""
        return self.name.rpartition(".")[0] or self.name


def trusted_modules(trust: str | Iterable[str] | None) -> tuple[str, ...]:
    """``trust`` (module names: a list, or one string with commas, ``[a,b]`` too) as a tuple;
    :class:`UntrustedCodeError` for an entry that is not a dotted module name."""
    if trust is None:
        return ()
    if isinstance(trust, str):
        trust = [trust]
    entries = (part for name in trust for part in str(name).strip().strip("[]").split(","))
    names = tuple(dict.fromkeys(part.strip() for part in entries if part.strip()))
    for name in names:
        if not DOTTED_NAME.match(name):
            raise UntrustedCodeError(
                f"trust={name!r}: not a module name; give Python module names, e.g. trust=myheads "
                "or trust=myheads,mylib.encoders"
            )
    return names


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def is_package_target(name: str) -> bool:
    """Whether ``name``, by its text, is under the package or a framework prefix its configs use."""
    return any(_within(name, prefix) for prefix in (PACKAGE, *FRAMEWORK_CLASSES))


def find_targets(node: Any, skip: Sequence[str] = (), prefix: str = "") -> list[Target]:
    """Every ``_target_`` in ``node`` (plain containers), at any depth; top-level keys in
    ``skip`` (plain data such as a vocabulary) are left out."""
    found: list[Target] = []
    if isinstance(node, Mapping):
        for key, value in node.items():
            if not prefix and key in skip:
                continue
            path = f"{prefix}.{key}" if prefix else str(key)
            if key == TARGET_KEY:
                found.append(Target(path, value if isinstance(value, str) else repr(value)))
            else:
                found += find_targets(value, (), path)
    elif isinstance(node, (list, tuple)):
        for index, item in enumerate(node):
            found += find_targets(item, (), f"{prefix}[{index}]")
    return found


def find_interpolations(node: Any, skip: Sequence[str] = (), prefix: str = "") -> list[str]:
    """``key: value`` of every string in ``node`` that holds ``${`` (one Hydra would resolve)."""
    found: list[str] = []
    if isinstance(node, Mapping):
        for key, value in node.items():
            if not (not prefix and key in skip):
                path = f"{prefix}.{key}" if prefix else str(key)
                found += find_interpolations(value, (), path)
    elif isinstance(node, (list, tuple)):
        for index, item in enumerate(node):
            found += find_interpolations(item, (), f"{prefix}[{index}]")
    elif isinstance(node, str) and "${" in node:
        found.append(f"{prefix}: {node[:80]}")
    return found


def _class(spec: str) -> type:
    import importlib

    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def _is_subclass(obj: Any, specs: Iterable[str]) -> bool:
    return isinstance(obj, type) and any(issubclass(obj, _class(spec)) for spec in specs)


def _locate(name: str) -> Any:
    """The object ``name`` names, found as Hydra's ``instantiate`` finds it (its own function,
    without ``get_object``'s error log)."""
    from hydra._internal.utils import _locate as locate

    return locate(name)


def _importable(module: str) -> bool:
    """Whether the top-level package of ``module`` can be found, without importing (running) it."""
    import importlib.util

    try:
        return importlib.util.find_spec(module.split(".")[0]) is not None
    except (ImportError, ValueError):
        return False


def package_problem(name: str) -> str | None:
    """None when ``name`` (under a package or framework prefix) is a component; else why not."""
    prefix = next(p for p in (PACKAGE, *FRAMEWORK_CLASSES) if _within(name, p))
    try:
        obj = _locate(name)
    except Exception:  # noqa: BLE001 - whatever importing or looking up raised
        return f"this version of {prefix} has no {name}"
    module = getattr(obj, "__module__", None) or ""
    if prefix == PACKAGE:
        ok = _within(module, PACKAGE) and (
            _is_subclass(obj, COMPONENT_CLASSES) or getattr(obj, BUILDABLE, False) is True
        )
        kind = "not one of the package's components (data modules, encoders, heads, callbacks, schedulers)"
    else:
        root = prefix.split(".")[0]
        ok = _within(module, root) and _is_subclass(obj, FRAMEWORK_CLASSES[prefix])
        kind = f"not one of the {prefix} classes the package's configs name"
    return None if ok else kind


def _trusted_problem(
    target: Target, trusted: Sequence[str], source: str
) -> str | MissingCodeError | None:
    """None when the trusted target imports and names a class or function of a trusted module."""
    try:
        obj = _locate(target.name)
    except Exception as error:  # noqa: BLE001 - an import error, or the module's own failure
        return MissingCodeError(missing_message(source, target, error, trusted))
    module = getattr(obj, "__module__", None) or ""
    if not callable(obj) or isinstance(obj, type(sys)):
        return "not a class or function"
    if not any(_within(module, entry) for entry in trusted):
        return (
            f"it is {module}.{getattr(obj, '__qualname__', '?')}, from a module you did not trust"
        )
    return None


def missing_message(
    source: str, target: Target, error: BaseException, trusted: Sequence[str] = ()
) -> str:
    """One message: which module is missing, what needs it, and the PYTHONPATH fix."""
    cause, link = None, error  # the innermost ImportError (Hydra wraps the import's own)
    while link is not None:
        cause = link if isinstance(link, ImportError) else cause
        link = link.__cause__
    why = " ".join(str(cause or error).split()).split(" Are you sure")[0]
    if isinstance(cause, ModuleNotFoundError) and cause.name:
        why = f"no module named {cause.name}"
    keep = f" and keep trust={','.join(trusted)}" if trusted else ""
    return (
        f"{source} needs the module {target.module} ({target.key}: {target.name}), which cannot be "
        f"imported here ({why[:200]}). Put the folder that holds {target.name.split('.')[0]} on "
        f"PYTHONPATH (PYTHONPATH=/path/to/code){keep}."
    )


def _is_python_itself(name: str) -> bool:
    top = name.split(".")[0]
    return top in getattr(sys, "stdlib_module_names", ()) or top == "builtins"


def _outside(name: str) -> str:
    if _is_python_itself(name):
        return f"Python's own {name.split('.')[0]} module, which a model has no reason to call"
    found = "" if _importable(name) else f"; no module {name.split('.')[0]} is importable here"
    return f"code from outside elmo-tasks{found}"


def check_code(
    config: Any,
    trust: str | Iterable[str] | None,
    source: str,
    how: str,
    skip: Sequence[str] = (),
) -> list[Target]:
    """Check every ``_target_`` of ``config`` (plain containers, or an OmegaConf node) against
    the package's components and the modules in ``trust``, before anything is built.

    ``source`` names the file in the message; ``how`` says how to trust a module there, with
    ``{modules}`` for the module names (e.g. ``trust={modules}``). Returns the targets of
    trusted modules. :class:`UntrustedCodeError` for anything else (one message for all),
    :class:`MissingCodeError` for a trusted module that cannot be imported.
    """
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(config, (DictConfig, ListConfig)):
        config = OmegaConf.to_container(config, resolve=False)
    trusted = trusted_modules(trust)
    refused: list[tuple[Target, str]] = []
    kept: list[Target] = []
    for target in find_targets(config, skip):
        if not DOTTED_NAME.match(target.name):
            refused.append((target, "not a dotted name of a class"))
        elif is_package_target(target.name):
            problem = package_problem(target.name)
            if problem:
                refused.append((target, problem))
        elif any(_within(target.name, entry) for entry in trusted):
            problem = _trusted_problem(target, trusted, source)
            if isinstance(problem, MissingCodeError):
                raise problem
            if problem:
                refused.append((target, problem))
            else:
                kept.append(target)
        else:
            refused.append((target, _outside(target.name)))
    interpolations = find_interpolations(config, skip)
    if refused or interpolations:
        raise UntrustedCodeError(untrusted_message(source, refused, interpolations, how))
    return kept


def check_hyperparameters(
    hyperparameters: Any, trust: str | Iterable[str] | None, source: Any, how: str
) -> list[Target]:
    """A checkpoint's saved hyperparameters (Lightning's ``hyper_parameters``: the part configs
    ``load_from_checkpoint`` builds) checked as a folder's config is (:func:`check_code`)."""
    if not hyperparameters:
        return []
    return check_code(
        hyperparameters, trust, f"{source} (its saved hyperparameters)", how, DATA_HYPERPARAMETERS
    )


def untrusted_message(
    source: str, refused: list[tuple[Target, str]], interpolations: list[str], how: str
) -> str:
    """The one message for everything :func:`check_code` refused."""
    lines = [f"{source} names code that loading it would call, and that code is not trusted:"]
    lines += [f"  {target.key}: {target.name} ({why})" for target, why in refused]
    lines += [
        f"  {where} (a ${{...}} left in a folder's config: building would resolve it)"
        for where in interpolations
    ]
    modules = sorted(
        {
            t.module
            for t, _ in refused
            if DOTTED_NAME.match(t.name)
            and not is_package_target(t.name)
            and not _is_python_itself(t.name)
        }
    )
    if refused:
        example = how.format(modules=",".join(modules) or "MODULE")
        lines.append(
            "Nothing was called. Only you can trust code, never the file that names it: if you know "
            f"this code and want it to run, trust its module on purpose ({example}), "
            "with the folder that holds it on PYTHONPATH."
        )
    else:
        lines.append("Nothing was called. Write the value itself instead of the ${...}.")
    return "\n".join(lines)


def code_modules(config: Any, skip: Sequence[str] = ()) -> list[str]:
    """The modules outside the package (and its frameworks) that ``config``'s targets name:
    the code a folder needs besides elmo-tasks (``["myheads"]`` for a user's head class)."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(config, (DictConfig, ListConfig)):
        config = OmegaConf.to_container(config, resolve=False)
    names = (t.module for t in find_targets(config, skip) if not is_package_target(t.name))
    return sorted(set(names))
