"""Data: readers per format (tables, SST trees, TweetEval, CoNLL, hub) and DataModules."""

from elmo_tasks.data.classification_datamodule import ClassificationDataModule
from elmo_tasks.data.tagging_datamodule import TaggingDataModule

__all__ = ["ClassificationDataModule", "TaggingDataModule"]
