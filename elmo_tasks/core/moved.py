"""Import paths of modules that moved: the old path keeps working for at least one release.

An old module (e.g. ``elmo_tasks/metrics.py``) is a few lines that call :func:`moved_module`:
importing it warns with a ``DeprecationWarning`` naming the new path, and every name read from
it is the new module's object itself (not a copy), so ``isinstance`` checks, pickles and Hydra
``_target_`` strings written by earlier releases keep working. Run as ``python -m`` (a command),
the old path stays quiet: the commands themselves did not move.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

# old import path -> the modules its names now live in (searched in this order)
MOVED: dict[str, tuple[str, ...]] = {
    "elmo_tasks.config": ("elmo_tasks.runs.config", "elmo_tasks.core.paths"),
    "elmo_tasks.disk": ("elmo_tasks.core.disk",),
    "elmo_tasks.experiment": ("elmo_tasks.runs.experiment",),
    "elmo_tasks.export": (
        "elmo_tasks.runs.model_folder",
        "elmo_tasks.runs.trained",
        "elmo_tasks.cli.export",
    ),
    "elmo_tasks.integrity": ("elmo_tasks.core.integrity",),
    "elmo_tasks.metrics": ("elmo_tasks.tasks.metrics",),
    "elmo_tasks.pretrain_export": (
        "elmo_tasks.pretraining.export",
        "elmo_tasks.cli.pretrain_export",
    ),
    "elmo_tasks.pretrain_word2vec": (
        "elmo_tasks.pretraining.word2vec",
        "elmo_tasks.cli.pretrain_word2vec",
    ),
    "elmo_tasks.quickstart": ("elmo_tasks.runs.quickstart",),
    "elmo_tasks.resume": ("elmo_tasks.core.resume",),
    "elmo_tasks.sweeps": ("elmo_tasks.core.sweeps",),
    "elmo_tasks.tags": ("elmo_tasks.data.tags",),
    "elmo_tasks.task_corpus": ("elmo_tasks.pretraining.task_corpus", "elmo_tasks.cli.task_corpus"),
}


def moved_module(name: str, old: str) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Warn that ``old`` moved (unless ``name``, the caller's ``__name__``, is ``__main__``) and
    return the module-level ``__getattr__`` and ``__dir__`` that read names from its new modules."""
    targets = MOVED[old]
    if name != "__main__":
        warnings.warn(
            f"{old} moved to {targets[0]}: import from there; the old path will be removed"
            " in a later release",
            DeprecationWarning,
            stacklevel=3,  # the import statement (importlib's own frames are skipped)
        )
    modules: list[ModuleType] = [importlib.import_module(target) for target in targets]

    def __getattr__(attribute: str) -> Any:
        for module in modules:
            if hasattr(module, attribute):
                return getattr(module, attribute)
        raise AttributeError(
            f"module {old!r} (moved to {targets[0]}) has no attribute {attribute!r}"
        )

    def __dir__() -> list[str]:
        return sorted({attribute for module in modules for attribute in dir(module)})

    return __getattr__, __dir__
