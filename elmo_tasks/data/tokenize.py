"""Tokenizers for raw English text: plain whitespace splitting and a regex tokenizer for tweets.

``simple_tokenize`` splits punctuation off words and contractions off PTB-style
(``don't`` -> ``do n't``, ``it's`` -> ``it 's``) while keeping ``@user`` mentions,
``#hashtags``, URLs, e-mail addresses, emoticons, numbers such as ``3.5`` or ``10:30``,
abbreviations such as ``U.S.`` and runs like ``...`` or ``!!!`` together. Backquotes and
typographic apostrophes count as apostrophes (the tweet data writes ``I`d``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

Tokenizer = Callable[[str], list[str]]

_APOSTROPHE = "['\u2019`]"
_CONTRACTION_SUFFIX = rf"(?:n{_APOSTROPHE}t|{_APOSTROPHE}(?:s|m|d|ll|re|ve))"
_SUFFIX_AFTER_APOSTROPHE = r"(?:s|m|d|ll|re|ve|t)(?!\w)"

_EMOTICON = (
    r"[:;=][-o*']?(?:[)\](\[/\\|}{@]+|[dp3](?!\w))"  # :) :-( ;P =D :'( :/ :3
    r"|<[/\\]?3+(?!\d)"  # <3 </3
    r"|(?<!\w)x[dp](?!\w)"  # xD
    r"|\^_*\^|(?<!\w)[o0-]_+[o0-](?!\w)"  # ^_^ o_O -_-
)

_TOKEN = re.compile(
    "|".join(
        [
            r"(?:https?://|www\.)\S+?(?=[.,!?;:)\]}'\"]*(?:\s|$))",  # URL, trailing punctuation left off
            r"[\w.+-]+@\w+(?:\.\w+)+",  # e-mail
            r"@\w+",  # mention
            r"#\w+",  # hashtag
            _EMOTICON,
            rf"\w+(?={_CONTRACTION_SUFFIX}(?!\w))",  # "do" of "don't", "it" of "it's"
            rf"{_CONTRACTION_SUFFIX}(?!\w)",  # "n't", "'s"
            r"\d+(?:[.,:/]\d+)+",  # 3.5 1,000 10:30 1/2
            r"(?:[A-Za-z]\.){2,}",  # U.S. e.g.
            rf"\w+(?:(?:-|{_APOSTROPHE}(?!{_SUFFIX_AFTER_APOSTROPHE}))\w+)*",  # words, well-known, O'Neil
            r"\.{2,}|\u2026|[!?]{2,}|-{2,}",  # ... !!! ?! --
            r"\S",  # any other single character
        ]
    ),
    re.IGNORECASE,
)


def whitespace_tokenize(text: str) -> list[str]:
    """Split ``text`` on runs of whitespace (for already tokenised text such as SST)."""
    return text.split()


def simple_tokenize(text: str) -> list[str]:
    """Split raw English or tweet text into tokens (see the module docstring for the rules)."""
    return _TOKEN.findall(text)


TOKENIZERS: dict[str, Tokenizer] = {
    "whitespace": whitespace_tokenize,
    "simple": simple_tokenize,
}


def get_tokenizer(name: str) -> Tokenizer:
    """The tokenizer called ``name``: ``"whitespace"`` or ``"simple"``."""
    try:
        return TOKENIZERS[name]
    except KeyError:
        raise ValueError(
            f"unknown tokenizer {name!r}; choose one of: {', '.join(TOKENIZERS)}"
        ) from None
