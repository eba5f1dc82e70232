"""Heads: sentence classifiers (pooling + MLP) and sequence taggers (softmax / CRF)."""

from elmo_tasks.heads.base import ClassificationHead, TaggingHead  # noqa: F401
from elmo_tasks.heads.crf import ConditionalRandomField  # noqa: F401
from elmo_tasks.heads.pooling import (  # noqa: F401
    AttentionPoolingClassifier,
    FirstLastPoolingClassifier,
    MaxMeanPoolingClassifier,
    MaxPoolingClassifier,
    MeanPoolingClassifier,
    PoolingClassifier,
)
from elmo_tasks.heads.taggers import CrfTagger, SoftmaxTagger, Tagger  # noqa: F401
