"""Several encoders side by side, e.g. word embeddings + ELMo as in the ELMo paper."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from .base import TokenEncoder, Tokens


class ConcatEncoder(TokenEncoder):
    """Concatenates the vectors of its encoders along the feature axis.

    encoders: encoder constructors (Hydra ``_partial_: true`` configs); each is called
    with ``vocabulary``.
    """

    def __init__(self, encoders: Sequence[Callable[..., TokenEncoder]], vocabulary: Sequence[str] | None = None) -> None:
        super().__init__()
        if not encoders:
            raise ValueError("ConcatEncoder needs at least one encoder")
        self.encoders = nn.ModuleList([make(vocabulary=vocabulary) for make in encoders])
        self.output_dim = sum(e.output_dim for e in self.encoders)

    def forward(self, tokens: Tokens) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = [encoder(tokens) for encoder in self.encoders]
        return torch.cat([vectors for vectors, _ in outputs], dim=-1), outputs[0][1]
