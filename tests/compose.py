"""Compose the project's Hydra config in tests, with every output under a temporary folder."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from elmo_tasks.config import register_resolvers

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def compose_config(output_dir: Path, overrides: list[str] = ()) -> DictConfig:
    """``conf/config.yaml`` with ``overrides``; the run folder is ``output_dir``."""
    register_resolvers(PROJECT_ROOT)
    with initialize_config_dir(config_dir=str(PROJECT_ROOT / "conf"), version_base="1.3"):
        return compose(
            "config",
            overrides=[f"paths.output_dir={output_dir}", f"paths.log_dir={output_dir}/logs", *overrides],
        )
