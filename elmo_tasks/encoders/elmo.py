"""ELMo encoders: the scalar mix of all biLM layers, or the character layer alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from elmo_tasks.core.checks import Problem
from elmo_tasks.core.schema import choice, number
from elmo_tasks.elmo import Elmo, batch_to_ids
from elmo_tasks.elmo.model import ElmoBiLm
from elmo_tasks.encoders.base import EncoderSchema, TokenEncoder, Tokens
from elmo_tasks.encoders.elmo_cache import (
    ActivationCache,
    bilm_checksums,
    check_cache_dir,
    ensure_cache,
)


@dataclass
class ElmoEncoderSchema(EncoderSchema):
    """The keys of the ELMo encoders."""

    scalar_mix_l2: float | None = number(minimum=0.0, example="0.001")
    do_layer_norm: bool | None = choice()
    at_output: bool | None = choice()
    cache_vocabulary: bool | None = choice()
    cache_dtype: Literal["float32", "float16"] | None = choice()


class ElmoEncoder(TokenEncoder):
    """A learned scalar mix of the 3 biLM layers (Peters et al., 2018), then dropout.

    options_file / weight_file: local path, URL or preset name (``mini``, shipped with the
    package, or ``small``, ``medium``, ``original``, ``original_5.5B``). ``requires_grad=True``
    fine-tunes the biLM.
    cache_vocabulary: precompute the token vectors of the training vocabulary (frozen biLM
        only; exact, it only skips repeated character-CNN work).
    cache_dir: with a frozen biLM, compute the activations of every sentence of the data
        once into an hdf5 cache there (shared by all runs with the same weights and data)
        and train the scalar mix on them; ``cache_dtype`` float16 halves the file.
    scalar_mix_l2: the paper's L2 penalty ``lambda * sum(s_k^2)`` on the scalar-mix weights
        (before the softmax), added to the training loss; 0 turns it off.
    at_output: a second scalar mix, with its own weights, whose vectors a head adds after its
        contextualizer (ELMo at the input and the output of the task RNN); the encoder then
        returns both mixes side by side, the output one last (``passthrough_dim``).
    """

    config_schema = ElmoEncoderSchema

    @classmethod
    def check_config(cls, config: Any, key: str = "encoder", root: Any = None) -> list[Problem]:
        """The ELMo files and the cache folder (the values: :class:`ElmoEncoderSchema`)."""
        problems = super().check_config(config, key, root)
        problems.append(check_cache_dir(config.get("cache_dir"), f"{key}.cache_dir"))
        return [p for p in problems if p]

    def __init__(
        self,
        options_file: str,
        weight_file: str,
        dropout: float = 0.5,
        requires_grad: bool = False,
        do_layer_norm: bool = False,
        scalar_mix_parameters: Sequence[float] | None = None,
        cache_vocabulary: bool = False,
        cache_dir: str | None = None,
        cache_dtype: str = "float32",
        scalar_mix_l2: float = 0.0,
        at_output: bool = False,
        vocabulary: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        if scalar_mix_l2 < 0:
            raise ValueError(f"encoder.scalar_mix_l2 must be >= 0, got {scalar_mix_l2}")
        vocab_to_cache = (
            list(vocabulary) if cache_vocabulary and vocabulary and not requires_grad else None
        )
        self.elmo = Elmo(
            options_file,
            weight_file,
            num_output_representations=2 if at_output else 1,
            dropout=dropout,
            requires_grad=requires_grad,
            do_layer_norm=do_layer_norm,
            scalar_mix_parameters=list(scalar_mix_parameters)
            if scalar_mix_parameters is not None
            else None,
            vocab_to_cache=vocab_to_cache,
        )
        self.output_dim = self.elmo.get_output_dim() * (2 if at_output else 1)
        self.passthrough_dim = self.elmo.get_output_dim() if at_output else 0
        self.scalar_mix_l2 = scalar_mix_l2
        self.cache_dir = cache_dir if cache_dir and not requires_grad else None
        self.cache_dtype = cache_dtype
        self.caches: list[ActivationCache] = []

    def reloadable_state(self) -> dict | None:
        """With a frozen biLM: the state-dict keys of its weights (relative to this encoder)
        and the checksums of the files they are read from. Checkpoints leave those weights
        out (5 MB for ``mini``, 374 MB for ``original``, at every save) and take them from
        the same files again when loaded. None when the biLM is being fine-tuned."""
        bilm = self.elmo.bilm
        if any(p.requires_grad for p in bilm.parameters()):
            return None
        prefix = "elmo._elmo_lstm."
        return {
            "keys": [key for key in self.state_dict() if key.startswith(prefix)],
            "source": bilm_checksums(bilm),
        }

    def regularization_loss(self) -> torch.Tensor | None:
        if not self.scalar_mix_l2:
            return None
        weights = [
            mix.scalar_parameters
            for mix in self.elmo.scalar_mixes
            if mix.scalar_parameters.requires_grad
        ]
        return self.scalar_mix_l2 * sum((w**2).sum() for w in weights) if weights else None

    @property
    def wants_sentences(self) -> bool:
        """True when the experiment should hand over its sentences for caching."""
        return self.cache_dir is not None

    def prepare_cache(self, sentences_by_split: dict[str, Sequence[Sequence[str]]]) -> None:
        """Build or open one activation cache per split."""
        bilm = self.elmo.bilm
        manifest = bilm_checksums(bilm)
        self.caches = [
            ensure_cache(bilm, manifest, sentences, self.cache_dir, "all", self.cache_dtype)
            for sentences in sentences_by_split.values()
        ]

    def _cached_layers(self, tokens: Tokens) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(layers, batch, T + 2, dim) activations of every sentence and their mask, or None
        unless all of them are cached."""
        arrays = []
        for sentence in tokens:
            array = next((a for c in self.caches if (a := c.lookup(sentence)) is not None), None)
            if array is None:
                return None
            arrays.append(array)
        steps = max(a.shape[1] for a in arrays)
        layers = torch.empty(arrays[0].shape[0], len(arrays), steps, arrays[0].shape[2])
        padded = layers.numpy()  # one copy per sentence, float16 caches widened on the way
        for row, array in enumerate(arrays):
            padded[:, row, : array.shape[1]] = array
            padded[:, row, array.shape[1] :] = 0.0
        mask = torch.arange(steps).unsqueeze(0) < torch.tensor(
            [a.shape[1] for a in arrays]
        ).unsqueeze(1)
        return layers.to(self.device), mask.to(self.device)

    def forward(self, tokens: Tokens) -> tuple[torch.Tensor, torch.Tensor]:
        cached = self._cached_layers(tokens) if self.caches else None
        if cached is not None:
            output = self.elmo.mix(*cached)
        else:
            char_ids = batch_to_ids(tokens).to(self.device)
            bilm = self.elmo.bilm
            word_ids = bilm.word_ids_for(tokens).to(self.device) if bilm.vocab is not None else None
            output = self.elmo(char_ids, word_ids)
        representations = output["elmo_representations"]
        vectors = (
            representations[0] if len(representations) == 1 else torch.cat(representations, dim=-1)
        )
        return vectors, output["mask"]


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
        context = (
            torch.enable_grad()
            if self.requires_grad and torch.is_grad_enabled()
            else torch.no_grad()
        )
        with context:
            vectors = self.bilm.bilm.encode_tokens(char_ids[mask])
        out = vectors.new_zeros(*mask.shape, vectors.size(-1))
        out[mask] = vectors
        return self.dropout(out), mask
