"""Sentence classification data: readers that give a ``datasets.Dataset`` plus its label names.

Every reader returns a :class:`LabelledSplit` whose dataset has the columns ``text`` (str),
``label`` (int, an index into ``labels``; a ``ClassLabel`` feature) and ``line`` (the 1-based
line of the row in its source file, or the 0-based row index for hub data), so that any
prediction or error can be traced back to the input.

- :func:`read_table`: csv / tsv / JSON lines files, loaded (cached, memory-mapped) by ``datasets``.
- :func:`read_sst_trees`: Stanford Sentiment Treebank PTB trees, 5 or 3 classes.
- :func:`read_tweeteval`: the TweetEval ``{split}_text.txt`` / ``{split}_labels.txt`` layout.
- :func:`read_hub`: a Hugging Face hub dataset; fails at once, with a pointer to local files, offline.
- :func:`stratified_split` and :func:`cap`: carve a validation set, keep the first N rows.

Rows with empty text are skipped with a warning that names their lines; every other problem
(unknown or missing label, missing column, malformed line) is a ValueError naming the file and line.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import json
import math
import os
import re
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from ..errors import DATA_ENV, HubUnavailableError, data_env_value, reachable, train_command

PathLike = str | os.PathLike[str]

SST5_LABELS = ["very negative", "negative", "neutral", "positive", "very positive"]
SST3_LABELS = ["negative", "neutral", "positive"]
_SST3_OF_SST5 = (0, 0, 1, 2, 2)
_PTB_BRACKETS = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}"}
_TREE_TOKEN = re.compile(r"[()]|[^ \t\r\n\f\v()]+")  # a leaf may hold a no-break space: "8\xa01\/2"
_INT_LABEL = re.compile(r"[+-]?\d+")
_TABLE_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "json", ".json": "json"}
_MAX_LINES_LISTED = 50
_HUB_PROBE_TIMEOUT_S = 3.0


@dataclass
class LabelledSplit:
    """A dataset with columns ``text``, ``label``, ``line`` and the names its labels index into."""

    dataset: datasets.Dataset
    labels: list[str]
    source: str

    def __len__(self) -> int:
        return len(self.dataset)


# --------------------------------------------------------------------------- tables


def read_table(
    path: PathLike,
    text_column: str = "text",
    label_column: str = "label",
    labels: Sequence[str] | None = None,
    *,
    cache_dir: PathLike | None = None,
) -> LabelledSplit:
    """Read a .csv, .tsv or .jsonl/.json (JSON lines) file of texts and labels.

    Labels may be strings or integers. With ``labels=None`` the label set is the sorted set of
    this file's values (integers numerically, then strings alphabetically); pass the training
    file's ``labels`` when reading its validation or test file so that indices agree and an
    unknown value is an error. ``cache_dir`` is the ``datasets`` cache (default: its own).
    """
    path = Path(path)
    fmt = _TABLE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: unsupported file type {path.suffix!r}; use one of {', '.join(_TABLE_FORMATS)}")
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, f"{fmt} data file not found", str(path))
    if text_column == label_column:
        raise ValueError(f"{path}: text_column and label_column are both {text_column!r}")
    if fmt == "json":
        raw, lines = _load_json_lines(path, cache_dir)
        _require_columns(raw.column_names, (text_column, label_column), path)
    else:
        raw, lines = _load_delimited(path, fmt, text_column, label_column, cache_dir)
    if len(raw) != len(lines):
        raise ValueError(
            f"{path}: datasets read {len(raw)} rows but the file holds {len(lines)} records; "
            "cannot match rows to line numbers"
        )
    return _to_split(raw, text_column, label_column, lines, labels, str(path), "line")


def _load_delimited(
    path: Path, fmt: str, text_column: str, label_column: str, cache_dir: PathLike | None
) -> tuple[datasets.Dataset, list[int]]:
    """Check the header and record shapes with the csv module, then load through ``datasets``."""
    dialect: dict[str, Any] = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if fmt == "tsv" else {"delimiter": ","}
    header, lines = _scan_delimited(path, dialect)
    _require_columns(header, (text_column, label_column), path)
    for column in (text_column, label_column):
        if header.count(column) > 1:
            raise ValueError(f"{path}, line 1: column {column!r} appears {header.count(column)} times in the header")
    features = datasets.Features({text_column: datasets.Value("string"), label_column: datasets.Value("string")})
    try:
        raw = datasets.load_dataset(
            "csv",
            data_files=str(path),
            split="train",
            cache_dir=_str_or_none(cache_dir),
            features=features,  # read both columns as strings: "007" stays "007", "NA" stays "NA"
            keep_default_na=False,
            na_filter=False,
            **dialect,
        )
    except Exception as error:  # the scan above catches the common faults; this names the rest
        raise ValueError(f"{path}: could not be read as {fmt}: {error}") from error
    return raw, lines


def _scan_delimited(path: Path, dialect: dict[str, Any]) -> tuple[list[str], list[int]]:
    """The header and the first line of each record; ValueError for a row with the wrong field count."""
    header: list[str] | None = None
    lines: list[int] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, **dialect)
        end_of_previous = 0
        try:
            for row in reader:
                start = end_of_previous + 1
                end_of_previous = reader.line_num
                if not row:  # a blank line: pandas skips it too
                    continue
                if header is None:
                    header = row
                elif len(row) != len(header):
                    raise ValueError(
                        f"{path}, line {start}: expected {len(header)} fields ({', '.join(header)}), found {len(row)}"
                    )
                else:
                    lines.append(start)
        except UnicodeDecodeError as error:
            raise ValueError(f"{path}, line {end_of_previous + 1}: not valid UTF-8 ({error.reason})") from error
        except csv.Error as error:
            raise ValueError(f"{path}, line {reader.line_num}: {error}") from error
    if header is None:
        raise ValueError(f"{path}: empty file (no header line)")
    if not lines:
        raise ValueError(f"{path}: no data rows")
    return header, lines


def _load_json_lines(path: Path, cache_dir: PathLike | None) -> tuple[datasets.Dataset, list[int]]:
    """Load a JSON lines file through ``datasets``; a line that is not a JSON object is named."""
    content = path.read_bytes()
    if content.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"["):
        raise ValueError(f"{path}: expected JSON lines (one object per line), found a JSON array")
    lines = [number for number, line in enumerate(content.split(b"\n"), start=1) if line.strip()]
    if not lines:
        raise ValueError(f"{path}: no data rows")
    try:
        raw = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=_str_or_none(cache_dir))
    except Exception as error:
        _raise_bad_json_line(path, content)
        raise ValueError(f"{path}: could not be read as JSON lines: {error}") from error
    return raw, lines


def _raise_bad_json_line(path: Path, content: bytes) -> None:
    """Raise ValueError naming the first line of ``content`` that is not a JSON object, or the
    first field whose values mix JSON types (which ``datasets`` cannot always load), if any."""
    first_seen: dict[str, tuple[str, int]] = {}
    for number, line in enumerate(content.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line.decode("utf-8-sig" if number == 1 else "utf-8"))
        except UnicodeDecodeError as error:
            raise ValueError(f"{path}, line {number}: not valid UTF-8 ({error.reason})") from None
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}, line {number}: not valid JSON ({error.msg} at column {error.colno})") from None
        if not isinstance(value, dict):
            raise ValueError(f"{path}, line {number}: expected a JSON object, found {type(value).__name__}")
        for field, item in value.items():
            if item is None:
                continue
            kind = _json_kind(item)
            seen = first_seen.setdefault(field, (kind, number))
            if seen[0] != kind:
                raise ValueError(
                    f"{path}, line {number}: field {field!r} is a {kind} here but a {seen[0]} on line {seen[1]}; "
                    "write every value of a field with one JSON type (for example all labels as strings)"
                )


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


def _require_columns(available: Sequence[str], wanted: Sequence[str], source: Any) -> None:
    missing = [column for column in wanted if column not in available]
    if missing:
        raise ValueError(
            f"{source}: no column {', '.join(map(repr, missing))}; available columns: {', '.join(map(repr, available))}"
        )


def _str_or_none(value: PathLike | None) -> str | None:
    return None if value is None else str(value)


# --------------------------------------------------------------------------- rows -> LabelledSplit


def _to_split(
    raw: datasets.Dataset,
    text_column: str,
    label_column: str,
    lines: Sequence[int],
    labels: Sequence[str] | None,
    source: str,
    where: str,
) -> LabelledSplit:
    """Validate texts and labels of ``raw`` and map it to the ``text``/``label``/``line`` columns.

    ``lines[i]`` is what messages call row ``i`` (``where`` is "line" or "row").
    """
    texts = raw[text_column][:]
    keep = np.array(
        [not _is_empty_text(text, source, where, lines[row], text_column) for row, text in enumerate(texts)], dtype=bool
    )
    kept_rows = np.flatnonzero(keep).tolist()
    values = raw[label_column][:]
    names = {row: _label_name(values[row], source, where, lines[row], label_column) for row in kept_rows}
    label_names = _resolve_label_names(names.values(), labels, source)
    label_ids = np.zeros(len(raw), dtype=np.int64)  # rows with empty text keep 0; they are dropped
    position = {name: index for index, name in enumerate(label_names)}
    for row, name in names.items():
        if name not in position:
            raise ValueError(
                f"{source}, {where} {lines[row]}: unknown label {name!r}; known labels: "
                f"{', '.join(map(repr, label_names))}"
            )
        label_ids[row] = position[name]
    _warn_skipped(source, where, [lines[row] for row in np.flatnonzero(~keep).tolist()])
    return _build(raw, text_column, label_ids, list(lines), keep, label_names, source)


def _label_name(value: Any, source: str, where: str, line: int, column: str) -> str:
    """The label value as a name: integers as decimal strings, strings as they are."""
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if value is None or isinstance(value, str) or (isinstance(value, float) and math.isnan(value)):
        raise ValueError(f"{source}, {where} {line}: missing label (field {column!r} is empty)")
    raise ValueError(
        f"{source}, {where} {line}: label {value!r} in field {column!r} is a {type(value).__name__}; "
        "expected an integer or a non-blank string"
    )


def _is_empty_text(text: Any, source: str, where: str, line: int, column: str) -> bool:
    if text is None:
        return True
    if not isinstance(text, str):
        raise ValueError(
            f"{source}, {where} {line}: field {column!r} holds a {type(text).__name__} ({text!r}), expected a string"
        )
    return not text.strip()


def _label_sort_key(name: str) -> tuple[int, int | str]:
    return (0, int(name)) if _INT_LABEL.fullmatch(name) else (1, name)


def _resolve_label_names(names: Iterable[str], labels: Sequence[str] | None, source: str) -> list[str]:
    """``labels`` checked for duplicates, or the set of ``names``, sorted."""
    if labels is None:
        return sorted(set(names), key=_label_sort_key)
    label_names = [str(label) for label in labels]
    duplicates = sorted({name for name in label_names if label_names.count(name) > 1})
    if duplicates:
        raise ValueError(f"{source}: the given label list repeats {', '.join(map(repr, duplicates))}")
    return label_names


def _warn_skipped(source: str, where: str, skipped_lines: list[int]) -> None:
    if not skipped_lines:
        return
    listed = ", ".join(map(str, skipped_lines[:_MAX_LINES_LISTED]))
    more = f" and {len(skipped_lines) - _MAX_LINES_LISTED} more" if len(skipped_lines) > _MAX_LINES_LISTED else ""
    warnings.warn(
        f"{source}: skipped {len(skipped_lines)} row(s) with empty text at {where}(s) {listed}{more}",
        UserWarning,
        stacklevel=4,
    )


def _features(label_names: list[str]) -> datasets.Features:
    return datasets.Features(
        {
            "text": datasets.Value("string"),
            "label": datasets.ClassLabel(names=label_names),
            "line": datasets.Value("int64"),
        }
    )


def _build(
    raw: datasets.Dataset,
    text_column: str,
    label_ids: np.ndarray,
    lines: list[int],
    keep: np.ndarray,
    label_names: list[str],
    source: str,
) -> LabelledSplit:
    """Map ``raw`` to the output columns; a cached, memory-mapped result when ``raw`` is on disk."""
    label_list = label_ids.tolist()
    keep_list = keep.tolist()

    def convert(batch: dict[str, list[Any]], indices: list[int]) -> dict[str, list[Any]]:
        chosen = [(text, index) for text, index in zip(batch[text_column], indices) if keep_list[index]]
        return {
            "text": [text for text, _ in chosen],
            "label": [label_list[index] for _, index in chosen],
            "line": [lines[index] for _, index in chosen],
        }

    # A fingerprint from the inputs themselves: letting ``datasets`` hash the closure (and the
    # lists it holds) with dill costs about a second per file.
    digest = hashlib.sha256(f"{raw._fingerprint}|{text_column}|{label_names}".encode())
    for array in (label_ids, keep, np.asarray(lines, dtype=np.int64)):
        digest.update(np.ascontiguousarray(array).tobytes())
    dataset = raw.map(
        convert,
        batched=True,
        with_indices=True,
        remove_columns=raw.column_names,
        features=_features(label_names),
        desc=f"Preparing {Path(source).name}",
        new_fingerprint=digest.hexdigest()[:32],
    )
    return LabelledSplit(dataset, label_names, source)


def _from_rows(
    texts: list[str], label_ids: list[int], lines: list[int], labels: list[str], source: str
) -> LabelledSplit:
    """A split from already validated rows, skipping (with a warning) the ones with empty text."""
    empty = [index for index, text in enumerate(texts) if not text.strip()]
    _warn_skipped(source, "line", [lines[index] for index in empty])
    skipped = set(empty)
    kept = [index for index in range(len(texts)) if index not in skipped]
    dataset = datasets.Dataset.from_dict(
        {
            "text": [texts[index] for index in kept],
            "label": [label_ids[index] for index in kept],
            "line": [lines[index] for index in kept],
        },
        features=_features(labels),
    )
    return LabelledSplit(dataset, labels, source)


# --------------------------------------------------------------------------- SST trees


def read_sst_trees(path: PathLike, fine_grained: bool = True) -> LabelledSplit:
    """Read Stanford Sentiment Treebank PTB trees, one per line; the root label is the sentence label.

    ``fine_grained=True`` keeps the 5 classes (:data:`SST5_LABELS`); ``False`` collapses them to
    :data:`SST3_LABELS` (0 and 1 negative, 2 neutral, 3 and 4 positive). The text is the leaves
    joined by single spaces, with ``-LRB-``/``-RRB-`` (and square/curly variants) as brackets.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, "SST tree file not found", str(path))
    texts: list[str] = []
    label_ids: list[int] = []
    lines: list[int] = []
    blank: list[int] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                blank.append(number)
                continue
            try:
                label, leaves = parse_sst_tree(line)
            except ValueError as error:
                raise ValueError(f"{path}, line {number}: malformed SST tree: {error}") from None
            texts.append(" ".join(leaves))
            label_ids.append(label if fine_grained else _SST3_OF_SST5[label])
            lines.append(number)
    if blank:
        warnings.warn(f"{path}: skipped {len(blank)} blank line(s): {', '.join(map(str, blank[:_MAX_LINES_LISTED]))}")
    if not texts:
        raise ValueError(f"{path}: no trees")
    return _from_rows(texts, label_ids, lines, SST5_LABELS if fine_grained else SST3_LABELS, str(path))


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


# --------------------------------------------------------------------------- TweetEval


def read_tweeteval(directory: PathLike, split: str) -> LabelledSplit:
    """Read TweetEval ``{split}_text.txt`` and ``{split}_labels.txt`` (aligned by line) with ``mapping.txt``.

    ``split`` is ``train``, ``val`` (or ``validation``) or ``test``.
    """
    directory = Path(directory)
    split = "val" if split == "validation" else split
    text_path = directory / f"{split}_text.txt"
    labels_path = directory / f"{split}_labels.txt"
    labels = _read_tweeteval_mapping(directory / "mapping.txt")
    if not labels_path.is_file():
        raise FileNotFoundError(errno.ENOENT, f"TweetEval {split!r} labels file not found", str(labels_path))
    if not text_path.is_file():
        raise FileNotFoundError(
            errno.ENOENT,
            f"TweetEval {split!r} text file not found; the offline copy lacks {text_path.name} (only its labels are "
            "there): use split='val' or split='test', or read_hub('cardiffnlp/tweet_eval', 'sentiment', split='train') "
            "where the hub is reachable",
            str(text_path),
        )
    texts = _read_lines(text_path)
    label_lines = _read_lines(labels_path)
    if len(texts) != len(label_lines):
        raise ValueError(
            f"{text_path} has {len(texts)} lines but {labels_path} has {len(label_lines)}; they must align line by line"
        )
    label_ids: list[int] = []
    for number, value in enumerate(label_lines, start=1):
        stripped = value.strip()
        if not _INT_LABEL.fullmatch(stripped) or not 0 <= int(stripped) < len(labels):
            raise ValueError(
                f"{labels_path}, line {number}: label {value!r} is not one of 0..{len(labels) - 1} (mapping.txt)"
            )
        label_ids.append(int(stripped))
    return _from_rows(texts, label_ids, list(range(1, len(texts) + 1)), labels, str(text_path))


def _read_tweeteval_mapping(path: Path) -> list[str]:
    """mapping.txt: ``index<TAB>name`` lines with indices 0, 1, 2, ... in order."""
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, "TweetEval mapping.txt not found", str(path))
    names: list[str] = []
    for number, line in enumerate(_read_lines(path), start=1):
        if not line.strip():
            continue
        fields = line.split("\t") if "\t" in line else line.split(None, 1)
        if len(fields) != 2 or fields[0].strip() != str(len(names)) or not fields[1].strip():
            raise ValueError(f"{path}, line {number}: expected '{len(names)}<TAB>name', found {line!r}")
        names.append(fields[1].strip())
    if not names:
        raise ValueError(f"{path}: no labels")
    return names


def _read_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file, split on ``\\n`` only (a tweet may hold other line separators)."""
    try:
        content = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        line = path.read_bytes()[: error.start].count(b"\n") + 1
        raise ValueError(f"{path}, line {line}: not valid UTF-8 ({error.reason})") from None
    lines = content.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


# --------------------------------------------------------------------------- hub


def read_hub(
    name: str,
    config: str | None = None,
    split: str = "train",
    text_column: str = "text",
    label_column: str = "label",
    *,
    labels: Sequence[str] | None = None,
    cache_dir: PathLike | None = None,
    revision: str | None = None,
) -> LabelledSplit:
    """Load ``split`` of the hub dataset ``name`` (``config``), using its ClassLabel names when it has them.

    ``revision`` pins the dataset repository to a branch, tag or commit (None: the default branch).
    ``line`` is the 0-based row index. Offline (``HF_HUB_OFFLINE``/``HF_DATASETS_OFFLINE``) or
    without a connection, a dataset that is not cached raises :class:`HubUnavailableError` at once.
    """
    source = hub_source(name, config, split, revision)
    _check_hub_reachable(source)
    try:
        raw = datasets.load_dataset(name, config, split=split, cache_dir=_str_or_none(cache_dir), revision=revision)
    except (ConnectionError, FileNotFoundError) as error:
        if not _hub_offline():
            if isinstance(error, FileNotFoundError):
                raise
            raise HubUnavailableError(_hub_message(source, f"the hub could not be reached ({error})")) from error
        reason = f"offline mode is on (HF_HUB_OFFLINE/HF_DATASETS_OFFLINE) and it is not in the local cache ({error})"
        raise HubUnavailableError(_hub_message(source, reason)) from error
    return split_from_hub_dataset(raw, text_column, label_column, labels=labels, source=source)


def hub_source(name: str, config: str | None, split: str, revision: str | None = None) -> str:
    """How messages name a hub split: ``name/config@revision [split]``."""
    return f"{name}" + (f"/{config}" if config else "") + (f"@{revision}" if revision else "") + f" [{split}]"


def split_from_hub_dataset(
    raw: datasets.Dataset,
    text_column: str = "text",
    label_column: str = "label",
    *,
    labels: Sequence[str] | None = None,
    source: str = "dataset",
) -> LabelledSplit:
    """A :class:`LabelledSplit` from an in-memory or hub ``datasets.Dataset`` (``line`` = row index)."""
    _require_columns(raw.column_names, (text_column, label_column), source)
    rows = list(range(len(raw)))
    feature = raw.features[label_column]
    if not isinstance(feature, datasets.ClassLabel):
        return _to_split(raw, text_column, label_column, rows, labels, source, "row")
    names = list(feature.names)
    if labels is not None and [str(label) for label in labels] != names:
        raise ValueError(f"{source}: the dataset's labels {names} differ from the given {list(labels)}")
    ids = np.asarray(raw[label_column][:], dtype=np.int64)
    bad = np.flatnonzero((ids < 0) | (ids >= len(names)))
    if bad.size:
        row = int(bad[0])
        raise ValueError(
            f"{source}, row {row}: label {int(ids[row])} is not one of 0..{len(names) - 1} "
            f"({', '.join(names)}); -1 marks an unlabelled row (as in GLUE test splits)"
        )
    texts = raw[text_column][:]
    empty = [row for row, text in enumerate(texts) if _is_empty_text(text, source, "row", row, text_column)]
    keep = np.ones(len(raw), dtype=bool)
    keep[empty] = False
    _warn_skipped(source, "row", empty)
    return _build(raw, text_column, ids, rows, keep, names, source)


def _hub_offline() -> bool:
    flags = (os.environ.get(variable, "") for variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
    return bool(datasets.config.HF_HUB_OFFLINE) or any(flag.upper() in {"1", "ON", "YES", "TRUE"} for flag in flags)


def _check_hub_reachable(source: str, tagging: bool = False) -> None:
    """Raise HubUnavailableError before ``load_dataset`` would wait on retries that cannot succeed:
    a TCP probe of ``$HF_ENDPOINT`` (default huggingface.co) that gives up after a few seconds."""
    if _hub_offline():
        if not datasets.config.HF_HUB_OFFLINE:
            reason = (
                "HF_HUB_OFFLINE/HF_DATASETS_OFFLINE was set after `datasets` was imported, so `datasets` would "
                "still go online; set it before starting Python to load a cached copy"
            )
            raise HubUnavailableError(_hub_message(source, reason, tagging))
        return  # ``datasets`` itself is offline: it loads from the cache or fails at once
    endpoint = urllib.parse.urlsplit(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host = endpoint.hostname or "huggingface.co"
    if urllib.request.getproxies().get(endpoint.scheme) and not urllib.request.proxy_bypass(host):
        return  # a proxy is in the way: let ``datasets`` try
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    problem = reachable(host, port, _HUB_PROBE_TIMEOUT_S)
    if problem:
        reason = (
            f"this machine is offline or the hub is unreachable: {problem}; with HF_HUB_OFFLINE=1 a copy in "
            "the local cache would be used"
        )
        raise HubUnavailableError(_hub_message(source, reason, tagging))


def _hub_message(source: str, reason: str, tagging: bool = False) -> str:
    """Why ``source`` cannot be loaded, and the overrides that train on local files instead."""
    from ..config import DEFAULT_PROJECT_ROOT

    data = os.environ.get(DATA_ENV) or str((DEFAULT_PROJECT_ROOT.parent / "shared" / "data").resolve())
    if tagging:
        local = (
            f"  {train_command('task=conll2003')}   (reads {data}/conll2003/)\n"
            f"  {train_command('task=token_classification task.train_file=/path/to/train.conll')} "
            "task.test_file=/path/to/test.conll"
        )
    else:
        local = (
            f"  {train_command('task=text_classification task.train_file=/path/to/train.csv')} "
            "task.validation_file=/path/to/dev.csv task.text_column=text task.label_column=label\n"
            f"  {train_command('task=sst2')}   (or task=tweet_sentiment, sst5, sst3: files under {data})\n"
            f"  from Python: read_table('{data}/sst2/train.tsv', text_column='sentence'), "
            f"read_table('{data}/tweet_sentiment_extraction/train.jsonl'), read_sst_trees('{data}/sst5/train.txt') "
            f"or read_tweeteval('{data}/tweeteval_sentiment', 'val')"
        )
    return (
        f"cannot load hub dataset {source}: {reason}.\n"
        f"Use local files instead ({data_env_value()}):\n{local}"
    )


# --------------------------------------------------------------------------- splitting


def stratified_split(split: LabelledSplit, fraction: float, seed: int) -> tuple[LabelledSplit, LabelledSplit]:
    """Split into (train, validation) with ``fraction`` of the rows in validation, stratified by label.

    Each class gives ``floor`` or ``ceil`` of ``fraction`` times its size to validation (largest
    remainders first, so the total is ``round(fraction * len)``); rows are drawn with a
    ``numpy`` generator seeded by ``seed`` and both parts keep the original row order.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be strictly between 0 and 1, got {fraction}")
    ids = np.asarray(split.dataset["label"][:], dtype=np.int64)
    if ids.size == 0:
        raise ValueError(f"{split.source}: no rows to split")
    classes = np.unique(ids)
    sizes = np.array([np.count_nonzero(ids == label) for label in classes])
    wanted = sizes * fraction
    counts = np.floor(wanted).astype(np.int64)
    shortfall = int(round(len(ids) * fraction)) - int(counts.sum())
    order = np.argsort(-(wanted - counts), kind="stable")
    counts[order[: max(shortfall, 0)]] += 1
    rng = np.random.default_rng(seed)
    validation: list[np.ndarray] = []
    for label, count in zip(classes, counts):
        members = np.flatnonzero(ids == label)
        validation.append(rng.permutation(members)[:count])
    in_validation = np.zeros(len(ids), dtype=bool)
    in_validation[np.concatenate(validation)] = True
    describe = f"{split.source} (stratified split, fraction {fraction}, seed {seed})"
    return (
        LabelledSplit(split.dataset.select(np.flatnonzero(~in_validation)), split.labels, f"{describe}: train"),
        LabelledSplit(split.dataset.select(np.flatnonzero(in_validation)), split.labels, f"{describe}: validation"),
    )


def cap(split: LabelledSplit, max_samples: int | None) -> LabelledSplit:
    """The first ``max_samples`` rows of ``split`` (all of them when None or larger than it)."""
    if max_samples is not None and max_samples < 0:
        raise ValueError(f"max_samples must be None or >= 0, got {max_samples}")
    if max_samples is None or max_samples >= len(split.dataset):
        return split
    head = split.dataset.select(range(max_samples))
    return LabelledSplit(head, split.labels, f"{split.source} (first {max_samples})")

