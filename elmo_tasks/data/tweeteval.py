"""The TweetEval layout: ``{split}_text.txt`` / ``{split}_labels.txt`` and ``mapping.txt``."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from elmo_tasks.core.errors import DataFormatError
from elmo_tasks.core.text_encoding import DEFAULT_ENCODING, undecodable
from elmo_tasks.data.labelled import INT_LABEL, LabelledSplit, from_rows

PathLike = str | os.PathLike[str]


def read_tweeteval(
    directory: PathLike, split: str, encoding: str = DEFAULT_ENCODING
) -> LabelledSplit:
    """Read TweetEval ``{split}_text.txt`` and ``{split}_labels.txt`` (aligned by line) with ``mapping.txt``.

    ``split`` is ``train``, ``val`` (or ``validation``) or ``test``; ``encoding`` the files' text encoding.
    """
    directory = Path(directory)
    split = "val" if split == "validation" else split
    text_path = directory / f"{split}_text.txt"
    labels_path = directory / f"{split}_labels.txt"
    labels = _read_tweeteval_mapping(directory / "mapping.txt", encoding)
    if not labels_path.is_file():
        raise FileNotFoundError(
            errno.ENOENT, f"TweetEval {split!r} labels file not found", str(labels_path)
        )
    if not text_path.is_file():
        raise FileNotFoundError(
            errno.ENOENT,
            f"TweetEval {split!r} text file not found; the offline copy lacks {text_path.name} (only its labels are "
            "there): use split='val' or split='test', or read_hub('cardiffnlp/tweet_eval', 'sentiment', split='train') "
            "where the hub is reachable",
            str(text_path),
        )
    texts = _read_lines(text_path, encoding)
    label_lines = _read_lines(labels_path, encoding)
    if len(texts) != len(label_lines):
        raise DataFormatError(
            f"{text_path} has {len(texts)} lines but {labels_path} has {len(label_lines)}; they must align line by line"
        )
    label_ids: list[int] = []
    for number, value in enumerate(label_lines, start=1):
        stripped = value.strip()
        if not INT_LABEL.fullmatch(stripped) or not 0 <= int(stripped) < len(labels):
            raise DataFormatError(
                f"{labels_path}, line {number}: label {value!r} is not one of 0..{len(labels) - 1} (mapping.txt)"
            )
        label_ids.append(int(stripped))
    return from_rows(texts, label_ids, list(range(1, len(texts) + 1)), labels, str(text_path))


def _read_tweeteval_mapping(path: Path, encoding: str = DEFAULT_ENCODING) -> list[str]:
    """mapping.txt: ``index<TAB>name`` lines with indices 0, 1, 2, ... in order."""
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, "TweetEval mapping.txt not found", str(path))
    names: list[str] = []
    for number, line in enumerate(_read_lines(path, encoding), start=1):
        if not line.strip():
            continue
        fields = line.split("\t") if "\t" in line else line.split(None, 1)
        if len(fields) != 2 or fields[0].strip() != str(len(names)) or not fields[1].strip():
            raise DataFormatError(
                f"{path}, line {number}: expected '{len(names)}<TAB>name', found {line!r}"
            )
        names.append(fields[1].strip())
    if not names:
        raise DataFormatError(f"{path}: no labels")
    return names


def _read_lines(path: Path, encoding: str = DEFAULT_ENCODING) -> list[str]:
    """The lines of a text file, split on ``\\n`` only (a tweet may hold other line separators)."""
    data = path.read_bytes()
    try:
        content = data.decode(encoding)
    except UnicodeDecodeError:
        raise undecodable(path, encoding, data=data) from None
    lines = content.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]
