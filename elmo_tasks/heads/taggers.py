"""Sequence taggers: (optional contextualizer) -> dropout -> per-token linear scores -> softmax or CRF.

Both take the encoder's ``vectors (B, T, D)`` and ``mask (B, T)``: ``loss(vectors, mask, tags)``
trains (``tags (B, T)``, padded with -100) and ``decode(vectors, mask)`` gives one tag index per
unpadded token. The task builds them with ``head(input_dim=..., num_tags=..., labels=..., scheme=...)``
so that a head can turn the labels into BIO/BIOES constraints (``elmo_tasks.data.tags.crf_constraints``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from elmo_tasks.data.tags import crf_constraints
from elmo_tasks.elmo.dropout import Dropout
from elmo_tasks.heads.base import PAD_TAG, CrfTaggerSchema, TaggerSchema, TaggingHead
from elmo_tasks.heads.contextualizers import build_contextualizer, contextualize
from elmo_tasks.heads.crf import ConditionalRandomField
from elmo_tasks.heads.posteriors import ChainPosteriors

__all__ = ["PAD_TAG", "CrfTagger", "SoftmaxTagger", "Tagger"]


def _num_tags(num_tags: int | None, labels: Sequence[str] | None) -> int:
    if labels is not None and num_tags is not None and num_tags != len(labels):
        raise ValueError(f"head: num_tags={num_tags} but {len(labels)} labels were given")
    count = num_tags if num_tags is not None else len(labels) if labels is not None else 0
    if count < 1:
        raise ValueError("head: give num_tags or labels (the task passes both)")
    return count


def _constrained_crf(
    num_tags: int, labels: Sequence[str] | None, scheme: str, constraints: bool
) -> ConditionalRandomField:
    """A CRF that forbids the transitions ``scheme`` does not allow (none forbidden if not ``constraints``)."""
    if not constraints:
        return ConditionalRandomField(num_tags)
    if labels is None:
        raise ValueError("head.constraints=true needs the tag labels (the task passes them)")
    return ConditionalRandomField(num_tags, **crf_constraints(labels, scheme))


class Tagger(TaggingHead):
    """Base: ``forward(vectors, mask) -> emissions (B, T, num_tags)``, one score per token and tag.

    contextualizer: none | bilstm | transformer (``contextualizer_dim`` per direction for bilstm).
    constraints: decode (and for the CRF, train) only sequences that are well-formed in
        ``scheme``; None means the head's default (CRF: on when labels are given; softmax: off).
    passthrough_dim: the last ``passthrough_dim`` input features skip the contextualizer and
        join its output (ELMo at the output of the task RNN; given by the encoder).
    """

    default_constraints = False
    config_schema = TaggerSchema

    def __init__(
        self,
        input_dim: int,
        num_tags: int | None = None,
        labels: Sequence[str] | None = None,
        scheme: str = "BIO",
        contextualizer: str | None = None,
        contextualizer_dim: int = 200,
        dropout: float = 0.5,
        constraints: bool | None = None,
        passthrough_dim: int = 0,
    ) -> None:
        super().__init__(input_dim, num_tags, labels, scheme, passthrough_dim)
        self.num_tags = _num_tags(num_tags, labels)
        self.labels = list(labels) if labels is not None else None
        self.scheme = scheme
        default = self.default_constraints and labels is not None
        self.constraints = default if constraints is None else bool(constraints)
        self.main_dim = input_dim - passthrough_dim
        self.contextualizer = build_contextualizer(
            contextualizer, self.main_dim, contextualizer_dim, dropout
        )
        dim = (
            self.contextualizer.output_dim if self.contextualizer is not None else self.main_dim
        ) + passthrough_dim
        self.dropout = Dropout(dropout)
        self.projection = nn.Linear(dim, self.num_tags)

    def forward(self, vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        vectors = contextualize(self.contextualizer, vectors, mask.bool(), self.main_dim)
        return self.projection(self.dropout(vectors))


class SoftmaxTagger(Tagger):
    """Independent per-token predictions; loss is the token cross-entropy (mean over tokens).

    Decoding is the argmax of each token, or with ``constraints`` the most probable sequence
    that is well-formed in ``scheme`` (Viterbi over the log-probabilities; nothing is learned).
    """

    def __init__(self, input_dim: int, num_tags: int | None = None, **kwargs) -> None:
        super().__init__(input_dim, num_tags, **kwargs)
        self.decoder: ConditionalRandomField | None = None
        if self.constraints:
            self.decoder = _constrained_crf(self.num_tags, self.labels, self.scheme, True)
            for parameter in self.decoder.parameters():
                parameter.requires_grad_(False).zero_()

    @torch.no_grad()
    def decode(self, vectors: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        if self.decoder is None:
            return super().decode(vectors, mask)
        logits = self(vectors, mask)
        return self.decoder.viterbi_decode(torch.log_softmax(logits, dim=-1), mask.bool())

    # loss and posteriors: TaggingHead's token cross-entropy and independent softmaxes
    # (``constraints`` shape decoding only, not these probabilities).


class CrfTagger(Tagger):
    """Linear emissions + a linear-chain CRF (the ELMo NER tagger with ``contextualizer: bilstm``).

    Loss: the negative log-likelihood of the gold sequences, averaged (``reduction: mean``) or
    summed over the batch. Decoding: Viterbi. Constraints are on by default: ill-formed
    transitions (``O`` -> ``I-PER`` in BIO) get no probability, in training and in decoding.
    """

    default_constraints = True
    config_schema = CrfTaggerSchema

    def __init__(
        self, input_dim: int, num_tags: int | None = None, reduction: str = "mean", **kwargs
    ) -> None:
        super().__init__(input_dim, num_tags, **kwargs)
        if reduction not in ("mean", "sum"):
            raise ValueError(f"head.reduction must be 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction
        self.crf = _constrained_crf(self.num_tags, self.labels, self.scheme, self.constraints)

    def loss(self, vectors: torch.Tensor, mask: torch.Tensor, tags: torch.Tensor) -> torch.Tensor:
        log_likelihood = self.crf.log_likelihood(self(vectors, mask), tags, mask.bool())
        return -(log_likelihood.mean() if self.reduction == "mean" else log_likelihood.sum())

    @torch.no_grad()
    def decode(self, vectors: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        return self.crf.viterbi_decode(self(vectors, mask), mask.bool())

    @torch.no_grad()
    def posteriors(self, vectors: torch.Tensor, mask: torch.Tensor) -> ChainPosteriors:
        """The CRF's distribution (forbidden transitions carry no probability)."""
        return self.crf.posteriors(self(vectors, mask), mask)
