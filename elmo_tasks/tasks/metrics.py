"""Entity-level NER scores with the CoNLL ``conlleval`` span rules, computed by seqeval.

Published CoNLL-2003 numbers come from ``conlleval``; scores are only comparable if entities
are read exactly as it reads them, including ill-formed sequences a model may emit. seqeval's
default (non-strict) mode is a line-by-line port of conlleval's ``startOfChunk`` /
``endOfChunk`` (the treatment of IOB1 ``I-`` starts, ``I-`` after ``O``, type changes and
``E-``/``S-`` tags), and it counts sentences as conlleval's blank-line boundary does, so the
scores here are seqeval's, with their inputs checked first and a plain dict out.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from seqeval.metrics import accuracy_score
from seqeval.metrics.sequence_labeling import (
    get_entities,
    precision_recall_fscore_support,
)


def _validate(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> None:
    """Raise ValueError unless gold and pred have the same sentences and sentence lengths."""
    for name, corpus in (("gold", gold), ("pred", pred)):
        if isinstance(corpus, str) or (len(corpus) and isinstance(corpus[0], str)):
            raise ValueError(
                f"{name} must be a list of sentences (lists of tags), not a flat list of tags"
            )
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} sentences but pred has {len(pred)}")
    for i, (g, p) in enumerate(zip(gold, pred)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: gold has {len(g)} tags but pred has {len(p)}")
        for name, sentence in (("gold", g), ("pred", p)):
            for j, tag in enumerate(sentence):
                if not isinstance(tag, str):
                    raise ValueError(
                        f"sentence {i}, position {j}: {name} tag {tag!r} is not a string"
                    )


def _types(corpus: list[list[str]]) -> set[str]:
    return {type_ for type_, _, _ in get_entities(corpus)}


def conll_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Micro precision/recall/F1 over entities, per-type scores and token accuracy.

    Returns ``{"precision", "recall", "f1", "per_type": {type: {"precision", "recall", "f1",
    "support"}}, "token_accuracy"}``. Scores are floats in [0, 1]; a ratio with nothing to count
    (no predicted or no gold entities) is 0.0. ``per_type`` covers every type seen in gold or
    pred; ``support`` is the number of gold entities of that type. An entity is correct when
    its type, start and end all match, as in conlleval and seqeval's default (non-strict) mode.
    """
    _validate(gold, pred)
    if not gold:  # seqeval refuses an empty corpus: nothing to count
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "per_type": {}, "token_accuracy": 0.0}
    # seqeval joins sentences with an "O" between them only when they are lists.
    gold, pred = [list(sentence) for sentence in gold], [list(sentence) for sentence in pred]
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # "seems not to be NE tag" for O-less corpora is not ours to print
        precision, recall, f1, _ = precision_recall_fscore_support(
            gold, pred, average="micro", zero_division=0
        )
        by_type = precision_recall_fscore_support(gold, pred, average=None, zero_division=0)
    types = sorted(_types(gold) | _types(pred))  # seqeval's order of the per-type arrays
    per_type: dict[str, dict[str, float | int]] = {
        type_: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(n)}
        for type_, p, r, f, n in zip(types, *by_type)
    }
    n_tokens = sum(len(sentence) for sentence in gold)
    return {
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "per_type": per_type,
        "token_accuracy": float(accuracy_score(gold, pred)) if n_tokens else 0.0,
    }
