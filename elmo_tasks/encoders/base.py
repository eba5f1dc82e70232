"""The one interface every token encoder follows: tokens in, (batch, len, dim) + mask out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from elmo_tasks.core.checks import Problem
from elmo_tasks.encoders.file_checks import elmo_files_problem, word_vectors_problem

Tokens = Sequence[Sequence[str]]


class TokenEncoder(nn.Module):
    """Base class: ``forward(tokens) -> (vectors (batch, max_len, output_dim), mask (batch, max_len))``.

    ``tokens`` is a batch of tokenised sentences (lists of strings). Encoders build their
    own tensors on the device of their parameters, so data code never depends on them.
    Every encoder takes ``vocabulary`` (the training tokens, most frequent first) even if it
    has no use for it, so configs can swap encoders freely.
    """

    output_dim: int
    # Trailing features of ``output_dim`` that a head should add after its contextualizer
    # instead of feeding them to it (ELMo "at the output" of the task RNN, Peters et al. 2018).
    passthrough_dim: int = 0

    @classmethod
    def check_config(cls, config: Any, key: str = "encoder", root: Any = None) -> list[Problem]:
        """What is wrong with ``config`` before anything is loaded (see :mod:`elmo_tasks.core.checks`):
        by default, each file a ``pretrained_file``, ``options_file`` or ``weight_file`` key names."""
        problems: list[Problem] = []
        if "options_file" in config and "weight_file" in config:
            problems.append(elmo_files_problem(config, key))
        if config.get("pretrained_file"):
            problems.append(
                word_vectors_problem(config.get("pretrained_file"), f"{key}.pretrained_file")
            )
        return [p for p in problems if p]

    def regularization_loss(self) -> torch.Tensor | None:
        """A penalty to add to the training loss (e.g. L2 on ELMo's scalar-mix weights), or None."""
        return None

    @property
    def device(self) -> torch.device:
        for tensor in self.parameters():
            return tensor.device
        for tensor in self.buffers():
            return tensor.device
        return torch.device("cpu")

    @staticmethod
    def lengths_mask(tokens: Tokens, device: torch.device) -> torch.Tensor:
        lengths = torch.tensor([len(sentence) for sentence in tokens], device=device)
        return torch.arange(int(lengths.max()), device=device).unsqueeze(0) < lengths.unsqueeze(1)
