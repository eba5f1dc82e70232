"""The Stanford Sentiment Treebank's PTB trees (``(3 (2 It) (4 works))``), 5 or 3 classes."""

from __future__ import annotations

import errno
import os
import re
import warnings
from pathlib import Path

from elmo_tasks.core.errors import DataFormatError
from elmo_tasks.core.text_encoding import DEFAULT_ENCODING, undecodable
from elmo_tasks.data.labelled import MAX_LINES_LISTED, LabelledSplit, from_rows

PathLike = str | os.PathLike[str]
SST5_LABELS = ["very negative", "negative", "neutral", "positive", "very positive"]
SST3_LABELS = ["negative", "neutral", "positive"]
_SST3_OF_SST5 = (0, 0, 1, 2, 2)
_PTB_BRACKETS = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}"}
_TREE_TOKEN = re.compile(r"[()]|[^ \t\r\n\f\v()]+")  # a leaf may hold a no-break space: "8\xa01\/2"


def read_sst_trees(
    path: PathLike, fine_grained: bool = True, encoding: str = DEFAULT_ENCODING
) -> LabelledSplit:
    """Read Stanford Sentiment Treebank PTB trees, one per line; the root label is the sentence label.

    ``fine_grained=True`` keeps the 5 classes (:data:`SST5_LABELS`); ``False`` collapses them to
    :data:`SST3_LABELS` (0 and 1 negative, 2 neutral, 3 and 4 positive). The text is the leaves
    joined by single spaces, with ``-LRB-``/``-RRB-`` (and square/curly variants) as brackets.
    ``encoding`` is the file's text encoding.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, "SST tree file not found", str(path))
    texts: list[str] = []
    label_ids: list[int] = []
    lines: list[int] = []
    blank: list[int] = []
    try:
        trees = _numbered_trees(path, encoding)
    except UnicodeDecodeError:
        raise undecodable(path, encoding) from None
    for number, line in trees:
        if not line.strip():
            blank.append(number)
            continue
        try:
            label, leaves = parse_sst_tree(line)
        except ValueError as error:
            raise DataFormatError(
                f"{path}, line {number}: malformed SST tree: {error}; each line must be one tree such as "
                "(3 (2 It) (4 works))"
            ) from None
        texts.append(" ".join(leaves))
        label_ids.append(label if fine_grained else _SST3_OF_SST5[label])
        lines.append(number)
    if blank:
        warnings.warn(
            f"{path}: skipped {len(blank)} blank line(s): {', '.join(map(str, blank[:MAX_LINES_LISTED]))}",
            stacklevel=2,
        )
    if not texts:
        raise DataFormatError(f"{path}: no trees")
    return from_rows(
        texts, label_ids, lines, SST5_LABELS if fine_grained else SST3_LABELS, str(path)
    )


def _numbered_trees(path: Path, encoding: str) -> list[tuple[int, str]]:
    with path.open(encoding=encoding) as handle:
        return list(enumerate(handle, start=1))


def parse_sst_tree(tree: str) -> tuple[int, list[str]]:
    """The root label (0..4) and the leaves of one SST tree such as ``(3 (2 The) (4 Rock))``.

    Raises ValueError (without a location) when the tree is malformed.
    """
    tokens = _TREE_TOKEN.findall(tree)
    count = len(tokens)
    if not tokens or tokens[0] != "(":
        raise ValueError("a tree must start with '('")
    leaves: list[str] = []
    root_label = -1
    depth = 0
    position = 0
    while position < count:
        token = tokens[position]
        if token == ")":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced ')' at token {position + 1}")
            position += 1
            continue
        if token != "(":
            raise ValueError(f"word {token!r} outside a leaf at token {position + 1}")
        if depth == 0 and root_label >= 0:
            raise ValueError(f"more text after the end of the tree at token {position + 1}")
        label = tokens[position + 1] if position + 1 < count else ")"
        if label not in ("0", "1", "2", "3", "4"):
            raise ValueError(f"node label must be 0..4, found {label!r} at token {position + 2}")
        if depth == 0:
            root_label = int(label)
        depth += 1
        position += 2
        following = tokens[position] if position < count else None
        if following is None:
            break
        if following == ")":
            raise ValueError(f"empty node at token {position + 1}")
        if following != "(":  # a leaf: (label word)
            if position + 1 >= count or tokens[position + 1] != ")":
                raise ValueError(f"leaf {following!r} is not closed by ')' at token {position + 2}")
            leaves.append(_unescape_leaf(following))
            depth -= 1
            position += 2
    if depth != 0:
        raise ValueError(f"unbalanced brackets: {depth} '(' not closed")
    return root_label, leaves


def _unescape_leaf(leaf: str) -> str:
    """PTB escapes back to text: ``-LRB-`` -> ``(``, ``\\/`` -> ``/``, ``\\*`` -> ``*``."""
    if leaf in _PTB_BRACKETS:
        return _PTB_BRACKETS[leaf]
    return leaf.replace("\\/", "/").replace("\\*", "*") if "\\" in leaf else leaf
