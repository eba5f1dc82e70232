"""What a head is: the contract between the task modules and the heads they build.

A head turns the encoder's vectors into predictions. The task builds it from its config (a
``_partial_: true`` node) with the arguments below plus the config's own keys, so a head of
your own is a class with this constructor and these methods; ``docs/extending.md`` has worked
examples, and the pre-flight step checks the constructor against what the run will pass before
any data is read (:mod:`elmo_tasks.core.targets`).

Every head receives, as keyword arguments:

- ``input_dim``: the width ``D`` of the encoder's vectors (its ``output_dim``);
- ``passthrough_dim``: only when the encoder has pass-through features (an ELMo encoder with
  ``at_output: true``): the last ``passthrough_dim`` of the ``D`` features are meant to skip a
  contextualizer and join its output. Give the constructor ``passthrough_dim: int = 0`` so
  the head works with every encoder;
- a classification head also ``num_classes``; a tagging head ``num_tags``, ``labels`` (the
  tag strings, index order) and ``scheme`` (``BIO`` or ``BIOES``);
- every other key of its config (``dropout``, ``contextualizer`` ...).

The tensors: ``vectors`` is ``(B, T, D)`` float, ``mask`` is ``(B, T)`` bool, True at real
tokens (each row's tokens come first, padding after).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from elmo_tasks.core.schema import choice, number, whole
from elmo_tasks.heads.posteriors import ChainPosteriors

PAD_TAG = -100


@dataclass
class HeadSchema:
    """The keys every head of the package takes (checked before the run starts)."""

    dropout: float | None = number(minimum=0.0, maximum=0.99, example="0.2")
    contextualizer: Literal["none", "bilstm", "transformer"] | None = choice()
    contextualizer_dim: int | None = whole(minimum=1)


@dataclass
class PoolingHeadSchema(HeadSchema):
    """The keys of the pooling classifiers."""

    hidden_dims: list[int] | None = whole(minimum=1, example="[128]")
    pooled_norm: Literal["none", "standardize", "batch", "layer"] | None = choice()


@dataclass
class TaggerSchema(HeadSchema):
    """The keys of the taggers."""

    constraints: bool | None = choice()


@dataclass
class CrfTaggerSchema(TaggerSchema):
    reduction: Literal["mean", "sum"] = choice()


class ClassificationHead(nn.Module):
    """Base of sentence classification heads: ``forward(vectors (B, T, D), mask (B, T)) ->
    logits (B, num_classes)``, unnormalised scores that the task trains with cross-entropy.

    Constructor: ``__init__(self, input_dim: int, num_classes: int, ..., passthrough_dim: int = 0)``
    (see the module docstring). :class:`~elmo_tasks.heads.pooling.PoolingClassifier` is the
    one-method way to write one: subclass it and define ``pool``.

    Optional:
        ``config_schema`` (class attribute): a dataclass with the types and ranges of the
            config's keys (:mod:`elmo_tasks.core.schema`); subclasses inherit it.
        ``check_config(cls, config, key, root)`` (classmethod): more checks of the config
            before anything is built (:mod:`elmo_tasks.core.checks`).
    """

    config_schema: type = HeadSchema

    def __init__(self, input_dim: int, num_classes: int, passthrough_dim: int = 0) -> None:
        super().__init__()

    def forward(self, vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class TaggingHead(nn.Module):
    """Base of sequence tagging heads: one tag per unpadded token.

    Constructor: ``__init__(self, input_dim: int, num_tags: int | None = None, labels:
    Sequence[str] | None = None, scheme: str = "BIO", ..., passthrough_dim: int = 0)``; set
    ``self.num_tags``.

    The one method to write: ``forward(vectors (B, T, D), mask (B, T)) -> emissions (B, T,
    num_tags)``, a score per token and tag. The methods the task calls then follow, as
    independent per-token softmaxes (override them for a structured model, as
    :class:`~elmo_tasks.heads.taggers.CrfTagger` does):

        ``loss(vectors, mask, tags) -> scalar``: ``tags (B, T)`` long tag indices (-100 or
            anything at padding, which is masked); the mean token cross-entropy;
        ``decode(vectors, mask) -> list[list[int]]``: each sentence's tag indices, as many as
            its tokens (the argmax of each token);
        ``posteriors(vectors, mask) -> ChainPosteriors``: the distribution over tag
            sequences that prediction's tag and entity probabilities come from.

    Optional hooks as for :class:`ClassificationHead` (``config_schema``, ``check_config``).
    """

    config_schema: type = TaggerSchema
    num_tags: int

    def __init__(
        self,
        input_dim: int,
        num_tags: int | None = None,
        labels: Sequence[str] | None = None,
        scheme: str = "BIO",
        passthrough_dim: int = 0,
    ) -> None:
        super().__init__()
        if num_tags is not None:
            self.num_tags = num_tags

    def forward(self, vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def loss(self, vectors: torch.Tensor, mask: torch.Tensor, tags: torch.Tensor) -> torch.Tensor:
        logits = self(vectors, mask)
        targets = tags.masked_fill(~mask.bool(), PAD_TAG)
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=PAD_TAG)

    @torch.no_grad()
    def decode(self, vectors: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        best = self(vectors, mask).argmax(dim=-1).tolist()
        return [row[:length] for row, length in zip(best, mask.sum(dim=1).tolist())]

    @torch.no_grad()
    def posteriors(self, vectors: torch.Tensor, mask: torch.Tensor) -> ChainPosteriors:
        """Independent tokens: each token's softmax, as a chain with zero transition scores."""
        log_probs = torch.log_softmax(self(vectors, mask), dim=-1)
        num_tags = log_probs.size(-1)
        zeros = log_probs.new_zeros(num_tags)
        return ChainPosteriors(
            log_probs, mask, log_probs.new_zeros(num_tags, num_tags), zeros, zeros
        )
