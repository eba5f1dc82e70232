"""Entity-level NER scores with the CoNLL ``conlleval`` span rules.

Published CoNLL-2003 numbers come from ``conlleval``; scores are only comparable if entities
are read exactly as it reads them, including ill-formed sequences a model may emit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from seqeval.metrics.sequence_labeling import get_entities


def _ratio(numerator: int, denominator: int) -> float:
    """``numerator / denominator``, with 0.0 (not NaN) when nothing was counted."""
    return numerator / denominator if denominator else 0.0


def _prf(correct: int, predicted: int, gold: int) -> tuple[float, float, float]:
    precision = _ratio(correct, predicted)
    recall = _ratio(correct, gold)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _validate(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> None:
    """Raise ValueError unless gold and pred have the same sentences and sentence lengths."""
    for name, corpus in (("gold", gold), ("pred", pred)):
        if isinstance(corpus, str) or (len(corpus) and isinstance(corpus[0], str)):
            raise ValueError(f"{name} must be a list of sentences (lists of tags), not a flat list of tags")
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} sentences but pred has {len(pred)}")
    for i, (g, p) in enumerate(zip(gold, pred)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: gold has {len(g)} tags but pred has {len(p)}")
        for name, sentence in (("gold", g), ("pred", p)):
            for j, tag in enumerate(sentence):
                if not isinstance(tag, str):
                    raise ValueError(f"sentence {i}, position {j}: {name} tag {tag!r} is not a string")


def _entities(corpus: Sequence[Sequence[str]]) -> set[tuple[int, str, int, int]]:
    """All entities as ``(sentence, type, start, end_inclusive)``.

    Spans come from seqeval's ``get_entities``, a line-by-line port of conlleval's
    ``startOfChunk``/``endOfChunk``; reusing it (rather than writing another chunker) keeps the
    treatment of IOB1 ``I-`` starts, ``I-`` after ``O``, type changes and ``E-``/``S-`` tags
    identical to conlleval. Sentences are chunked one at a time, which is what conlleval's
    blank-line boundary (and seqeval's ``O`` separator between sentences) amounts to.
    """
    return {
        (i, type_, start, end)
        for i, sentence in enumerate(corpus)
        for type_, start, end in get_entities(list(sentence))
    }


def conll_scores(gold: list[list[str]], pred: list[list[str]]) -> dict[str, Any]:
    """Micro precision/recall/F1 over entities, per-type scores and token accuracy.

    Returns ``{"precision", "recall", "f1", "per_type": {type: {"precision", "recall", "f1",
    "support"}}, "token_accuracy"}``. Scores are floats in [0, 1]; a ratio with nothing to count
    (no predicted or no gold entities) is 0.0. ``per_type`` covers every type seen in gold or
    pred; ``support`` is the number of gold entities of that type. An entity is correct when
    its type, start and end all match, as in conlleval and seqeval's default (non-strict) mode.
    """
    _validate(gold, pred)
    gold_entities = _entities(gold)
    pred_entities = _entities(pred)
    correct_entities = gold_entities & pred_entities

    n_gold = Counter(type_ for _, type_, _, _ in gold_entities)
    n_pred = Counter(type_ for _, type_, _, _ in pred_entities)
    n_correct = Counter(type_ for _, type_, _, _ in correct_entities)

    per_type: dict[str, dict[str, float | int]] = {}
    for type_ in sorted(set(n_gold) | set(n_pred)):
        p, r, f = _prf(n_correct[type_], n_pred[type_], n_gold[type_])
        per_type[type_] = {"precision": p, "recall": r, "f1": f, "support": n_gold[type_]}

    precision, recall, f1 = _prf(len(correct_entities), len(pred_entities), len(gold_entities))
    n_tokens = sum(len(sentence) for sentence in gold)
    n_same = sum(g == p for gs, ps in zip(gold, pred) for g, p in zip(gs, ps))
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "per_type": per_type,
        "token_accuracy": _ratio(n_same, n_tokens),
    }
