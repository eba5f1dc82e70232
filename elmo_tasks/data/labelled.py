"""The labelled split every classification reader returns, how rows become one, and how
splits are carved and capped.

A :class:`LabelledSplit` holds a ``datasets.Dataset`` with the columns ``text`` (str), ``label``
(int, an index into ``labels``; a ``ClassLabel`` feature) and ``line`` (the 1-based line of the
row in its source file, or the 0-based row index for hub data), so that any prediction or error
can be traced back to the input. Rows with empty text are skipped with a warning that names
their lines; an unknown or missing label is a ValueError naming the file and line.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from elmo_tasks.core.errors import DataFormatError

PathLike = str | os.PathLike[str]
INT_LABEL = re.compile(r"[+-]?\d+")
MAX_LINES_LISTED = 50
_UNKNOWN_LABEL_FIX = (
    " (the labels of the train file); correct the label, or add examples of it to the train file"
)


@dataclass
class LabelledSplit:
    """A dataset with columns ``text``, ``label``, ``line`` and the names its labels index into."""

    dataset: datasets.Dataset
    labels: list[str]
    source: str

    def __len__(self) -> int:
        return len(self.dataset)


def to_split(
    raw: datasets.Dataset,
    text_column: str,
    label_column: str,
    lines: Sequence[int],
    labels: Sequence[str] | None,
    source: str,
    where: str,
    value_names: Mapping[str, str] | None = None,
) -> LabelledSplit:
    """Validate texts and labels of ``raw`` and map it to the ``text``/``label``/``line`` columns.

    ``lines[i]`` is what messages call row ``i`` (``where`` is "line" or "row").
    ``value_names`` names raw label values (``{"0": "negative", "1": "positive"}``): a row's
    value is replaced by its name (a value already a name stays), and a label set read from
    the file keeps the order of the raw values.
    """
    texts = raw[text_column][:]
    keep = np.array(
        [
            not is_empty_text(text, source, where, lines[row], text_column)
            for row, text in enumerate(texts)
        ],
        dtype=bool,
    )
    kept_rows = np.flatnonzero(keep).tolist()
    values = raw[label_column][:]
    names = {
        row: _label_name(values[row], source, where, lines[row], label_column) for row in kept_rows
    }
    label_names = _resolve_label_names(names.values(), labels, source)
    if value_names:
        names = {row: value_names.get(name, name) for row, name in names.items()}
        if labels is None:
            label_names = list(dict.fromkeys(value_names.get(name, name) for name in label_names))
    label_ids = np.zeros(len(raw), dtype=np.int64)  # rows with empty text keep 0; they are dropped
    position = {name: index for index, name in enumerate(label_names)}
    for row, name in names.items():
        if name not in position:
            raise DataFormatError(
                f"{source}, {where} {lines[row]}: unknown label {name!r}; known labels: "
                f"{', '.join(map(repr, label_names))}{_UNKNOWN_LABEL_FIX if labels is not None else ''}"
            )
        label_ids[row] = position[name]
    warn_skipped(source, where, [lines[row] for row in np.flatnonzero(~keep).tolist()])
    return build_split(raw, text_column, label_ids, list(lines), keep, label_names, source)


def _label_name(value: Any, source: str, where: str, line: int, column: str) -> str:
    """The label value as a name: integers as decimal strings, strings as they are."""
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if value is None or isinstance(value, str) or (isinstance(value, float) and math.isnan(value)):
        raise DataFormatError(
            f"{source}, {where} {line}: missing label (field {column!r} is empty)"
        )
    raise DataFormatError(
        f"{source}, {where} {line}: label {value!r} in field {column!r} is a {type(value).__name__}; "
        "expected an integer or a non-blank string"
    )


def is_empty_text(text: Any, source: str, where: str, line: int, column: str) -> bool:
    if text is None:
        return True
    if not isinstance(text, str):
        raise DataFormatError(
            f"{source}, {where} {line}: field {column!r} holds a {type(text).__name__} ({text!r}), expected a string"
        )
    return not text.strip()


def _label_sort_key(name: str) -> tuple[int, int | str]:
    return (0, int(name)) if INT_LABEL.fullmatch(name) else (1, name)


def _resolve_label_names(
    names: Iterable[str], labels: Sequence[str] | None, source: str
) -> list[str]:
    """``labels`` checked for duplicates, or the set of ``names``, sorted."""
    if labels is None:
        return sorted(set(names), key=_label_sort_key)
    label_names = [str(label) for label in labels]
    duplicates = sorted({name for name in label_names if label_names.count(name) > 1})
    if duplicates:
        raise ValueError(
            f"{source}: the given label list repeats {', '.join(map(repr, duplicates))}"
        )
    return label_names


def warn_skipped(source: str, where: str, skipped_lines: list[int]) -> None:
    if not skipped_lines:
        return
    listed = ", ".join(map(str, skipped_lines[:MAX_LINES_LISTED]))
    more = (
        f" and {len(skipped_lines) - MAX_LINES_LISTED} more"
        if len(skipped_lines) > MAX_LINES_LISTED
        else ""
    )
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


def build_split(
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
        chosen = [
            (text, index) for text, index in zip(batch[text_column], indices) if keep_list[index]
        ]
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


def from_rows(
    texts: list[str], label_ids: list[int], lines: list[int], labels: list[str], source: str
) -> LabelledSplit:
    """A split from already validated rows, skipping (with a warning) the ones with empty text."""
    empty = [index for index, text in enumerate(texts) if not text.strip()]
    warn_skipped(source, "line", [lines[index] for index in empty])
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


def stratified_split(
    split: LabelledSplit, fraction: float, seed: int
) -> tuple[LabelledSplit, LabelledSplit]:
    """Split into (train, validation) with ``fraction`` of the rows in validation, stratified by label.

    Each class gives ``floor`` or ``ceil`` of ``fraction`` times its size to validation (largest
    remainders first, so the total is ``round(fraction * len)``); rows are drawn with a
    ``numpy`` generator seeded by ``seed`` and both parts keep the original row order.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be strictly between 0 and 1, got {fraction}")
    ids = np.asarray(split.dataset["label"][:], dtype=np.int64)
    if ids.size == 0:
        raise DataFormatError(f"{split.source}: no rows to split")
    classes = np.unique(ids)
    sizes = np.array([np.count_nonzero(ids == label) for label in classes])
    wanted = sizes * fraction
    counts = np.floor(wanted).astype(np.int64)
    shortfall = int(round(len(ids) * fraction)) - int(counts.sum())
    order = np.argsort(-(wanted - counts), kind="stable")
    counts[order[: max(shortfall, 0)]] += 1
    if not 0 < int(counts.sum()) < len(ids):
        raise DataFormatError(
            f"{split.source}: a validation fraction of {fraction} of its {len(ids)} rows holds out "
            f"{int(counts.sum())}; give a validation file (task.validation_file=...), more rows or another "
            "task.validation_fraction"
        )
    rng = np.random.default_rng(seed)
    validation: list[np.ndarray] = []
    for label, count in zip(classes, counts):
        members = np.flatnonzero(ids == label)
        validation.append(rng.permutation(members)[:count])
    in_validation = np.zeros(len(ids), dtype=bool)
    in_validation[np.concatenate(validation)] = True
    describe = f"{split.source} (stratified split, fraction {fraction}, seed {seed})"
    return (
        LabelledSplit(
            split.dataset.select(np.flatnonzero(~in_validation)), split.labels, f"{describe}: train"
        ),
        LabelledSplit(
            split.dataset.select(np.flatnonzero(in_validation)),
            split.labels,
            f"{describe}: validation",
        ),
    )


def aligned(split: LabelledSplit, labels: Sequence[str]) -> LabelledSplit:
    """``split`` with its label ids indexing ``labels`` (a model's label set) instead of its own
    label names; DataFormatError naming the first row whose label ``labels`` lacks."""
    if list(split.labels) == list(labels):
        return split
    position = {name: index for index, name in enumerate(labels)}
    ids = split.dataset["label"][:]
    lines = split.dataset["line"][:]
    for row, label_id in enumerate(ids):
        name = split.labels[label_id]
        if name not in position:
            raise DataFormatError(
                f"{split.source}, line {lines[row]}: unknown label {name!r}; the model knows "
                f"{', '.join(map(repr, labels))}"
            )
    mapping = [position.get(name, -1) for name in split.labels]
    dataset = datasets.Dataset.from_dict(
        {
            "text": split.dataset["text"][:],
            "label": [mapping[label_id] for label_id in ids],
            "line": lines,
        },
        features=_features(list(labels)),
    )
    return LabelledSplit(dataset, list(labels), split.source)


def cap(split: LabelledSplit, max_samples: int | None) -> LabelledSplit:
    """The first ``max_samples`` rows of ``split`` (all of them when None or larger than it)."""
    if max_samples is not None and max_samples < 0:
        raise ValueError(f"max_samples must be None or >= 0, got {max_samples}")
    if max_samples is None or max_samples >= len(split.dataset):
        return split
    head = split.dataset.select(range(max_samples))
    return LabelledSplit(head, split.labels, f"{split.source} (first {max_samples})")
