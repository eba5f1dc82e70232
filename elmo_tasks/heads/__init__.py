"""Heads: sentence classifiers (pooling + MLP) and sequence taggers (softmax / CRF)."""

from .crf import ConditionalRandomField  # noqa: F401
from .pooling import (  # noqa: F401
    AttentionPoolingClassifier,
    FirstLastPoolingClassifier,
    MaxMeanPoolingClassifier,
    MaxPoolingClassifier,
    MeanPoolingClassifier,
    PoolingClassifier,
)
from .taggers import CrfTagger, SoftmaxTagger, Tagger  # noqa: F401
