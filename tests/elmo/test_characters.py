"""batch_to_ids: the character id layout of the published ELMo models."""

from __future__ import annotations

import pytest
import torch

from elmo_tasks.elmo import batch_to_ids

# Shifted ids (+1 so that 0 can mean "no token").
BOS_CHAR = 256 + 1
EOS_CHAR = 257 + 1
BOW = 258 + 1
EOW = 259 + 1
PAD = 260 + 1


def expected_row(byte_values: list[int]) -> list[int]:
    row = [BOW] + [b + 1 for b in byte_values] + [EOW]
    return row + [PAD] * (50 - len(row))


def test_sentence_boundary_tokens():
    ids = batch_to_ids([["<S>", "</S>"]])
    assert ids[0, 0].tolist() == [259, 257, 260] + [261] * 47
    assert ids[0, 1].tolist() == [259, 258, 260] + [261] * 47
    assert ids[0, 0, :3].tolist() == [BOW, BOS_CHAR, EOW]
    assert ids[0, 1, :3].tolist() == [BOW, EOS_CHAR, EOW]


def test_ascii_token_hand_computed():
    ids = batch_to_ids([["Hi!"]])
    # 'H' = 72, 'i' = 105, '!' = 33, each shifted by one.
    assert ids[0, 0].tolist() == [259, 73, 106, 34, 260] + [261] * 45


@pytest.mark.parametrize("token", ["naïve", "日本", "Zürich€"])
def test_multibyte_utf8_token_uses_its_bytes(token):
    encoded = list(token.encode("utf-8"))
    assert len(encoded) > len(token)  # really multi-byte
    row = batch_to_ids([[token]])[0, 0].tolist()
    assert row == expected_row(encoded)
    assert row[1 : 1 + len(encoded)] == [b + 1 for b in encoded]
    assert row[1 + len(encoded)] == EOW


def test_cjk_bytes_hand_written():
    # "日本" is E6 97 A5 E6 9C AC in UTF-8.
    row = batch_to_ids([["日本"]])[0, 0].tolist()
    assert row[:8] == [BOW, 0xE6 + 1, 0x97 + 1, 0xA5 + 1, 0xE6 + 1, 0x9C + 1, 0xAC + 1, EOW]
    assert row[8:] == [PAD] * 42


def test_long_token_truncated_to_48_bytes():
    token = "".join(chr(ord("a") + i % 26) for i in range(60))
    assert len(token.encode("utf-8")) == 60
    row = batch_to_ids([[token]])[0, 0].tolist()
    assert len(row) == 50
    assert row[0] == BOW
    assert row[1:49] == [b + 1 for b in token.encode("utf-8")[:48]]
    assert row[49] == EOW
    assert PAD not in row


def test_token_of_exactly_48_bytes_is_not_truncated():
    token = "x" * 48
    row = batch_to_ids([[token]])[0, 0].tolist()
    assert row == [BOW] + [ord("x") + 1] * 48 + [EOW]


def test_padding_tokens_are_zero_rows_and_shape():
    ids = batch_to_ids([["a", "bb", "ccc"], ["d"], ["e", "f"]])
    assert ids.shape == (3, 3, 50)
    assert ids.dtype == torch.long
    assert torch.all(ids[1, 1:] == 0)
    assert torch.all(ids[2, 2] == 0)
    # Real tokens never contain a zero.
    assert torch.all(ids[0] > 0)
    assert torch.all(ids[1, 0] > 0)
    assert torch.all(ids[2, :2] > 0)
    assert ids[1, 0].tolist() == expected_row([ord("d")])


def test_same_token_same_ids_across_rows():
    ids = batch_to_ids([["x", "word"], ["word"]])
    assert torch.equal(ids[0, 1], ids[1, 0])


def test_empty_batch_raises():
    with pytest.raises(ValueError, match="non-empty list"):
        batch_to_ids([])


def test_empty_sentence_raises_naming_it():
    with pytest.raises(ValueError, match=r"sentence 1 is empty"):
        batch_to_ids([["ok"], []])


def test_sentence_as_plain_string_raises():
    with pytest.raises(ValueError, match=r"sentence 0 is a string"):
        batch_to_ids(["hello world"])


def test_batch_as_plain_string_raises():
    with pytest.raises(ValueError):
        batch_to_ids("hello world")


def test_empty_token_raises():
    with pytest.raises(ValueError, match=r"sentence 0, token 1"):
        batch_to_ids([["a", "", "b"]])


@pytest.mark.parametrize("collide", [False, True], ids=["distinct keys", "every key colliding"])
def test_unique_rows_finds_each_distinct_row_once(collide, monkeypatch):
    from elmo_tasks.elmo import characters
    from elmo_tasks.elmo.characters import unique_rows

    if collide:  # all-zero weights key every row alike: the exact fallback must answer
        monkeypatch.setattr(characters, "_ROW_KEY_WEIGHTS", torch.zeros(256, dtype=torch.long))
    generator = torch.Generator().manual_seed(1)
    char_ids = torch.randint(1, 6, (300, 50), generator=generator)
    char_ids[:, 3:] = 261
    rows, inverse = unique_rows(char_ids)
    assert torch.equal(rows[inverse], char_ids)
    assert (
        len(rows)
        == len(torch.unique(char_ids, dim=0))
        == len({tuple(r) for r in char_ids.tolist()})
    )
