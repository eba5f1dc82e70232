"""Data: readers per format (tables, SST trees, TweetEval, CoNLL, hub) and DataModules."""

from .classification_datamodule import ClassificationDataModule
from .tagging_datamodule import TaggingDataModule

__all__ = ["ClassificationDataModule", "TaggingDataModule"]
