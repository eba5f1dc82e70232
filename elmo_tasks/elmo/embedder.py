"""ELMo vectors of raw sentences in one line, as AllenNLP's ``ElmoEmbedder`` gives them::

    from elmo_tasks import ElmoEmbedder

    embedder = ElmoEmbedder("mini")                      # a preset, or options.json + weights.hdf5
    layers = embedder.embed_sentence("Hello world .")    # numpy (3, 3, dim): the biLM's 3 layers
    batch = embedder.embed_sentences(["A film .", ["Great", "!"]])

Always deterministic: the biLM runs in eval mode without autograd, and nothing is dropped out
(``Elmo(...)``'s ``dropout`` applies to its task representations in training mode only; this
helper has no dropout at all). Stateless, unlike AllenNLP's: a sentence's vectors never depend on
what was embedded before. A sentence is a list of tokens, or a string split at whitespace (or
by ``tokenizer``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch

from elmo_tasks.elmo.batching import embed_sentences
from elmo_tasks.elmo.hub import PACKAGED, PRESETS
from elmo_tasks.elmo.model import ElmoBiLm

PathLike = str | os.PathLike
Sentence = str | Sequence[str]


def _weights_for(options_file: PathLike, weight_file: PathLike | None) -> PathLike:
    if weight_file is not None:
        return weight_file
    if str(options_file) in PACKAGED or str(options_file) in PRESETS:
        return options_file  # a preset names both files
    raise ValueError(
        f"weight_file is needed with options_file={str(options_file)!r} (only a preset name, "
        f"such as {', '.join([*PACKAGED, *PRESETS])}, stands for both files)"
    )


class ElmoEmbedder:
    """The three biLM layers of sentences, without sentence boundaries: ``(3, n_tokens, dim)``
    per sentence (layer 0 is the token layer, repeated for both directions), as
    ``allennlp.commands.elmo.ElmoEmbedder`` returns them.

    options_file, weight_file: paths, URLs or a preset name (``ElmoEmbedder("mini")``: a preset
        names both files).
    device: where the biLM runs (``cpu``, ``cuda``, ``cuda:1`` ...).
    max_tokens: padded token positions per batch (sentences are batched by length).
    tokenizer: how a string becomes tokens (default: split at whitespace).
    """

    def __init__(
        self,
        options_file: PathLike = "mini",
        weight_file: PathLike | None = None,
        device: str | torch.device = "cpu",
        max_tokens: int = 4096,
        tokenizer: Callable[[str], list[str]] = str.split,
    ) -> None:
        self.bilm = ElmoBiLm(options_file, _weights_for(options_file, weight_file))
        self.bilm.eval().to(device)
        self.max_tokens = max_tokens
        self.tokenizer = tokenizer

    @property
    def output_dim(self) -> int:
        """The size of each layer's vectors (both directions)."""
        return self.bilm.get_output_dim()

    def tokens(self, sentence: Sentence) -> list[str]:
        """``sentence`` as tokens: a string is tokenised, a list of strings taken as it is."""
        tokens = self.tokenizer(sentence) if isinstance(sentence, str) else list(sentence)
        if not all(isinstance(t, str) and t for t in tokens):
            raise TypeError(
                f"a sentence is a string or a list of non-empty token strings, got {sentence!r:.80}"
            )
        return tokens

    def embed_sentence(self, sentence: Sentence) -> np.ndarray:
        """``(3, n_tokens, dim)`` float32 for one sentence (``(3, 0, dim)`` for an empty one)."""
        return self.embed_sentences([sentence])[0]

    def embed_sentences(self, sentences: Iterable[Sentence]) -> list[np.ndarray]:
        """``embed_sentence`` of each sentence, in order, batched by length."""
        if isinstance(sentences, str):
            raise TypeError("embed_sentences takes a list of sentences; use embed_sentence(text)")
        tokenized = [self.tokens(s) for s in sentences]
        present = [i for i, t in enumerate(tokenized) if t]
        layers = embed_sentences(
            self.bilm, [tokenized[i] for i in present], self.max_tokens, "activations"
        )
        empty = (self.bilm.num_layers, 0, self.output_dim)
        out = [np.zeros(empty, np.float32) for _ in tokenized]
        for index, stacked in zip(present, layers):
            out[index] = stacked[:, 1:-1].float().numpy()  # without <S> and </S>
        return out

    embed_batch = embed_sentences  # AllenNLP's name for a list of sentences

    @classmethod
    def from_bilm(cls, bilm: ElmoBiLm, max_tokens: int = 4096, tokenizer=str.split):
        """An embedder over an ``ElmoBiLm`` already built (put in eval mode)."""
        self = cls.__new__(cls)
        self.bilm, self.max_tokens, self.tokenizer = bilm.eval(), max_tokens, tokenizer
        return self

    def embed_file(
        self,
        lines: Iterable[str],
        output: PathLike,
        layers: str = "all",
        forget_sentences: bool = False,
    ):
        """Write ``lines`` (one sentence each) in the layout of ``allennlp elmo``
        (:mod:`elmo_tasks.elmo.allennlp_file`); returns the output's path."""
        from elmo_tasks.elmo.allennlp_file import write_allennlp_layout

        lines = list(lines)
        sentences = [self.tokens(line) for line in lines]
        return write_allennlp_layout(
            self, lines, sentences, output, layers, forget_sentences=forget_sentences
        )
