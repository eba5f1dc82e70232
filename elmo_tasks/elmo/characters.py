"""Character ids in the layout the published ELMo models were trained on.

Every token becomes ``MAX_CHARACTERS_PER_TOKEN`` ids: begin-of-word, its UTF-8 bytes,
end-of-word, then padding characters. All ids are shifted by +1 so that id 0 can mean
"no token here": a padding token is a row of zeros. The literal tokens ``<S>`` and
``</S>`` map to the sentence-boundary characters, as in the reference implementation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

MAX_CHARACTERS_PER_TOKEN = 50

# Character ids before the +1 shift. Bytes use 0..255; these five follow.
BEGINNING_OF_SENTENCE_CHARACTER = 256
END_OF_SENTENCE_CHARACTER = 257
BEGINNING_OF_WORD_CHARACTER = 258
END_OF_WORD_CHARACTER = 259
PADDING_CHARACTER = 260

BOS_TOKEN = "<S>"
EOS_TOKEN = "</S>"

# Number of rows of the character embedding table, including row 0 for padding tokens.
N_CHARACTERS = 262


def _special_token_ids(character: int, max_chars: int) -> list[int]:
    ids = [PADDING_CHARACTER] * max_chars
    ids[0] = BEGINNING_OF_WORD_CHARACTER
    ids[1] = character
    ids[2] = END_OF_WORD_CHARACTER
    return [i + 1 for i in ids]


def token_to_char_ids(token: str, max_chars: int = MAX_CHARACTERS_PER_TOKEN) -> list[int]:
    """Shifted character ids of one token (length ``max_chars``).

    Tokens longer than ``max_chars - 2`` UTF-8 bytes are truncated, as the reference does
    (the cut may fall inside a multi-byte character; the bytes are used as they are).
    """
    if token == BOS_TOKEN:
        return _special_token_ids(BEGINNING_OF_SENTENCE_CHARACTER, max_chars)
    if token == EOS_TOKEN:
        return _special_token_ids(END_OF_SENTENCE_CHARACTER, max_chars)
    encoded = token.encode("utf-8", "ignore")[: max_chars - 2]
    ids = [PADDING_CHARACTER] * max_chars
    ids[0] = BEGINNING_OF_WORD_CHARACTER
    ids[1 : len(encoded) + 1] = encoded
    ids[len(encoded) + 1] = END_OF_WORD_CHARACTER
    return [i + 1 for i in ids]


def bos_char_ids(max_chars: int = MAX_CHARACTERS_PER_TOKEN) -> list[int]:
    return _special_token_ids(BEGINNING_OF_SENTENCE_CHARACTER, max_chars)


def eos_char_ids(max_chars: int = MAX_CHARACTERS_PER_TOKEN) -> list[int]:
    return _special_token_ids(END_OF_SENTENCE_CHARACTER, max_chars)


def batch_to_ids(sentences: Sequence[Sequence[str]]) -> torch.LongTensor:
    """Character ids of a batch of tokenised sentences: (batch, max_len, 50), zero-padded.

    Raises ``ValueError`` for an empty batch, an empty sentence, or a token that is not a
    non-empty string, naming the sentence and token position.
    """
    if isinstance(sentences, str) or len(sentences) == 0:
        raise ValueError(
            "batch_to_ids needs a non-empty list of tokenised sentences (lists of strings)."
        )
    max_len = 0
    for i, sentence in enumerate(sentences):
        if isinstance(sentence, str):
            raise ValueError(
                f"sentence {i} is a string; pass tokens, e.g. sentence.split() -> {sentence.split()[:5]!r}"
            )
        if len(sentence) == 0:
            raise ValueError(f"sentence {i} is empty; ELMo needs at least one token per sentence.")
        max_len = max(max_len, len(sentence))
    # Each distinct token is converted once; positions point into that table, -1 (the
    # table's last row, all zeros) marks padding.
    distinct: dict[str, int] = {}
    positions = np.full((len(sentences), max_len), -1, dtype=np.int64)
    for i, sentence in enumerate(sentences):
        row = []
        for j, token in enumerate(sentence):
            if not isinstance(token, str) or token == "":
                raise ValueError(
                    f"sentence {i}, token {j}: expected a non-empty string, got {token!r}"
                )
            row.append(distinct.setdefault(token, len(distinct)))
        positions[i, : len(row)] = row
    table = np.zeros((len(distinct) + 1, MAX_CHARACTERS_PER_TOKEN), dtype=np.int64)
    for token, k in distinct.items():
        table[k] = token_to_char_ids(token)
    return torch.from_numpy(table[positions])


# Odd 63-bit multipliers, one per character position, for ``unique_rows``' row keys.
_ROW_KEY_WEIGHTS = (
    torch.randint(1, 2**62, (256,), generator=torch.Generator().manual_seed(0x5EED)) * 2 + 1
)


def unique_rows(char_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct rows of (N, W) character ids and, per row, the index of its distinct row.

    Like ``torch.unique(dim=0, return_inverse=True)`` (rows in another order), 3-4x faster:
    rows are keyed by one integer each (a weighted sum that wraps around), and the 1-D keys
    are made unique. Exact: the rows found are checked against the input, and on a key
    collision the answer comes from ``torch.unique(dim=0)`` instead.
    """
    if char_ids.size(1) > len(_ROW_KEY_WEIGHTS):
        return torch.unique(char_ids, dim=0, return_inverse=True)
    weights = _ROW_KEY_WEIGHTS[: char_ids.size(1)].to(char_ids.device)
    keys = (char_ids.long() * weights).sum(dim=1)
    distinct_keys, inverse = torch.unique(keys, return_inverse=True)
    first = torch.empty(len(distinct_keys), dtype=torch.long, device=char_ids.device)
    first.scatter_(0, inverse, torch.arange(len(keys), device=char_ids.device))
    rows = char_ids[first]
    if not torch.equal(rows[inverse], char_ids):
        return torch.unique(char_ids, dim=0, return_inverse=True)
    return rows, inverse
