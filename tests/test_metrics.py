"""conll_scores: hand-computed cases and agreement with seqeval's default (conlleval) mode."""

from __future__ import annotations

import random
import warnings

import pytest
from seqeval.metrics import (
    accuracy_score,
    classification_report,
    f1_score,
    precision_score,
    recall_score,
)

from elmo_tasks.tasks.metrics import conll_scores


def _approx(result: dict, precision: float, recall: float, f1: float) -> None:
    assert result["precision"] == pytest.approx(precision)
    assert result["recall"] == pytest.approx(recall)
    assert result["f1"] == pytest.approx(f1)


def test_perfect_bio() -> None:
    tags = [["B-PER", "I-PER", "O", "B-LOC"], ["O"]]
    result = conll_scores(tags, tags)
    _approx(result, 1.0, 1.0, 1.0)
    assert result["token_accuracy"] == 1.0
    assert result["per_type"] == {
        "LOC": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
        "PER": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
    }


def test_iob1_starts_are_entities() -> None:
    gold = [["I-PER", "I-PER", "O", "I-LOC"]]
    pred = [["B-PER", "I-PER", "O", "B-LOC"]]  # same spans, different tags
    result = conll_scores(gold, pred)
    _approx(result, 1.0, 1.0, 1.0)
    assert result["token_accuracy"] == pytest.approx(2 / 4)


def test_adjacent_entities_of_the_same_type() -> None:
    gold = [["B-PER", "I-PER", "B-PER"]]  # PER[0..1], PER[2]
    # One merged entity PER[0..2] matches neither gold entity.
    _approx(conll_scores(gold, [["B-PER", "I-PER", "I-PER"]]), 0.0, 0.0, 0.0)
    # Three single-token entities: only PER[2] is right. P = 1/3, R = 1/2, F = 0.4.
    result = conll_scores(gold, [["B-PER", "B-PER", "B-PER"]])
    _approx(result, 1 / 3, 1 / 2, 0.4)
    assert result["per_type"]["PER"]["support"] == 2


def test_entities_at_sentence_end_and_no_crossing() -> None:
    gold = [["O", "B-LOC"], ["B-ORG", "I-ORG"]]
    pred = [["O", "B-LOC"], ["B-ORG", "O"]]
    result = conll_scores(gold, pred)
    _approx(result, 0.5, 0.5, 0.5)
    assert result["per_type"]["LOC"]["f1"] == 1.0
    assert result["per_type"]["ORG"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    # An I- opening a sentence never continues the previous sentence's entity.
    split = [["O", "B-PER"], ["I-PER", "O"]]
    _approx(conll_scores(split, split), 1.0, 1.0, 1.0)
    _approx(conll_scores(split, [["O", "B-PER"], ["O", "O"]]), 1.0, 0.5, 2 / 3)


def test_type_missing_from_predictions() -> None:
    result = conll_scores([["B-PER", "O", "B-LOC"]], [["B-PER", "O", "O"]])
    _approx(result, 1.0, 0.5, 2 / 3)
    assert result["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    # A type that only the predictions have is reported with support 0.
    result = conll_scores([["O", "O"]], [["B-MISC", "O"]])
    assert result["per_type"] == {
        "MISC": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    }
    _approx(result, 0.0, 0.0, 0.0)


def test_all_o_predictions() -> None:
    result = conll_scores([["B-PER", "O"], ["B-LOC"]], [["O", "O"], ["O"]])
    _approx(result, 0.0, 0.0, 0.0)
    assert result["token_accuracy"] == pytest.approx(1 / 3)
    assert result["per_type"]["PER"]["recall"] == 0.0


def test_no_entities_anywhere() -> None:
    result = conll_scores([["O", "O"]], [["O", "O"]])
    assert (result["precision"], result["recall"], result["f1"]) == (0.0, 0.0, 0.0)
    assert result["per_type"] == {}
    assert result["token_accuracy"] == 1.0
    empty = conll_scores([], [])
    assert (empty["f1"], empty["token_accuracy"]) == (0.0, 0.0)


def test_bioes_and_ill_formed_tags_read_as_conlleval() -> None:
    _approx(
        conll_scores([["B-PER", "E-PER", "S-LOC"]], [["B-PER", "I-PER", "B-LOC"]]), 1.0, 1.0, 1.0
    )
    # O E-PER I-PER: E- after O opens and closes PER[1]; I- after E- opens PER[2].
    gold = [["O", "E-PER", "I-PER"]]
    _approx(conll_scores(gold, [["O", "B-PER", "B-PER"]]), 1.0, 1.0, 1.0)
    _approx(conll_scores(gold, [["O", "B-PER", "I-PER"]]), 0.0, 0.0, 0.0)
    # A type change inside a chunk splits it.
    _approx(conll_scores([["B-PER", "I-LOC"]], [["B-PER", "B-LOC"]]), 1.0, 1.0, 1.0)


def test_inputs_are_validated() -> None:
    with pytest.raises(ValueError, match="gold has 2 sentences but pred has 1"):
        conll_scores([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match="sentence 1: gold has 2 tags but pred has 1"):
        conll_scores([["O"], ["O", "O"]], [["O"], ["O"]])
    with pytest.raises(ValueError, match="flat list"):
        conll_scores(["O", "B-PER"], ["O", "B-PER"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="sentence 0, position 1: pred tag None"):
        conll_scores([["O", "O"]], [["O", None]])  # type: ignore[list-item]


TAGS = ["O", "O", "O"] + [f"{p}-{t}" for t in ("PER", "LOC", "ORG") for p in "BIES"]


def _random_case(rng: random.Random) -> tuple[list[list[str]], list[list[str]]]:
    gold, pred = [], []
    for _ in range(rng.randint(1, 5)):
        sentence = [rng.choice(TAGS) for _ in range(rng.randint(0, 8))]
        # Predictions mostly copy gold so that many entities match.
        guess = [tag if rng.random() < 0.7 else rng.choice(TAGS) for tag in sentence]
        gold.append(sentence)
        pred.append(guess)
    return gold, pred


def test_agrees_with_seqeval_on_random_sequences() -> None:
    rng = random.Random(2003)
    for _ in range(200):
        gold, pred = _random_case(rng)
        result = conll_scores(gold, pred)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # seqeval warns on 0/0 and then returns 0
            assert result["precision"] == pytest.approx(precision_score(gold, pred))
            assert result["recall"] == pytest.approx(recall_score(gold, pred))
            assert result["f1"] == pytest.approx(f1_score(gold, pred))
            if any(gold):
                assert result["token_accuracy"] == pytest.approx(accuracy_score(gold, pred))
            report = classification_report(gold, pred, output_dict=True)
        types = {k: v for k, v in report.items() if not k.endswith(" avg")}
        assert sorted(types) == sorted(result["per_type"])
        for type_, expected in types.items():
            got = result["per_type"][type_]
            assert got["precision"] == pytest.approx(expected["precision"])
            assert got["recall"] == pytest.approx(expected["recall"])
            assert got["f1"] == pytest.approx(expected["f1-score"])
            assert got["support"] == expected["support"]
