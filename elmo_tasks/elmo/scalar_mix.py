"""The learned scalar mix of the biLM's layers that downstream models use (Peters et al., 2018):
``gamma * sum_k softmax(s)_k * layer_k``, as AllenNLP's ``ScalarMix``."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import nn


class ScalarMix(nn.Module):
    """``gamma * sum_k softmax(s)_k * layer_k``, optionally layer-normalising each layer
    with mean and variance over the unmasked positions only."""

    def __init__(
        self,
        mixture_size: int,
        do_layer_norm: bool = False,
        initial_scalar_parameters: Sequence[float] | None = None,
        trainable: bool = True,
        *,
        initial: Sequence[float] | None = None,
    ) -> None:
        """AllenNLP's arguments; ``initial`` is the old name of ``initial_scalar_parameters``."""
        super().__init__()
        if initial is not None:
            if initial_scalar_parameters is not None:
                raise TypeError(
                    "ScalarMix: give initial_scalar_parameters only (initial is its old name)"
                )
            warnings.warn(
                "ScalarMix(initial=...) is deprecated; use initial_scalar_parameters=... (AllenNLP's name)",
                DeprecationWarning,
                stacklevel=2,
            )
            initial_scalar_parameters = initial
        n_layers = mixture_size
        initial = (
            [0.0] * n_layers
            if initial_scalar_parameters is None
            else list(initial_scalar_parameters)
        )
        if len(initial) != n_layers:
            raise ValueError(
                f"scalar_mix_parameters has {len(initial)} values; the biLM has {n_layers} layers"
            )
        self.do_layer_norm = do_layer_norm
        self.scalar_parameters = nn.Parameter(
            torch.tensor(initial, dtype=torch.float32), requires_grad=trainable
        )
        self.gamma = nn.Parameter(torch.tensor([1.0]), requires_grad=trainable)

    def forward(
        self, layers: torch.Tensor | Sequence[torch.Tensor], mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """layers: a (n_layers, ...) stack, or a sequence of n_layers equally shaped tensors."""
        if len(layers) != len(self.scalar_parameters):
            raise ValueError(
                f"ScalarMix has {len(self.scalar_parameters)} weights but got {len(layers)} layers"
            )
        weights = torch.softmax(self.scalar_parameters, dim=0)
        if self.do_layer_norm:
            if mask is None:
                raise ValueError("ScalarMix with do_layer_norm=True needs the mask")
            layers = [self._layer_norm(layer, mask) for layer in layers]
        stacked = layers if isinstance(layers, torch.Tensor) else torch.stack(list(layers))
        # One vector-matrix product over the stack: a third of the time of a multiply and an
        # add per layer, forward and backward.
        return self.gamma * torch.tensordot(weights.to(stacked.dtype), stacked, dims=1)

    @staticmethod
    def _layer_norm(layer: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        broadcast = mask.unsqueeze(-1).to(layer.dtype)
        count = broadcast.sum() * layer.size(-1)
        masked = layer * broadcast
        mean = masked.sum() / count
        variance = (((masked - mean) * broadcast) ** 2).sum() / count
        return (layer - mean) / torch.sqrt(variance + 1e-13)
