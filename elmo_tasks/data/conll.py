"""CoNLL-style column files (one token per line, blank lines between sentences): read and write.

The reader keeps each sentence's line number so that errors and predictions can be traced
back to the file; the writer produces ``token gold pred`` files that ``conlleval`` reads.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import datasets

from elmo_tasks.core.errors import DataFormatError
from elmo_tasks.core.text_encoding import DEFAULT_ENCODING, undecodable

DOCSTART = "-DOCSTART-"


@dataclass
class Sentence:
    """One sentence: its tokens, their tags, and the 1-based file line of its first token."""

    tokens: list[str]
    tags: list[str]
    line: int = 1

    def __post_init__(self) -> None:
        if len(self.tokens) != len(self.tags):
            raise ValueError(
                f"sentence at line {self.line}: {len(self.tokens)} tokens but {len(self.tags)} tags"
            )


def read_conll(
    path: str | os.PathLike[str],
    token_column: int = 0,
    tag_column: int = -1,
    encoding: str = DEFAULT_ENCODING,
) -> list[Sentence]:
    """Read the sentences of a CoNLL column file.

    Blank lines separate sentences; ``-DOCSTART-`` lines are dropped (and so is the blank line
    after them). Columns are split on whitespace, and every token line must have as many
    columns as the first one. CRLF line ends and a missing final blank line are accepted.
    ``encoding`` is the file's text encoding.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "expected a CoNLL file, got a directory", str(path))
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, "CoNLL file not found", str(path))
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    first_line = 0
    n_columns = 0

    def flush() -> None:
        nonlocal tokens, tags
        if tokens:
            sentences.append(Sentence(tokens, tags, first_line))
            tokens, tags = [], []

    try:
        numbered = _numbered_lines(path, encoding)
    except UnicodeDecodeError:
        raise undecodable(path, encoding) from None
    for number, raw in numbered:
        columns = raw.split()
        if not columns:
            flush()
            continue
        if columns[0] == DOCSTART:
            flush()
            continue
        if not n_columns:
            n_columns = len(columns)
            for name, index in (("token_column", token_column), ("tag_column", tag_column)):
                if not -n_columns <= index < n_columns:
                    raise DataFormatError(
                        f"{path}, line {number}: {name}={index} but lines have {n_columns} columns; set "
                        f"task.{name} to a column that exists (0 is the first, -1 the last)"
                    )
        elif len(columns) != n_columns:
            raise DataFormatError(
                f"{path}, line {number}: expected {n_columns} columns (as on the first token line), "
                f"got {len(columns)}: {raw.rstrip()!r}; give every token line the same columns "
                "(token ... tag, split by whitespace), with a blank line between sentences"
            )
        if not tokens:
            first_line = number
        tokens.append(columns[token_column])
        tags.append(columns[tag_column])
    flush()
    if not sentences:
        raise DataFormatError(
            f"{path}: no sentences found (the file is empty or holds only -DOCSTART- lines)"
        )
    return sentences


def _numbered_lines(path: Path, encoding: str) -> list[tuple[int, str]]:
    with path.open(encoding=encoding, newline=None) as handle:
        return list(enumerate(handle, start=1))


def to_dataset(sentences: Sequence[Sentence]) -> datasets.Dataset:
    """A ``datasets.Dataset`` with columns ``tokens``, ``tags`` and ``line``, one row per sentence."""
    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "tags": datasets.Sequence(datasets.Value("string")),
            "line": datasets.Value("int64"),
        }
    )
    return datasets.Dataset.from_dict(
        {
            "tokens": [s.tokens for s in sentences],
            "tags": [s.tags for s in sentences],
            "line": [s.line for s in sentences],
        },
        features=features,
    )


def write_conll(
    path: str | os.PathLike[str],
    sentences_tokens: Sequence[Sequence[str]],
    gold: Sequence[Sequence[str]],
    pred: Sequence[Sequence[str]],
) -> None:
    """Write ``token gold pred`` lines, a blank line after each sentence, for ``conlleval``.

    Raises ValueError (naming the 0-based sentence and token) on mismatched lengths, or on a
    token or tag that is empty or holds whitespace, since that would shift the columns.
    """
    if not len(sentences_tokens) == len(gold) == len(pred):
        raise ValueError(
            f"{len(sentences_tokens)} token sentences, {len(gold)} gold and {len(pred)} pred sentences"
        )
    lines: list[str] = []
    for i, (tokens, g, p) in enumerate(zip(sentences_tokens, gold, pred)):
        if not len(tokens) == len(g) == len(p):
            raise ValueError(
                f"sentence {i}: {len(tokens)} tokens, {len(g)} gold and {len(p)} pred tags"
            )
        for j, fields in enumerate(zip(tokens, g, p)):
            for name, value in zip(("token", "gold", "pred"), fields):
                if not value or len(value.split()) != 1 or value.strip() != value:
                    raise ValueError(
                        f"sentence {i}, token {j}: {name} {value!r} is empty or holds whitespace"
                    )
            lines.append(" ".join(fields))
        lines.append("")
    from elmo_tasks.core.atomic import (
        atomic_write_text,  # complete or not there: never a part
    )

    atomic_write_text(path, "".join(line + "\n" for line in lines))


@dataclass
class TaggedSplit:
    """The sentences of one split and where they came from.

    ``unit`` is ``line`` for files (``Sentence.line`` is the line of the first token, the
    next token is on the next line) and ``row`` for hub data (``Sentence.line`` is the row).
    """

    sentences: list[Sentence]
    source: str
    unit: str = "line"

    def where(self, sentence: Sentence, position: int) -> str:
        """``file, line N`` of token ``position`` of ``sentence`` (``source, row N`` for hub data)."""
        number = sentence.line + position if self.unit == "line" else sentence.line
        return f"{self.source}, {self.unit} {number}"
