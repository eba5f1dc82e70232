"""Tokenizers on hand-written examples."""

from __future__ import annotations

import pytest

from elmo_tasks.data.tokenize import get_tokenizer, simple_tokenize, whitespace_tokenize


def test_whitespace_tokenize() -> None:
    assert whitespace_tokenize(" it 's a charming\tjourney . \n") == [
        "it",
        "'s",
        "a",
        "charming",
        "journey",
        ".",
    ]
    assert whitespace_tokenize("   ") == []


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("I don't like it, it's bad!", "I do n't like it , it 's bad !"),
        (
            "can't won't I'm we'll they're you've he'd",
            "ca n't wo n't I 'm we 'll they 're you 've he 'd",
        ),
        ("DON'T Isn\u2019t I`d", "DO N'T Is n\u2019t I `d"),
        ("O'Neil's rock'n'roll y'all", "O'Neil 's rock'n'roll y'all"),
        ("@user thanks #blessed #1", "@user thanks #blessed #1"),
        (
            "see http://t.co/abc123. or (www.example.com/a?b=1)",
            "see http://t.co/abc123 . or ( www.example.com/a?b=1 )",
        ),
        ("mail me@example.com now", "mail me@example.com now"),
        (
            "great:) sad :-( wink ;P lol :D <3 xD ^_^ -_- :/",
            "great :) sad :-( wink ;P lol :D <3 xD ^_^ -_- :/",
        ),
        ("Note:Decide <30", "Note : Decide < 30"),
        (
            "The U.S. price: $3.50 at 10:30, 1,000 or 1/2.",
            "The U.S. price : $ 3.50 at 10:30 , 1,000 or 1/2 .",
        ),
        (
            "Sooo SAD!!! wait... what?! well-known -- end",
            "Sooo SAD !!! wait ... what ?! well-known -- end",
        ),
        ('He said "hi" (quietly); ok', 'He said " hi " ( quietly ) ; ok'),
        (" I`d have responded, if I were going", "I `d have responded , if I were going"),
        ("", ""),
    ],
)
def test_simple_tokenize(text: str, tokens: str) -> None:
    """``tokens`` is the expected tokens joined by single spaces."""
    expected = tokens.split(" ") if tokens else []
    assert simple_tokenize(text) == expected


def test_simple_tokenize_loses_no_characters() -> None:
    text = "Hey @bob!!! I can't believe it's 10:30 :) #late http://x.co/y?z=1 ... \u00e9t\u00e9 \U0001f600"
    assert "".join(simple_tokenize(text)) == "".join(text.split())


def test_get_tokenizer() -> None:
    assert get_tokenizer("whitespace") is whitespace_tokenize
    assert get_tokenizer("simple") is simple_tokenize
    with pytest.raises(
        ValueError, match="unknown tokenizer 'spacy'; choose one of: whitespace, simple"
    ):
        get_tokenizer("spacy")
