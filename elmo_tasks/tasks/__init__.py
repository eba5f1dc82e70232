"""LightningModules: one per kind of task, wiring an encoder, a head and metrics."""

from .classification import ClassificationTask

__all__ = ["ClassificationTask"]
