"""Text encodings of the files a user gives: checking an encoding's name, and a message that
names the line and byte a file stops decoding at, with the fix (``task.encoding=latin-1`` or
converting the file to UTF-8)."""

from __future__ import annotations

import codecs
import os
from collections.abc import Callable
from pathlib import Path

from elmo_tasks.core.errors import DataFormatError

DEFAULT_ENCODING = "utf-8"
ENCODING_EXAMPLES = "utf-8, latin-1, cp1252"


def encoding_name(encoding: str) -> str:
    """The codec's canonical name (``UTF8`` -> ``utf-8``); LookupError for an unknown one."""
    return codecs.lookup(str(encoding)).name


def encoding_problem(value: object, key: str) -> str | None:
    """Why ``key=value`` is not a text encoding Python knows (None when it is)."""
    try:
        encoding_name(str(value))
    except LookupError:
        return f"{key}={value!r}: not a known text encoding, e.g. {key}=utf-8 (or latin-1, cp1252)"
    return None


def reading_codec(encoding: str) -> str:
    """The codec to read a file of ``encoding`` with: a UTF-8 file may start with a byte-order
    mark, which is not part of its text."""
    return "utf-8-sig" if encoding == "utf-8" else encoding


def undecodable_line(
    source: str,
    number: int,
    error: UnicodeDecodeError,
    encoding: str,
    make_error: Callable[[str], Exception],
    examples: str = "encoding=latin-1",
) -> Exception:
    """The error for line ``number`` of ``source`` (a file decoded line by line) not decoding
    as ``encoding``: its first bad byte, where it is in the line, and the ``encoding=`` fix."""
    byte = error.object[error.start : error.start + 1].hex()
    return make_error(
        f"{source}, line {number}: not valid {encoding} (byte 0x{byte} at byte {error.start + 1} of the line); "
        f"give the file's encoding, e.g. {examples}, or convert it to {encoding}"
    )


def decode_lines(
    data: bytes,
    source: str,
    encoding: str,
    make_error: Callable[[str], Exception],
    examples: str = "encoding=latin-1",
) -> list[str]:
    """The lines of ``data`` (split at \\n, \\r\\n or \\r), each decoded; a line that does not
    decode raises ``make_error`` with :func:`undecodable_line`'s message."""
    lines = []
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            lines.append(raw.decode(encoding))
        except UnicodeDecodeError as error:
            raise undecodable_line(source, number, error, encoding, make_error, examples) from None
    return lines


def line_of(data: bytes, offset: int) -> int:
    """The 1-based line that byte ``offset`` of ``data`` is on (``\\n``, ``\\r\\n`` or ``\\r`` end a line)."""
    before = data[:offset]
    return before.count(b"\n") + before.count(b"\r") - before.count(b"\r\n") + 1


def undecodable(
    path: str | os.PathLike[str],
    encoding: str = DEFAULT_ENCODING,
    key: str = "task.encoding",
    data: bytes | None = None,
) -> DataFormatError:
    """The error for ``path`` not decoding as ``encoding``: the line and column of the first byte
    that does not decode, that byte, and the fix (``key=latin-1`` or converting the file).

    ``data`` is the file's content when the caller has it already; a file that does decode
    (the caller met a decode error elsewhere) gives a message without a line."""
    content = Path(path).read_bytes() if data is None else data
    name = encoding_name(encoding)
    skip = len(codecs.BOM_UTF8) if name == "utf-8" and content.startswith(codecs.BOM_UTF8) else 0
    try:
        content[skip:].decode(name)
    except UnicodeDecodeError as error:
        start = error.start + skip
        line = line_of(content, start)
        line_start = max(content.rfind(b"\n", 0, start), content.rfind(b"\r", 0, start)) + 1
        where = f"{path}, line {line}: byte 0x{content[start]:02x} (byte {start - line_start + 1} of the line)"
        reason = f" ({error.reason})"
    else:
        where, reason = f"{path}", ""
    label = "UTF-8" if name == "utf-8" else name
    if name == "utf-8":
        fix = (
            f"if the file is in another encoding, give it: {key}=latin-1 (or cp1252, ...); or convert the file "
            f"to UTF-8, e.g. iconv -f latin1 -t utf-8 {Path(path).name} > {Path(path).stem}.utf8{Path(path).suffix}"
        )
    else:
        fix = f"give the file's own encoding as {key}=... (e.g. {key}=utf-8), or convert the file to UTF-8"
    return DataFormatError(f"{where} is not valid {label}{reason}; {fix}")
