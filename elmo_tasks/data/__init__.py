"""Data: readers per format (tables, SST trees, TweetEval, CoNLL, hub) and DataModules."""

from .classification_datamodule import ClassificationDataModule

__all__ = ["ClassificationDataModule"]
