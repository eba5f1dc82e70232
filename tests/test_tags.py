"""Tag schemes: detection, conversions that round-trip, spans, and CRF constraints."""

from __future__ import annotations

import random

import pytest

from elmo_tasks.data.tags import (
    allowed_ends,
    allowed_starts,
    allowed_transitions,
    bio_spans,
    check_scheme,
    crf_constraints,
    detect_scheme,
    from_bio,
    to_bio,
    to_bioes,
)

# The same sentences in three schemes; includes adjacent same-type entities, a type change
# with no O between, single-token entities and entities at both sentence ends.
IOB1 = [
    ["I-PER", "I-PER", "B-PER", "O", "I-LOC"],
    ["I-ORG", "I-LOC", "I-LOC", "B-LOC", "O", "I-MISC"],
    ["O", "O", "O"],
    ["I-PER", "B-PER", "B-PER", "I-PER"],
]
BIO = [
    ["B-PER", "I-PER", "B-PER", "O", "B-LOC"],
    ["B-ORG", "B-LOC", "I-LOC", "B-LOC", "O", "B-MISC"],
    ["O", "O", "O"],
    ["B-PER", "B-PER", "B-PER", "I-PER"],
]
BIOES = [
    ["B-PER", "E-PER", "S-PER", "O", "S-LOC"],
    ["S-ORG", "B-LOC", "E-LOC", "S-LOC", "O", "S-MISC"],
    ["O", "O", "O"],
    ["S-PER", "S-PER", "B-PER", "E-PER"],
]
SPANS = [
    [("PER", 0, 2), ("PER", 2, 3), ("LOC", 4, 5)],
    [("ORG", 0, 1), ("LOC", 1, 3), ("LOC", 3, 4), ("MISC", 5, 6)],
    [],
    [("PER", 0, 1), ("PER", 1, 2), ("PER", 2, 4)],
]


def test_detect_scheme() -> None:
    assert detect_scheme(IOB1) == "IOB1"
    assert detect_scheme(BIO) == "BIO"
    assert detect_scheme(BIOES) == "BIOES"
    assert detect_scheme([["O", "O"], []]) == "BIO"
    assert detect_scheme([]) == "BIO"
    # I- right after B- of another type starts a chunk: IOB1.
    assert detect_scheme([["B-PER", "I-LOC"]]) == "IOB1"
    # I- continuing a chunk of its own type is BIO, even across many tokens.
    assert detect_scheme([["O", "B-PER", "I-PER", "I-PER"]]) == "BIO"
    # Any E-/S- tag makes it BIOES.
    assert detect_scheme([["B-PER", "I-PER"], ["S-LOC"]]) == "BIOES"


def test_detect_scheme_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="sentence 1, position 2"):
        detect_scheme([["O"], ["O", "B-PER", "PER"]])
    with pytest.raises(TypeError, match="list of tag sequences"):
        detect_scheme(["B-PER", "O"])  # type: ignore[list-item]


@pytest.mark.parametrize("i", range(len(BIO)))
def test_spans_agree_in_every_scheme(i: int) -> None:
    assert bio_spans(BIO[i]) == SPANS[i]
    assert bio_spans(IOB1[i]) == SPANS[i]
    assert bio_spans(BIOES[i]) == SPANS[i]


def test_spans_of_ill_formed_bio_follow_conlleval() -> None:
    # I- after O starts an entity; a type change inside a chunk starts another.
    assert bio_spans(["O", "I-PER", "I-LOC", "O"]) == [("PER", 1, 2), ("LOC", 2, 3)]
    assert bio_spans([]) == []


@pytest.mark.parametrize("i", range(len(BIO)))
def test_conversions(i: int) -> None:
    assert to_bio(IOB1[i], "IOB1") == BIO[i]
    assert to_bio(BIOES[i], "BIOES") == BIO[i]
    assert to_bio(BIO[i], "BIO") == BIO[i]
    assert to_bioes(BIO[i]) == BIOES[i]
    assert from_bio(BIO[i], "IOB1") == IOB1[i]
    assert from_bio(BIO[i], "BIOES") == BIOES[i]
    assert from_bio(BIO[i], "BIO") == BIO[i]


@pytest.mark.parametrize("i", range(len(BIO)))
def test_round_trips(i: int) -> None:
    assert from_bio(to_bio(IOB1[i], "IOB1"), "IOB1") == IOB1[i]
    assert to_bio(from_bio(BIO[i], "IOB1"), "IOB1") == BIO[i]
    assert to_bio(to_bioes(BIO[i]), "BIOES") == BIO[i]
    assert to_bioes(to_bio(BIOES[i], "BIOES")) == BIOES[i]
    # IOB1 -> BIO -> BIOES -> BIO -> IOB1
    assert from_bio(to_bio(to_bioes(to_bio(IOB1[i], "IOB1")), "BIOES"), "IOB1") == IOB1[i]


def _random_bio(rng: random.Random, length: int) -> list[str]:
    tags: list[str] = []
    for _ in range(length):
        prev = tags[-1] if tags else "O"
        choice = rng.choice(["O", "B", "I"] if prev != "O" else ["O", "B"])
        if choice == "I":
            tags.append("I-" + prev[2:])
        elif choice == "B":
            tags.append("B-" + rng.choice(["PER", "LOC"]))
        else:
            tags.append("O")
    return tags


def test_random_round_trips() -> None:
    rng = random.Random(0)
    for _ in range(300):
        bio = _random_bio(rng, rng.randint(0, 9))
        for scheme in ("IOB1", "BIO", "BIOES"):
            converted = from_bio(bio, scheme)
            assert bio_spans(converted) == bio_spans(bio)
            assert to_bio(converted, scheme) == bio
            assert detect_scheme([converted]) == (scheme if any(t != "O" for t in bio) else "BIO")


def test_to_bio_normalises_ill_formed_starts() -> None:
    assert to_bio(["O", "I-PER", "I-PER"], "BIO") == ["O", "B-PER", "I-PER"]


def test_wrong_scheme_tags_are_rejected() -> None:
    with pytest.raises(ValueError, match="position 1.*'S-PER'.*BIO"):
        to_bio(["O", "S-PER"], "BIO")
    with pytest.raises(ValueError, match="position 0"):
        to_bioes(["E-PER"])
    with pytest.raises(ValueError, match="position 2.*not an entity tag"):
        to_bioes(["O", "O", "B-"])
    with pytest.raises(ValueError, match="unknown tag scheme"):
        to_bio(["O"], "BILOU")
    assert check_scheme("iob2") == "BIO"


BIO_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def test_bio_transitions() -> None:
    allowed = set(allowed_transitions(BIO_LABELS, "BIO"))
    index = {label: i for i, label in enumerate(BIO_LABELS)}

    def ok(a: str, b: str) -> bool:
        return (index[a], index[b]) in allowed

    assert ok("O", "B-PER") and ok("B-PER", "I-PER") and ok("I-PER", "I-PER")
    assert ok("I-PER", "B-PER") and ok("I-PER", "O") and ok("B-LOC", "B-PER")
    assert not ok("O", "I-PER") and not ok("B-PER", "I-LOC") and not ok("I-LOC", "I-PER")
    # Everything into O or B- is allowed (5 * 3), I-X only from B-X/I-X (2 * 2).
    assert len(allowed) == 5 * 3 + 2 * 2
    assert allowed_starts(BIO_LABELS, "BIO") == [0, 1, 3]
    assert allowed_ends(BIO_LABELS, "BIO") == [0, 1, 2, 3, 4]


def test_iob1_transitions() -> None:
    labels = ["O", "I-PER", "B-PER", "I-LOC"]
    allowed = set(allowed_transitions(labels, "IOB1"))
    assert (0, 1) in allowed and (3, 1) in allowed  # I- may start a chunk anywhere
    assert (1, 2) in allowed and (2, 2) in allowed  # B-PER only after a PER chunk
    assert (0, 2) not in allowed and (3, 2) not in allowed
    assert allowed_starts(labels, "IOB1") == [0, 1, 3]


def test_bioes_transitions() -> None:
    labels = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "E-LOC"]
    allowed = set(allowed_transitions(labels, "BIOES"))
    expected = {
        (0, 0), (0, 1), (0, 4), (0, 5),
        (1, 2), (1, 3),
        (2, 2), (2, 3),
        (3, 0), (3, 1), (3, 4), (3, 5),
        (4, 0), (4, 1), (4, 4), (4, 5),
        (5, 6),
        (6, 0), (6, 1), (6, 4), (6, 5),
    }  # fmt: skip
    assert allowed == expected
    assert allowed_starts(labels, "BIOES") == [0, 1, 4, 5]
    assert allowed_ends(labels, "BIOES") == [0, 3, 4, 6]


def test_constraints_accept_every_well_formed_sequence() -> None:
    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    bioes_labels = ["O"] + [f"{p}-{t}" for t in ("PER", "LOC") for p in "BIES"]
    rng = random.Random(1)
    for scheme, label_list in (
        ("BIO", labels),
        ("IOB1", ["O", "I-PER", "B-PER", "I-LOC", "B-LOC"]),
        ("BIOES", bioes_labels),
    ):
        c = crf_constraints(label_list, scheme)
        pairs, starts, ends = (
            set(c["allowed_transitions"]),
            set(c["start_allowed"]),
            set(c["end_allowed"]),
        )
        index = {label: i for i, label in enumerate(label_list)}
        for _ in range(200):
            seq = [index[t] for t in from_bio(_random_bio(rng, rng.randint(1, 8)), scheme)]
            assert seq[0] in starts and seq[-1] in ends
            assert all((a, b) in pairs for a, b in zip(seq, seq[1:]))


def test_labels_are_validated() -> None:
    with pytest.raises(ValueError, match="repeats position 0"):
        allowed_transitions(["O", "O"], "BIO")
    with pytest.raises(ValueError, match="labels, position 1.*'<pad>'"):
        allowed_transitions(["O", "<pad>"], "BIO")
    with pytest.raises(ValueError, match="'S-PER' is not valid in the BIO scheme"):
        allowed_starts(["O", "S-PER"], "BIO")
