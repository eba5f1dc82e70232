"""OmegaConf resolvers used by the configs in conf/."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

DEFAULT_PROJECT_ROOT = Path(__file__).resolve().parents[1]


def register_resolvers(project_root: str | Path = DEFAULT_PROJECT_ROOT) -> None:
    """``${project_root:}``: the folder holding train.py and conf/ (default data and output paths)."""
    root = str(Path(project_root).resolve())
    OmegaConf.register_new_resolver("project_root", lambda: root, replace=True)
