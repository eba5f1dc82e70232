"""Sentence classifiers: (optional contextualizer) -> pooling -> MLP -> logits.

One class per pooling so that each ``conf/head/*.yaml`` names exactly one class.
"""

from __future__ import annotations

import torch
from torch import nn

from elmo_tasks.elmo.dropout import Dropout
from elmo_tasks.heads.base import ClassificationHead, PoolingHeadSchema
from elmo_tasks.heads.contextualizers import build_contextualizer, contextualize

NEG_INF = -1e4


class PoolingClassifier(ClassificationHead):
    """Base: ``forward(vectors (B, T, D), mask (B, T)) -> logits (B, num_classes)``:
    (optional contextualizer) -> ``pool`` -> (optional norm) -> MLP.

    The one-method way to write a classification head: subclass this and define
    ``pool(x (B, T, H), mask (B, T) bool) -> (B, H * pooled_multiplier)``, one vector per
    sentence from the (contextualized) token vectors ``x``; padded positions hold
    arbitrary values, so use ``mask``. Set the class attribute ``pooled_multiplier`` when the
    pooled vector is wider than ``H`` (max and mean side by side: 2), and override
    ``setup_pooling(self, dim)`` to create the pooling's own parameters (``dim`` = H). The
    constructor, dropout, contextualizer, ``passthrough_dim`` and the config's keys come
    with it (:class:`~elmo_tasks.heads.base.PoolingHeadSchema`).

    contextualizer: none | bilstm | transformer (size ``contextualizer_dim``).
    hidden_dims: widths of the MLP's hidden layers ([] = a linear classifier).
    dropout: applied once to the pooled vector (and to each hidden layer's input).
    pooled_norm: none | batch (per-feature standardisation of the pooled vector, learned
        scale and shift) | layer. Max-pooled frozen features have large, uneven offsets that
        slow a linear layer's optimisation; ``batch`` conditions them as a probe's feature
        scaling would.
    passthrough_dim: the last ``passthrough_dim`` input features skip the contextualizer and
        join its output (ELMo at the output of the task RNN; given by the encoder).
    """

    pooled_multiplier = 1
    config_schema = PoolingHeadSchema

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        contextualizer: str | None = None,
        contextualizer_dim: int = 128,
        hidden_dims: list[int] | tuple[int, ...] = (),
        dropout: float = 0.0,
        pooled_norm: str = "none",
        passthrough_dim: int = 0,
    ) -> None:
        super().__init__(input_dim, num_classes, passthrough_dim)
        self.main_dim = input_dim - passthrough_dim
        self.contextualizer = build_contextualizer(
            contextualizer, self.main_dim, contextualizer_dim, dropout
        )
        dim = (
            self.contextualizer.output_dim if self.contextualizer is not None else self.main_dim
        ) + passthrough_dim
        self.setup_pooling(dim)
        layers: list[nn.Module] = []
        width = dim * self.pooled_multiplier
        self.pooled_norm = build_pooled_norm(pooled_norm, width)
        for hidden in hidden_dims:
            layers += [Dropout(dropout), nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        layers += [Dropout(dropout), nn.Linear(width, num_classes)]
        self.classifier = nn.Sequential(*layers)

    def setup_pooling(self, dim: int) -> None:
        """Create the pooling's parameters, if any, for token vectors of width ``dim``."""

    def pool(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """One vector per sentence, ``(B, dim * pooled_multiplier)``, from ``x (B, T, dim)``
        and ``mask (B, T)`` (True at real tokens)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = contextualize(self.contextualizer, x, mask, self.main_dim)
        return self.classifier(self.pooled_norm(self.pool(x, mask)))


class RunningStandardizer(nn.Module):
    """Per-feature standardisation with running statistics, in training as in evaluation.

    Batch normalisation would normalise each training batch by its own statistics; with
    length-bucketed batches those differ from batch to batch far more than the features do
    (a max over a long sentence is larger), so training and evaluation would see different
    inputs. Here the mean and variance are running averages over the training batches
    (a plain average over the first ``1 / momentum`` batches, then exponential), used
    without gradient, followed by a learned scale and shift.
    """

    def __init__(self, width: int, momentum: float = 0.01, eps: float = 1e-5) -> None:
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.weight = nn.Parameter(torch.ones(width))
        self.bias = nn.Parameter(torch.zeros(width))
        self.register_buffer("running_mean", torch.zeros(width))
        self.register_buffer("running_var", torch.ones(width))
        self.register_buffer("batches_seen", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.size(0) > 1:
            with torch.no_grad():
                rate = max(self.momentum, 1.0 / float(self.batches_seen + 1))
                self.running_mean.lerp_(x.mean(dim=0).to(self.running_mean.dtype), rate)
                self.running_var.lerp_(x.var(dim=0).to(self.running_var.dtype), rate)
                self.batches_seen += 1
        scale = self.weight * torch.rsqrt(self.running_var + self.eps)
        return (x - self.running_mean) * scale + self.bias


def build_pooled_norm(kind: str | None, width: int) -> nn.Module:
    if kind in (None, "none"):
        return nn.Identity()
    if kind == "standardize":
        return RunningStandardizer(width)
    if kind == "batch":
        return nn.BatchNorm1d(width)
    if kind == "layer":
        return nn.LayerNorm(width)
    raise ValueError(f"head.pooled_norm must be none, standardize, batch or layer, got {kind!r}")


def _max(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return x.masked_fill(~mask.unsqueeze(-1), NEG_INF).amax(dim=1)


def _mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.unsqueeze(-1).to(x.dtype)
    return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class MaxPoolingClassifier(PoolingClassifier):
    """Max over time of each feature (the classic ELMo text classifier)."""

    def pool(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return _max(x, mask)


class MeanPoolingClassifier(PoolingClassifier):
    """Average over the unpadded positions."""

    def pool(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return _mean(x, mask)


class MaxMeanPoolingClassifier(PoolingClassifier):
    """Max and mean side by side."""

    pooled_multiplier = 2

    def pool(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.cat([_max(x, mask), _mean(x, mask)], dim=-1)


class FirstLastPoolingClassifier(PoolingClassifier):
    """The first and the last unpadded position side by side (for left-to-right / right-to-left
    readers, the positions that have seen the whole sentence)."""

    pooled_multiplier = 2

    def pool(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        last = (mask.sum(dim=1) - 1).clamp(min=0)
        rows = torch.arange(x.size(0), device=x.device)
        return torch.cat([x[:, 0], x[rows, last]], dim=-1)


class AttentionPoolingClassifier(PoolingClassifier):
    """Softmax attention with a learned query vector over the unpadded positions."""

    def setup_pooling(self, dim: int) -> None:
        self.query = nn.Linear(dim, 1)

    def pool(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = self.query(x).squeeze(-1).masked_fill(~mask, NEG_INF)
        return (torch.softmax(scores, dim=1).unsqueeze(-1) * x).sum(dim=1)
