"""What ``elmo-tasks predict`` reads: texts to classify or sentences to tag, from a file (decoded
whole first) or stdin (line by line), as plain lines, JSON lines or CoNLL; each problem names its
line. See docs/predict.md."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from elmo_tasks.cli.arguments import UsageError
from elmo_tasks.core import text_encoding
from elmo_tasks.runs.trained import PredictError

DOCSTART = "-DOCSTART-"
ENCODING_EXAMPLES = "encoding=latin-1 or encoding=cp1252"

# The predict command's logger (run with ``python -m``, its module is ``__main__``).
log = logging.getLogger("elmo_tasks.cli.predict")


@dataclass
class Example:
    """One text or sentence to predict: where it is (1-based line), its tokens and raw text."""

    line: int
    tokens: list[str]
    text: str = ""
    source: str = field(default="input", repr=False)


def detect_input_format(path: str, requested: str) -> str:
    """``lines``, ``jsonl`` or ``conll`` for ``path`` (``-`` is stdin), as ``input_format=auto`` reads it."""
    if requested != "auto":
        return requested
    if path == "-":
        return "lines"
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".conll":
        return "conll"
    with open(path, encoding="utf-8", errors="replace") as handle:
        first = next((line for line in handle if line.strip()), "")
    return "conll" if first.split()[:1] == [DOCSTART] else "lines"


def _json_object(raw: str, number: int, source: str) -> dict:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise PredictError(f"{source}, line {number}: not valid JSON ({error.msg})") from None
    if not isinstance(value, dict):
        raise PredictError(
            f"{source}, line {number}: expected a JSON object, got {type(value).__name__}"
        )
    return value


def read_texts(
    lines: Iterable[str],
    source: str,
    input_format: str,
    tokenize,
    lowercase: bool,
    text_column: str = "text",
) -> Iterator[Example]:
    """Texts to classify, one per line (or the ``text`` field, else ``text_column``, of JSON
    lines), tokenised as in training; empty ones are skipped with a warning naming the line."""
    if input_format == "conll":
        raise UsageError(
            "input_format=conll is for taggers; this run is a classifier (give one text per line)"
        )
    for number, raw in enumerate(lines, start=1):
        text = raw.rstrip("\r\n")
        if input_format == "jsonl":
            if not text.strip():
                continue
            record = _json_object(text, number, source)
            key = "text" if "text" in record else text_column
            if not isinstance(record.get(key), str):
                raise PredictError(
                    f"{source}, line {number}: no string field 'text' (fields: {', '.join(record)})"
                )
            text = record[key]
        tokens = tokenize(text.lower() if lowercase else text) if text.strip() else []
        if not tokens:
            log.warning("%s, line %d: empty text, skipped", source, number)
            continue
        yield Example(number, tokens, text, source)


def _checked_tokens(tokens: Any, number: int, source: str) -> list[str]:
    if not isinstance(tokens, list) or not tokens:
        raise PredictError(f"{source}, line {number}: 'tokens' must be a non-empty list of strings")
    for token in tokens:
        if (
            not isinstance(token, str)
            or not token
            or len(token.split()) != 1
            or token.strip() != token
        ):
            raise PredictError(
                f"{source}, line {number}: token {token!r} is empty or holds whitespace"
            )
    return tokens


def read_sentences(lines: Iterable[str], source: str, input_format: str) -> Iterator[Example]:
    """Sentences to tag: one per line (whitespace tokens), JSON lines with ``tokens`` or ``text``,
    or CoNLL (first column; a sentence is yielded at the blank line that ends it)."""
    if input_format == "conll":
        yield from _read_conll_tokens(lines, source)
        return
    for number, raw in enumerate(lines, start=1):
        text = raw.rstrip("\r\n")
        if not text.strip():
            hint = (
                " (is it a CoNLL file? pass input_format=conll)" if input_format == "lines" else ""
            )
            raise PredictError(
                f"{source}, line {number}: empty line; give one sentence per line{hint}"
            )
        if input_format == "jsonl":
            record = _json_object(text, number, source)
            if "tokens" in record:
                tokens = _checked_tokens(record["tokens"], number, source)
            elif isinstance(record.get("text"), str) and record["text"].split():
                tokens = record["text"].split()
            else:
                raise PredictError(
                    f"{source}, line {number}: needs 'tokens' (a list) or a non-empty 'text'"
                )
        else:
            tokens = text.split()
        yield Example(number, tokens, " ".join(tokens), source)


def _read_conll_tokens(lines: Iterable[str], source: str) -> Iterator[Example]:
    tokens: list[str] = []
    first = 0
    for number, raw in enumerate(lines, start=1):
        columns = raw.split()
        if columns and columns[0] != DOCSTART:
            first = first if tokens else number
            tokens.append(columns[0])
        elif tokens:
            yield Example(first, tokens, " ".join(tokens), source)
            tokens = []
    if tokens:
        yield Example(first, tokens, " ".join(tokens), source)


# --------------------------------------------------------------------------- decoding


def decode_lines(data: bytes, source: str, encoding: str = "utf-8") -> list[str]:
    """The lines of ``data`` (split at \\n, \\r\\n or \\r), each decoded; a line that does not
    decode is a :class:`PredictError` naming its number and the ``encoding=`` fix."""
    return text_encoding.decode_lines(data, source, encoding, PredictError, ENCODING_EXAMPLES)


def stream_lines(stdin: IO[str], encoding: str = "utf-8") -> Iterator[str]:
    """stdin line by line as the lines arrive (no read-ahead past a line), each decoded on its
    own, so every line before one that does not decode is answered first."""
    binary = getattr(stdin, "buffer", None)
    if binary is None:  # a text stream (tests, embedding): already decoded
        yield from iter(stdin.readline, "")
        return
    for number, raw in enumerate(iter(binary.readline, b""), start=1):
        try:
            yield raw.decode(encoding)
        except UnicodeDecodeError as error:
            raise text_encoding.undecodable_line(
                "stdin", number, error, encoding, PredictError, ENCODING_EXAMPLES
            ) from None


def read_input_file(path: str, encoding: str = "utf-8") -> list[str]:
    """The lines of the input file, all decoded (before any output is opened)."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise PredictError(f"cannot read input file {path}: {error.strerror or error}") from None
    return decode_lines(data, path, encoding)
