"""Static word embeddings: trainable random init, or GloVe / word2vec / fastText text files."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn
from tqdm.auto import tqdm

from elmo_tasks.core.errors import DataFormatError, WeightsNotFoundError
from elmo_tasks.core.schema import choice, whole
from elmo_tasks.encoders.base import EncoderSchema, TokenEncoder, Tokens

log = logging.getLogger(__name__)

PADDING, UNKNOWN = "@@PADDING@@", "@@UNKNOWN@@"


def read_vectors(
    path: str | Path, wanted: set[str] | None, lowercase: bool
) -> tuple[dict[str, list[float]], int]:
    """Vectors of a GloVe / word2vec / fastText text file (a ``count dim`` header is skipped).

    Only words in ``wanted`` are kept (all when None). Lines of the wrong width raise
    ``ValueError`` naming the file and line.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsNotFoundError(
            f"pretrained embedding file not found: {path} (encoder.pretrained_file: a GloVe, word2vec or fastText "
            "text file, .gz allowed; or null to learn the embeddings from a random start)"
        )
    vectors: dict[str, list[float]] = {}
    dim = None
    opener = __import__("gzip").open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(
            tqdm(handle, desc=f"reading {path.name}", unit=" lines", leave=False), start=1
        ):
            fields = line.rstrip().split(" ")
            if number == 1 and len(fields) == 2 and all(f.isdigit() for f in fields):
                continue  # word2vec / fastText header: "count dim"
            if len(fields) < 2:
                continue
            if dim is None:
                dim = len(fields) - 1
            if len(fields) - 1 != dim:
                raise DataFormatError(
                    f"{path}, line {number}: expected {dim} numbers after the word, got {len(fields) - 1}"
                )
            word = fields[0].lower() if lowercase else fields[0]
            if (wanted is None or word in wanted) and word not in vectors:
                try:
                    values = [float(x) for x in fields[1:]]
                except ValueError:
                    raise DataFormatError(
                        f"{path}, line {number}: a value is not a number"
                    ) from None
                if not all(math.isfinite(v) for v in values):
                    raise DataFormatError(
                        f"{path}, line {number}: the vector of {word!r} holds nan or inf (a damaged file? "
                        "download or export it again)"
                    )
                vectors[word] = values
    if dim is None:
        raise DataFormatError(f"{path}: no vectors found")
    return vectors, dim


@dataclass
class WordEmbeddingSchema(EncoderSchema):
    """The keys of :class:`WordEmbeddingEncoder`."""

    dim: int | None = whole(minimum=1, example="300")
    lowercase: bool | None = choice()
    trainable: bool | None = choice()
    oov: Literal["random", "zero"] | None = choice()


class WordEmbeddingEncoder(TokenEncoder):
    """One vector per word type from the training vocabulary.

    vocabulary: training tokens, most frequent first (given by the data module).
    min_count / max_size: applied by the data module when it builds ``vocabulary``.
    pretrained_file: optional GloVe/word2vec/fastText text file; words found there start
        from their vector, the rest are random (``oov: random``) or zero (``oov: zero``).
    Unknown words at test time map to a learned ``@@UNKNOWN@@`` vector.
    """

    config_schema = WordEmbeddingSchema

    def __init__(
        self,
        vocabulary: Sequence[str] | None = None,
        dim: int = 300,
        pretrained_file: str | None = None,
        lowercase: bool = False,
        trainable: bool = True,
        dropout: float = 0.0,
        oov: str = "random",
    ) -> None:
        super().__init__()
        if vocabulary is None:
            raise ValueError(
                "WordEmbeddingEncoder needs the training vocabulary (the data module provides it)"
            )
        if oov not in ("random", "zero"):
            raise ValueError(f"encoder.oov must be 'random' or 'zero', got {oov!r}")
        self.lowercase = lowercase
        words = [PADDING, UNKNOWN]
        seen = set(words)
        for word in vocabulary:
            word = word.lower() if lowercase else word
            if word not in seen:
                seen.add(word)
                words.append(word)
        self.index = {word: i for i, word in enumerate(words)}
        weight = torch.randn(len(words), dim) * (dim**-0.5)
        if pretrained_file:
            vectors, file_dim = read_vectors(pretrained_file, seen, lowercase)
            if file_dim != dim:
                log.info(
                    "encoder.dim=%d overridden by the %d-dimensional vectors of %s",
                    dim,
                    file_dim,
                    pretrained_file,
                )
                dim = file_dim
                weight = torch.randn(len(words), dim) * (dim**-0.5)
            if oov == "zero":
                weight.zero_()
            found = [(self.index[w], v) for w, v in vectors.items()]
            if found:
                rows, values = zip(*found)
                weight[list(rows)] = torch.tensor(values, dtype=torch.float32)
            log.info(
                "pretrained vectors for %d of %d words (%s)",
                len(found),
                len(words) - 2,
                pretrained_file,
            )
        weight[0] = 0.0
        self.embedding = nn.Embedding(len(words), dim, padding_idx=0, _weight=weight)
        self.embedding.weight.requires_grad_(trainable)
        self.dropout = nn.Dropout(dropout)
        self.output_dim = dim

    def forward(self, tokens: Tokens) -> tuple[torch.Tensor, torch.Tensor]:
        mask = self.lengths_mask(tokens, self.device)
        ids = torch.zeros(mask.shape, dtype=torch.long)
        for i, sentence in enumerate(tokens):
            ids[i, : len(sentence)] = torch.tensor(
                [self.index.get(t.lower() if self.lowercase else t, 1) for t in sentence],
                dtype=torch.long,
            )
        return self.dropout(self.embedding(ids.to(self.device))), mask
