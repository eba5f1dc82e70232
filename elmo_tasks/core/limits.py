"""How many tokens one line may give a model: ``max_tokens`` of predict and embed.

The biLM's LSTMs run token by token, and a line becomes one sequence: a 100,000-character
line given to ``predict`` with the ``mini`` ELMo took 267 s and 770 MB, with nothing shown.
Such a line is almost always a mistake (a file without line breaks, a whole document pasted
in), so the commands refuse it before the model runs, naming the line, its length, the limit
and the key that raises it (exit status 1).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol, TypeVar

DEFAULT_MAX_TOKENS = 4096


class HasTokens(Protocol):
    line: int
    tokens: list[str]


T = TypeVar("T", bound=HasTokens)


def too_long(source: str, line: int, count: int, limit: int, key: str = "max_tokens") -> str:
    """The message for line ``line`` of ``source`` with ``count`` tokens, over ``limit``."""
    return (
        f"{source}, line {line}: {count} tokens, more than {key}={limit}; a line this long "
        f"takes the model minutes and much memory. Split it into shorter lines, or raise the "
        f"limit: {key}={count}"
    )


def within_limit(
    examples: Iterable[T], limit: int | None, source: str, error: type[Exception]
) -> Iterator[T]:
    """``examples`` as they come; ``error`` (with :func:`too_long`'s message) at the first with
    more than ``limit`` tokens (None or 0: no limit). Lazy, so stdin is answered line by line
    up to the long one."""
    for example in examples:
        if limit and len(example.tokens) > limit:
            raise error(too_long(source, example.line, len(example.tokens), limit))
        yield example
