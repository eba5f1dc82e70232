"""LightningModules: one per kind of task, wiring an encoder, a head and metrics."""

from elmo_tasks.tasks.classification import ClassificationTask
from elmo_tasks.tasks.tagging import TaggingTask

__all__ = ["ClassificationTask", "TaggingTask"]
