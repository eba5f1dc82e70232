"""Where the configs are and which folder is the project root (data and output defaults).

The configs are the package ``elmo_tasks.conf`` (the checkout's ``conf/``, linked into the
package and shipped inside the wheel), which Hydra finds as ``pkg://elmo_tasks.conf``.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

CONFIG_PACKAGE = "elmo_tasks.conf"
CONFIG_SEARCH_PATH = f"pkg://{CONFIG_PACKAGE}"


def _project_root() -> Path:
    """The checkout (the folder holding train.py and conf/) when the package runs from one,
    for an installed package the current folder: the default data folder is ``../shared/data``
    beside it. Outputs go to the current folder either way (``paths.log_dir``)."""
    checkout = Path(__file__).resolve().parents[2]
    return (
        checkout
        if (checkout / "train.py").is_file() and (checkout / "conf").is_dir()
        else Path.cwd()
    )


DEFAULT_PROJECT_ROOT = _project_root()


def config_dir() -> Path:
    """The folder of the package's configs (config.yaml, pretrain.yaml and the groups)."""
    return Path(str(resources.files(CONFIG_PACKAGE)))


def keep_library_caches_in(cache_dir: Any) -> None:
    """Point matplotlib's font cache (matplotlib is imported by torchmetrics, and writes to
    ``~/.cache/matplotlib`` and ``~/.config/matplotlib`` by default) into ``cache_dir``
    (``paths.cache_dir``), unless ``MPLCONFIGDIR`` is set. Call it before torchmetrics is
    imported."""
    if cache_dir and "MPLCONFIGDIR" not in os.environ:
        os.environ["MPLCONFIGDIR"] = str(Path(str(cache_dir)).expanduser() / "matplotlib")
