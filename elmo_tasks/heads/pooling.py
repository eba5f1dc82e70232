"""Sentence classifiers: (optional contextualizer) -> pooling -> MLP -> logits.

One class per pooling so that each ``conf/head/*.yaml`` names exactly one class.
"""

from __future__ import annotations

import torch
from torch import nn

from ..dropout import Dropout
from .contextualizers import build_contextualizer

NEG_INF = -1e4


class PoolingClassifier(nn.Module):
    """Base: ``forward(vectors (B, T, D), mask (B, T)) -> logits (B, num_classes)``.

    contextualizer: none | bilstm | transformer (size ``contextualizer_dim``).
    hidden_dims: widths of the MLP's hidden layers ([] = a linear classifier).
    """

    pooled_multiplier = 1

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        contextualizer: str | None = None,
        contextualizer_dim: int = 128,
        hidden_dims: list[int] | tuple[int, ...] = (),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.contextualizer = build_contextualizer(contextualizer, input_dim, contextualizer_dim, dropout)
        dim = self.contextualizer.output_dim if self.contextualizer is not None else input_dim
        self.setup_pooling(dim)
        layers: list[nn.Module] = []
        width = dim * self.pooled_multiplier
        for hidden in hidden_dims:
            layers += [Dropout(dropout), nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        layers += [Dropout(dropout), nn.Linear(width, num_classes)]
        self.classifier = nn.Sequential(*layers)

    def setup_pooling(self, dim: int) -> None:
        """Create pooling parameters, if any."""

    def pool(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.contextualizer is not None:
            x = self.contextualizer(x, mask)
        return self.classifier(self.pool(x, mask))


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
