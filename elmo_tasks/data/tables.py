"""csv / tsv / JSON lines files as a :class:`~elmo_tasks.data.labelled.LabelledSplit`, loaded
(cached, memory-mapped) by ``datasets``; a malformed line, a missing column or a file that does
not decode in its ``encoding`` is a :class:`~elmo_tasks.core.errors.DataFormatError` (a
ValueError) naming the file and line."""

from __future__ import annotations

import csv
import errno
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import datasets

from elmo_tasks.core.errors import DataFormatError
from elmo_tasks.core.text_encoding import (
    DEFAULT_ENCODING,
    encoding_name,
    reading_codec,
    undecodable,
)
from elmo_tasks.data.labelled import LabelledSplit, to_split

PathLike = str | os.PathLike[str]
_TABLE_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "json", ".json": "json"}
_SHOWN_DELIMITER = {"\t": "<TAB>", ",": ","}
_FIELD_FIX = {
    "\t": "a tab inside a text splits it (tsv is read without quotes): replace that tab with a space",
    ",": 'a comma inside a text splits it: put the text in double quotes ("a, b"), doubling any quote inside',
}


def read_table(
    path: PathLike,
    text_column: str = "text",
    label_column: str = "label",
    labels: Sequence[str] | None = None,
    *,
    cache_dir: PathLike | None = None,
    encoding: str = DEFAULT_ENCODING,
    label_names: Mapping[str, str] | None = None,
) -> LabelledSplit:
    """Read a .csv, .tsv or .jsonl/.json (JSON lines) file of texts and labels.

    Labels may be strings or integers. With ``labels=None`` the label set is the sorted set of
    this file's values (integers numerically, then strings alphabetically); pass the training
    file's ``labels`` when reading its validation or test file so that indices agree and an
    unknown value is an error. ``cache_dir`` is the ``datasets`` cache (default: its own);
    ``encoding`` the file's text encoding (a UTF-8 byte order mark is skipped).
    ``label_names`` names raw values (``{"0": "negative", "1": "positive"}`` for SST-2's
    tsv files); ``labels`` are then names too, and a value already a name is kept.
    """
    path = Path(path)
    fmt = _TABLE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataFormatError(
            f"{path}: unsupported file type {path.suffix!r}; use one of {', '.join(_TABLE_FORMATS)}"
        )
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, f"{fmt} data file not found", str(path))
    if text_column == label_column:
        raise ValueError(f"{path}: text_column and label_column are both {text_column!r}")
    encoding = encoding_name(encoding)
    if fmt == "json":
        raw, lines = _load_json_lines(path, cache_dir, encoding)
        require_columns(raw.column_names, (text_column, label_column), path)
    else:
        raw, lines = _load_delimited(path, fmt, text_column, label_column, cache_dir, encoding)
    if len(raw) != len(lines):
        raise DataFormatError(
            f"{path}: datasets read {len(raw)} rows but the file holds {len(lines)} records; "
            "cannot match rows to line numbers"
        )
    return to_split(raw, text_column, label_column, lines, labels, str(path), "line", label_names)


def read_texts(
    path: PathLike, text_column: str = "text", encoding: str = DEFAULT_ENCODING
) -> list[str]:
    """The ``text_column`` of a .csv, .tsv or .jsonl file (no labels needed), checked as
    :func:`read_table` checks it; a missing text is an empty string."""
    path = Path(path)
    fmt = _TABLE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataFormatError(
            f"{path}: unsupported file type {path.suffix!r}; use one of {', '.join(_TABLE_FORMATS)}"
        )
    if fmt == "json":
        raw, _ = _load_json_lines(path, None, encoding_name(encoding))
        require_columns(
            raw.column_names, (text_column,), path, "name the column to read with text_column=..."
        )
    else:
        raw, _ = _load_delimited(path, fmt, text_column, None, None, encoding_name(encoding))
    return [text if isinstance(text, str) else "" for text in raw[text_column]]


def _load_delimited(
    path: Path,
    fmt: str,
    text_column: str,
    label_column: str | None,
    cache_dir: PathLike | None,
    encoding: str,
) -> tuple[datasets.Dataset, list[int]]:
    """Check the header and record shapes with the csv module, then load through ``datasets``
    (only the text column when ``label_column`` is None)."""
    dialect: dict[str, Any] = (
        {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if fmt == "tsv" else {"delimiter": ","}
    )
    header, lines = _scan_delimited(path, dialect, encoding)
    columns = (text_column,) if label_column is None else (text_column, label_column)
    require_columns(
        header,
        columns,
        path,
        "name the column to read with text_column=..." if label_column is None else COLUMNS_FIX,
    )
    for column in columns:
        if header.count(column) > 1:
            raise DataFormatError(
                f"{path}, line 1: column {column!r} appears {header.count(column)} times in the header"
            )
    if label_column is None:
        dialect = {**dialect, "usecols": [text_column]}
    features = datasets.Features({column: datasets.Value("string") for column in columns})
    try:
        raw = datasets.load_dataset(
            "csv",
            data_files=str(path),
            split="train",
            cache_dir=str_or_none(cache_dir),
            features=features,  # read both columns as strings: "007" stays "007", "NA" stays "NA"
            keep_default_na=False,
            na_filter=False,
            **({} if encoding == "utf-8" else {"encoding": encoding}),
            **dialect,
        )
    except Exception as error:  # the scan above catches the common faults; this names the rest
        raise DataFormatError(f"{path}: could not be read as {fmt}: {error}") from error
    return raw, lines


def _scan_delimited(
    path: Path, dialect: dict[str, Any], encoding: str
) -> tuple[list[str], list[int]]:
    """The header and the first line of each record; DataFormatError for a row with the wrong field count."""
    header: list[str] | None = None
    lines: list[int] = []
    with path.open(encoding=reading_codec(encoding), newline="") as handle:
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
                    raise DataFormatError(
                        f"{path}, line {start}: expected {len(header)} fields ({', '.join(header)}), found "
                        f"{len(row)}; {_FIELD_FIX[dialect['delimiter']]}"
                    )
                else:
                    lines.append(start)
        except UnicodeDecodeError:  # decoded in blocks: find the line from the bytes
            raise undecodable(path, encoding) from None
        except csv.Error as error:
            raise DataFormatError(f"{path}, line {reader.line_num}: {error}") from error
    if header is None:
        raise DataFormatError(
            f"{path}: empty file (no header line); the first line names the columns, e.g. "
            f"text{_SHOWN_DELIMITER[dialect['delimiter']]}label, and each line after it is one example"
        )
    if not lines:
        raise DataFormatError(
            f"{path}: no data rows (only the header, line 1); add one example per line below it"
        )
    return header, lines


def _load_json_lines(
    path: Path, cache_dir: PathLike | None, encoding: str
) -> tuple[datasets.Dataset, list[int]]:
    """Load a JSON lines file through ``datasets``; a line that is not a JSON object is named."""
    content = path.read_bytes()
    try:
        content.decode(reading_codec(encoding))
    except UnicodeDecodeError:
        raise undecodable(path, encoding, data=content) from None
    if content.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"["):
        raise DataFormatError(
            f"{path}: expected JSON lines (one object per line), found a JSON array"
        )
    lines = [number for number, line in enumerate(content.split(b"\n"), start=1) if line.strip()]
    if not lines:
        raise DataFormatError(
            f"{path}: no data rows (the file is empty); write one JSON object per line"
        )
    try:
        raw = datasets.load_dataset(
            "json",
            data_files=str(path),
            split="train",
            cache_dir=str_or_none(cache_dir),
            **({} if encoding == "utf-8" else {"encoding": encoding}),
        )
    except Exception as error:
        _raise_bad_json_line(path, content, encoding)
        raise DataFormatError(f"{path}: could not be read as JSON lines: {error}") from error
    return raw, lines


def _raise_bad_json_line(path: Path, content: bytes, encoding: str = DEFAULT_ENCODING) -> None:
    """Raise ValueError naming the first line of ``content`` that is not a JSON object, or the
    first field whose values mix JSON types (which ``datasets`` cannot always load), if any."""
    first_seen: dict[str, tuple[str, int]] = {}
    for number, line in enumerate(content.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line.decode(reading_codec(encoding) if number == 1 else encoding))
        except UnicodeDecodeError:
            raise undecodable(path, encoding, data=content) from None
        except json.JSONDecodeError as error:
            raise DataFormatError(
                f"{path}, line {number}: not valid JSON ({error.msg} at column {error.colno}); each line must be one "
                'JSON object, e.g. {"text": "a fine film", "label": "positive"}'
            ) from None
        if not isinstance(value, dict):
            raise DataFormatError(
                f"{path}, line {number}: expected a JSON object, found {type(value).__name__}"
            )
        for field, item in value.items():
            if item is None:
                continue
            kind = _json_kind(item)
            seen = first_seen.setdefault(field, (kind, number))
            if seen[0] != kind:
                raise DataFormatError(
                    f"{path}, line {number}: field {field!r} is a {kind} here but a {seen[0]} on line {seen[1]}; "
                    "write every value of a field with one JSON type (for example all labels as strings)"
                )


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


COLUMNS_FIX = "name the columns to read with task.text_column=... and task.label_column=..."


def require_columns(
    available: Sequence[str], wanted: Sequence[str], source: Any, fix: str = COLUMNS_FIX
) -> None:
    missing = [column for column in wanted if column not in available]
    if missing:
        raise DataFormatError(
            f"{source}: no column {', '.join(map(repr, missing))}; "
            f"available columns: {', '.join(map(repr, available))}; " + fix
        )


def str_or_none(value: PathLike | None) -> str | None:
    return None if value is None else str(value)
