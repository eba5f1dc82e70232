"""User-facing ELMo modules: ``ElmoBiLm`` (the raw layers) and ``Elmo`` (scalar mixes).

Both take the files of a published or self-trained biLM (path, URL or preset name) and
char ids from ``batch_to_ids``. Unlike the reference they are stateless by default: a
sentence's vectors never depend on the rest of its batch. ``stateful=True`` carries the
LSTM state from call to call, per batch row, exactly as the reference does.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence

import torch
from torch import nn

from elmo_tasks.elmo.characters import batch_to_ids
from elmo_tasks.elmo.dropout import Dropout
from elmo_tasks.elmo.hub import resolve
from elmo_tasks.elmo.modules import BiLm
from elmo_tasks.elmo.options import ElmoOptions, load_options
from elmo_tasks.elmo.scalar_mix import ScalarMix
from elmo_tasks.elmo.weights import load_weights

PathLike = str | os.PathLike


class ElmoInputError(ValueError):
    """Char ids or word ids that the biLM cannot take."""


def check_char_ids(char_ids: torch.Tensor, max_chars: int) -> None:
    if not isinstance(char_ids, torch.Tensor):
        raise ElmoInputError(
            f"char_ids must be a torch.LongTensor from batch_to_ids, got {type(char_ids).__name__}"
        )
    if char_ids.dtype not in (torch.long, torch.int32, torch.int64):
        raise ElmoInputError(
            f"char_ids must hold integer ids (torch.long), got dtype {char_ids.dtype}"
        )
    if char_ids.dim() < 3 or char_ids.size(-1) != max_chars:
        raise ElmoInputError(
            f"char_ids must have shape (batch, max_len, {max_chars}), got {tuple(char_ids.shape)}"
        )
    if char_ids.numel() == 0:
        raise ElmoInputError(f"char_ids is empty (shape {tuple(char_ids.shape)}): an empty batch")
    empty_rows = (~(char_ids > 0).any(dim=-1).any(dim=-1)).nonzero().flatten()
    if empty_rows.numel():
        raise ElmoInputError(
            f"batch rows {empty_rows.tolist()[:10]} have no tokens; every sentence needs at least one token"
        )
    if int(char_ids.max()) > 261 or int(char_ids.min()) < 0:
        raise ElmoInputError("char_ids must lie in 0..261 (use batch_to_ids)")


def word_ids_argument(word_ids: torch.Tensor | None, word_inputs: torch.Tensor | None):
    """``word_ids``, or AllenNLP's name for it, ``word_inputs``; not both."""
    if word_inputs is None:
        return word_ids
    if word_ids is not None:
        raise ElmoInputError("give word_ids or word_inputs (the same argument), not both")
    return word_inputs


class ElmoBiLm(nn.Module):
    """The pretrained biLM: ``forward(char_ids, word_ids=None)`` returns
    ``{"activations": [3 x (batch, max_len + 2, 2P)], "mask": (batch, max_len + 2)}``
    (``word_inputs=`` is AllenNLP's name for ``word_ids``, also accepted).

    Layer 0 is the context-independent token vector repeated for both directions.

    vocab_to_cache: words whose token vectors are computed once at construction; pass
        ``word_ids`` (indices into that list, -1 for words not in it) to skip the
        character CNN for them. ``word_ids_for`` builds such a tensor.
    """

    def __init__(
        self,
        options_file: PathLike,
        weight_file: PathLike,
        requires_grad: bool = False,
        vocab_to_cache: Sequence[str] | None = None,
        stateful: bool = False,
    ) -> None:
        super().__init__()
        self.options_path = resolve(options_file, "options")
        self.weights_path = resolve(weight_file, "weights")
        self.bilm = BiLm(load_options(self.options_path))
        load_weights(self.bilm, self.weights_path)
        self.requires_grad = requires_grad
        for parameter in self.bilm.parameters():
            parameter.requires_grad_(requires_grad)
        if not requires_grad:
            self.bilm.eval()
        self.stateful = stateful
        self._states: list[tuple[torch.Tensor, torch.Tensor]] | None = None
        self.vocab: dict[str, int] | None = None
        if vocab_to_cache is not None:
            self._build_word_cache(list(vocab_to_cache))

    @classmethod
    def from_module(
        cls, bilm: BiLm, requires_grad: bool = False, stateful: bool = False
    ) -> ElmoBiLm:
        """Wrap an in-memory ``BiLm`` (for example one being pretrained)."""
        self = cls.__new__(cls)
        nn.Module.__init__(self)
        self.bilm, self.requires_grad, self.stateful = bilm, requires_grad, stateful
        self._states, self.vocab = None, None
        self.train(bilm.training)
        self.options_path = self.weights_path = None
        return self

    @property
    def options(self) -> ElmoOptions:
        return self.bilm.options

    def get_output_dim(self) -> int:
        return self.options.output_dim

    @property
    def num_layers(self) -> int:
        return self.options.n_layers + 1

    def reset_states(self) -> None:
        """Forget the carried LSTM state (stateful mode)."""
        self._states = None

    def train(self, mode: bool = True) -> ElmoBiLm:
        super().train(mode)
        if not self.requires_grad:
            self.bilm.eval()  # a frozen biLM always behaves as at inference
        return self

    def _build_word_cache(self, words: list[str], batch_size: int = 512) -> None:
        if not words:
            raise ValueError("vocab_to_cache is empty")
        vectors = []
        with torch.no_grad():
            for start in range(0, len(words), batch_size):
                chunk = words[start : start + batch_size]
                char_ids = batch_to_ids([[w] for w in chunk])[:, 0]
                vectors.append(self.bilm.encode_tokens(char_ids))
        self.register_buffer("word_vectors", torch.cat(vectors), persistent=False)
        self.vocab = {w: i for i, w in enumerate(words)}

    def word_ids_for(self, sentences: Sequence[Sequence[str]]) -> torch.LongTensor:
        """Indices into ``vocab_to_cache`` for each token, -1 where a word is not cached."""
        if self.vocab is None:
            raise ValueError("this ElmoBiLm has no vocab_to_cache")
        width = max(len(s) for s in sentences)
        ids = torch.full((len(sentences), width), -1, dtype=torch.long)
        for i, sentence in enumerate(sentences):
            ids[i, : len(sentence)] = torch.tensor(
                [self.vocab.get(t, -1) for t in sentence], dtype=torch.long
            )
        return ids

    def forward(
        self,
        char_ids: torch.Tensor,
        word_ids: torch.Tensor | None = None,
        word_inputs: torch.Tensor | None = None,
    ) -> dict:
        word_ids = word_ids_argument(word_ids, word_inputs)
        check_char_ids(char_ids, self.options.max_characters_per_token)
        cached_vectors = cached_mask = None
        if word_ids is not None:
            if self.vocab is None:
                raise ElmoInputError(
                    "word_ids were given but this ElmoBiLm was built without vocab_to_cache"
                )
            if word_ids.shape != char_ids.shape[:-1]:
                raise ElmoInputError(
                    f"word_ids shape {tuple(word_ids.shape)} must equal char_ids shape without "
                    f"the last dim {tuple(char_ids.shape[:-1])}"
                )
            if int(word_ids.max()) >= len(self.vocab):
                raise ElmoInputError(
                    f"word_ids hold {int(word_ids.max())} but only {len(self.vocab)} words are cached"
                )
            cached_mask = word_ids >= 0
            cached_vectors = self.word_vectors[word_ids.clamp(min=0)]
        states = self._initial_states(char_ids.size(0)) if self.stateful else None
        frozen = not any(p.requires_grad for p in self.bilm.parameters())
        with torch.no_grad() if frozen else contextlib.nullcontext():
            activations, mask, finals = self.bilm(char_ids, states, cached_vectors, cached_mask)
        if self.stateful:
            self._update_states(finals)
        return {"activations": activations, "mask": mask}

    def _initial_states(self, batch: int) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
        """Carried states sized to this batch: extra rows start at zero, missing rows are ignored."""
        if self._states is None:
            return None
        sized = []
        for h, c in self._states:
            have = h.size(1)
            if batch > have:
                h = torch.cat([h, h.new_zeros(2, batch - have, h.size(2))], dim=1)
                c = torch.cat([c, c.new_zeros(2, batch - have, c.size(2))], dim=1)
            sized.append((h[:, :batch], c[:, :batch]))
        return sized

    def _update_states(self, finals: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        batch = finals[0][0].size(1)
        new = [(h.detach(), c.detach()) for h, c in finals]
        if self._states is not None and self._states[0][0].size(1) > batch:
            # Rows beyond this batch keep their previous state.
            new = [
                (torch.cat([h, old_h[:, batch:]], dim=1), torch.cat([c, old_c[:, batch:]], dim=1))
                for (h, c), (old_h, old_c) in zip(new, self._states)
            ]
        self._states = new


def remove_sentence_boundaries(
    tensor: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop the <S> and </S> positions: (batch, T + 2, dim) -> (batch, T, dim)."""
    lengths = mask.sum(dim=1) - 2
    steps = tensor.size(1) - 2
    positions = torch.arange(steps, device=tensor.device)
    new_mask = positions.unsqueeze(0) < lengths.unsqueeze(1)
    # Sentences start at position 1 and are left-aligned, so a plain slice keeps them;
    # zero what was </S> and padding.
    trimmed = tensor[:, 1:-1] * new_mask.unsqueeze(-1).to(tensor.dtype)
    return trimmed, new_mask


class Elmo(nn.Module):
    """Task-ready ELMo: ``num_output_representations`` learned scalar mixes of the biLM layers.

    ``forward(char_ids, word_ids=None)`` (or AllenNLP's ``word_inputs=``) returns
    ``{"elmo_representations": [(batch, max_len, 2P), ...], "mask": (batch, max_len)}``;
    with ``keep_sentence_boundaries=True`` both keep the <S>/</S> positions (max_len + 2).
    Dropout (default 0.5, as AllenNLP's) applies in training mode only: call ``.eval()``, or
    use :class:`~elmo_tasks.elmo.embedder.ElmoEmbedder`, for the same vectors at every call.
    A frozen biLM (``requires_grad=False``) runs without building an autograd graph, while the
    scalar mixes stay trainable.
    """

    def __init__(
        self,
        options_file: PathLike,
        weight_file: PathLike,
        num_output_representations: int,
        requires_grad: bool = False,
        do_layer_norm: bool = False,
        dropout: float = 0.5,
        vocab_to_cache: Sequence[str] | None = None,
        keep_sentence_boundaries: bool = False,
        scalar_mix_parameters: Sequence[float] | None = None,
        module: ElmoBiLm | None = None,
        stateful: bool = False,
    ) -> None:
        super().__init__()
        self._elmo_lstm = module or ElmoBiLm(
            options_file,
            weight_file,
            requires_grad=requires_grad,
            stateful=stateful,
            vocab_to_cache=vocab_to_cache,
        )
        self._keep_sentence_boundaries = keep_sentence_boundaries
        self._dropout = Dropout(p=dropout)
        trainable = scalar_mix_parameters is None
        self.scalar_mixes = nn.ModuleList(
            [
                ScalarMix(
                    self._elmo_lstm.num_layers, do_layer_norm, scalar_mix_parameters, trainable
                )
                for _ in range(num_output_representations)
            ]
        )

    @property
    def bilm(self) -> ElmoBiLm:
        return self._elmo_lstm

    def get_output_dim(self) -> int:
        return self._elmo_lstm.get_output_dim()

    def reset_states(self) -> None:
        self._elmo_lstm.reset_states()

    def forward(
        self,
        char_ids: torch.Tensor,
        word_ids: torch.Tensor | None = None,
        word_inputs: torch.Tensor | None = None,
    ) -> dict:
        word_ids = word_ids_argument(word_ids, word_inputs)
        check_char_ids(char_ids, self._elmo_lstm.options.max_characters_per_token)
        leading = char_ids.shape[:-2]
        char_ids = char_ids.reshape(-1, *char_ids.shape[-2:])
        if word_ids is not None:
            word_ids = word_ids.reshape(-1, word_ids.size(-1))
        output = self._elmo_lstm(char_ids, word_ids)
        return self.mix(output["activations"], output["mask"], leading)

    def mix(
        self,
        layers: torch.Tensor | list[torch.Tensor],
        mask: torch.Tensor,
        leading: tuple[int, ...] | None = None,
    ) -> dict:
        """Scalar mixes, boundary removal and dropout over biLM ``layers`` (each (batch,
        T + 2, dim), sentence boundaries included; a list or one stacked tensor) — the part
        of ``forward`` after the biLM, also used on activations read from a cache."""
        leading = tuple(leading) if leading is not None else (mask.size(0),)
        representations = []
        for scalar_mix in self.scalar_mixes:
            mixed = scalar_mix(layers, mask)
            if self._keep_sentence_boundaries:
                out, out_mask = mixed, mask
            else:
                out, out_mask = remove_sentence_boundaries(mixed, mask)
            representations.append(self._dropout(out).reshape(*leading, *out.shape[1:]))
        return {
            "elmo_representations": representations,
            "mask": out_mask.reshape(*leading, out_mask.size(-1)),
        }
