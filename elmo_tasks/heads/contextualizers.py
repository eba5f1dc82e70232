"""Optional sequence layers between an encoder and a head: none, BiLSTM, Transformer."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class BiLstmContextualizer(nn.Module):
    """A bidirectional LSTM over the unpadded part of each sequence; output 2 * hidden_dim."""

    def __init__(
        self, input_dim: int, hidden_dim: int = 128, num_layers: int = 1, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            input_dim,
            hidden_dim,
            num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.output_dim = 2 * hidden_dim

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lengths = mask.sum(dim=1).cpu()
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
        return out


class TransformerContextualizer(nn.Module):
    """One Transformer encoder layer (pre-norm) over the input, padding masked out."""

    def __init__(
        self, input_dim: int, hidden_dim: int = 256, num_heads: int = 4, dropout: float = 0.1
    ) -> None:
        super().__init__()
        heads = num_heads if input_dim % num_heads == 0 else 1
        self.layer = nn.TransformerEncoderLayer(
            input_dim, heads, hidden_dim, dropout, batch_first=True, norm_first=True
        )
        self.output_dim = input_dim

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.layer(x, src_key_padding_mask=~mask)


def build_contextualizer(
    kind: str | None, input_dim: int, hidden_dim: int, dropout: float
) -> nn.Module | None:
    if kind in (None, "none"):
        return None
    if kind == "bilstm":
        return BiLstmContextualizer(input_dim, hidden_dim, dropout=dropout)
    if kind == "transformer":
        return TransformerContextualizer(input_dim, hidden_dim, dropout=dropout)
    raise ValueError(f"head.contextualizer must be none, bilstm or transformer, got {kind!r}")


def contextualize(
    contextualizer: nn.Module | None, x: torch.Tensor, mask: torch.Tensor, main_dim: int
) -> torch.Tensor:
    """The contextualizer over the first ``main_dim`` features, the rest appended unchanged."""
    if contextualizer is None:
        return x
    if main_dim == x.size(-1):
        return contextualizer(x, mask)
    return torch.cat([contextualizer(x[..., :main_dim], mask), x[..., main_dim:]], dim=-1)
