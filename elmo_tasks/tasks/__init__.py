"""LightningModules: one per kind of task, wiring an encoder, a head and metrics."""

from .classification import ClassificationTask
from .tagging import TaggingTask

__all__ = ["ClassificationTask", "TaggingTask"]
