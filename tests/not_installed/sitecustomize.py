"""Makes the modules named in ``$NOT_INSTALLED`` (comma-separated, e.g.
``gensim,hydra_plugins.hydra_joblib_launcher``) look not installed to a Python started with
this folder first on ``PYTHONPATH``, so that a test sees what a plain ``pip install`` without
an extra gives: ``import`` raises ModuleNotFoundError, ``importlib.util.find_spec`` does too,
and Hydra's plugin scan (which lists the ``hydra_plugins`` folders with ``pkgutil`` instead of
importing) does not see them. Nothing else changes (the distributions' metadata stays)."""

from __future__ import annotations

import importlib.abc
import os
import pkgutil
import sys

HIDDEN = tuple(name for name in os.environ.get("NOT_INSTALLED", "").split(",") if name)


def _hidden(name: str) -> bool:
    return any(name == hidden or name.startswith(hidden + ".") for hidden in HIDDEN)


class _NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):  # noqa: ANN001, ANN201 - the finder protocol
        if _hidden(name):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


_walk_packages = pkgutil.walk_packages


def _walk_visible(path=None, prefix="", onerror=None):  # noqa: ANN001, ANN202 - pkgutil's signature
    return (info for info in _walk_packages(path, prefix, onerror) if not _hidden(info.name))


if HIDDEN:
    sys.meta_path.insert(0, _NotInstalled())
    pkgutil.walk_packages = _walk_visible
