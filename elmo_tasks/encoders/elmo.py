"""ELMo encoders: the scalar mix of all biLM layers, or the character layer alone."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..elmo import Elmo, batch_to_ids
from ..elmo.model import ElmoBiLm
from .base import TokenEncoder, Tokens


class ElmoEncoder(TokenEncoder):
    """A learned scalar mix of the 3 biLM layers (Peters et al., 2018), then dropout.

    options_file / weight_file: local path, URL or preset name (``small``, ``medium``,
    ``original``, ``original_5.5B``). ``requires_grad=True`` fine-tunes the biLM.
    ``cache_vocabulary``: precompute the token vectors of the training vocabulary
    (frozen biLM only; exact, it only skips repeated character-CNN work).
    """

    def __init__(
        self,
        options_file: str,
        weight_file: str,
        dropout: float = 0.5,
        requires_grad: bool = False,
        do_layer_norm: bool = False,
        scalar_mix_parameters: Sequence[float] | None = None,
        cache_vocabulary: bool = False,
        vocabulary: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        vocab_to_cache = list(vocabulary) if cache_vocabulary and vocabulary and not requires_grad else None
        self.elmo = Elmo(
            options_file,
            weight_file,
            num_output_representations=1,
            dropout=dropout,
            requires_grad=requires_grad,
            do_layer_norm=do_layer_norm,
            scalar_mix_parameters=list(scalar_mix_parameters) if scalar_mix_parameters is not None else None,
            vocab_to_cache=vocab_to_cache,
        )
        self.output_dim = self.elmo.get_output_dim()

    def forward(self, tokens: Tokens) -> tuple[torch.Tensor, torch.Tensor]:
        char_ids = batch_to_ids(tokens).to(self.device)
        bilm = self.elmo.bilm
        word_ids = bilm.word_ids_for(tokens).to(self.device) if bilm.vocab is not None else None
        output = self.elmo(char_ids, word_ids)
        return output["elmo_representations"][0], output["mask"]


class ElmoCharEncoder(TokenEncoder):
    """ELMo layer 0 only: the context-independent character-CNN token vectors (the classic
    ablation). The LSTMs are not run."""

    def __init__(
        self,
        options_file: str,
        weight_file: str,
        dropout: float = 0.5,
        requires_grad: bool = False,
        vocabulary: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.bilm = ElmoBiLm(options_file, weight_file, requires_grad=requires_grad)
        self.requires_grad = requires_grad
        self.dropout = torch.nn.Dropout(dropout)
        self.output_dim = self.bilm.options.projection_dim

    def forward(self, tokens: Tokens) -> tuple[torch.Tensor, torch.Tensor]:
        char_ids = batch_to_ids(tokens).to(self.device)
        mask = (char_ids > 0).any(dim=-1)
        context = torch.enable_grad() if self.requires_grad and torch.is_grad_enabled() else torch.no_grad()
        with context:
            vectors = self.bilm.bilm.encode_tokens(char_ids[mask])
        out = vectors.new_zeros(*mask.shape, vectors.size(-1))
        out[mask] = vectors
        return self.dropout(out), mask
