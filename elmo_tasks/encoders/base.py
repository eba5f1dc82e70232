"""The one interface every token encoder follows: tokens in, (batch, len, dim) + mask out.

:class:`TokenEncoder` is the contract for encoders of your own (``docs/extending.md``); the
pre-flight step checks a config's encoder against it before any data is read
(:mod:`elmo_tasks.core.targets`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from elmo_tasks.core.checks import Problem
from elmo_tasks.core.schema import choice, number
from elmo_tasks.encoders.file_checks import elmo_files_problem, word_vectors_problem

Tokens = Sequence[Sequence[str]]


@dataclass
class EncoderSchema:
    """The keys the package's encoders share (checked before the run starts)."""

    dropout: float | None = number(minimum=0.0, maximum=0.99, example="0.5")
    requires_grad: bool | None = choice()


class TokenEncoder(nn.Module):
    """Base class: ``forward(tokens) -> (vectors (batch, max_len, output_dim), mask (batch, max_len))``.

    ``tokens`` is a batch of tokenised sentences (lists of strings). ``vectors`` is float,
    one vector per token (row ``i``'s tokens first, padding after: a tagger needs exactly one
    vector per token); ``mask`` is bool, True at real tokens. Encoders build their own tensors
    on the device of their parameters (:attr:`device`), so data code never depends on them.

    Constructor: the task calls ``Encoder(vocabulary=[...], **config_keys)``. Every encoder
    takes ``vocabulary`` (the training tokens, most frequent first; None when a model is
    rebuilt without data) even if it has no use for it, so configs can swap encoders freely.
    The constructor must set ``self.output_dim`` (the width of ``vectors``), and
    ``self.passthrough_dim`` when some trailing features are meant for after a head's
    contextualizer.

    Optional hooks (defaults here do nothing):
        ``config_schema`` (class attribute): a dataclass with the types and ranges of the
            config's keys (:mod:`elmo_tasks.core.schema`);
        ``check_config(config, key, root)`` (classmethod): files and values to check before
            anything is built (:mod:`elmo_tasks.core.checks`);
        ``passes_through(config)`` (classmethod): whether an encoder of this config will have
            a ``passthrough_dim`` (so the head is given one); checked before the run;
        ``regularization_loss()``: a penalty added to every training loss, or None;
        ``wants_sentences`` (attribute or property) and ``prepare_cache(sentences_by_split)``:
            when ``wants_sentences`` is true the run hands over every split's tokenised
            sentences once, before training, e.g. to precompute activations (by default an
            encoder made of others, :meth:`inner_encoders`, asks them);
        ``reloadable_state()``: frozen weights that checkpoints may leave out (see
            :class:`~elmo_tasks.encoders.elmo.ElmoEncoder`).
    """

    output_dim: int
    # Trailing features of ``output_dim`` that a head should add after its contextualizer
    # instead of feeding them to it (ELMo "at the output" of the task RNN, Peters et al. 2018).
    passthrough_dim: int = 0
    config_schema: type = EncoderSchema

    @classmethod
    def passes_through(cls, config: Any) -> bool:
        """Whether the encoder built from ``config`` will have pass-through features (then the
        head gets ``passthrough_dim=``); by default when the config says ``at_output: true``."""
        return bool(config.get("at_output")) if isinstance(config, Mapping) else False

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

    def inner_encoders(self) -> list[TokenEncoder]:
        """The encoders this one is composed of (its nearest ``TokenEncoder`` submodules, also
        inside ``ModuleList``/``ModuleDict`` containers); none for a plain encoder."""
        found: list[TokenEncoder] = []
        pending = list(self.children())
        while pending:
            module = pending.pop(0)
            if isinstance(module, TokenEncoder):
                found.append(module)
            else:
                pending[:0] = list(module.children())
        return found

    @property
    def wants_sentences(self) -> bool:
        """True when the experiment should hand over the sentences of every data split before
        training (:meth:`prepare_cache`): an encoder with a frozen biLM and a cache folder, or
        a composition with such an encoder inside."""
        return any(encoder.wants_sentences for encoder in self.inner_encoders())

    def prepare_cache(self, sentences_by_split: dict[str, Sequence[Sequence[str]]]) -> None:
        """Called once before training when :attr:`wants_sentences` is true, with each split's
        tokenised sentences (``{"train": [...], "validation": [...], ...}``): build or open what
        lets the encoder skip repeated work on them (ELMo's activation cache); a composition
        asks each of its encoders that wants them."""
        for encoder in self.inner_encoders():
            if encoder.wants_sentences:
                encoder.prepare_cache(sentences_by_split)

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
