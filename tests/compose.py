"""Compose the project's Hydra config in tests, with every output under a temporary folder."""

from elmo_tasks.runs.config import compose_config

__all__ = ["compose_config"]
