"""Token-bounded batching: no batch over budget, order restored, vectors unchanged."""

from __future__ import annotations

import torch

from elmo_tasks.elmo import (
    Elmo,
    ElmoBiLm,
    batch_to_ids,
    batches_by_tokens,
    embed_sentences,
)


def test_batches_respect_the_budget_and_cover_every_sentence():
    lengths = [3, 40, 1, 7, 7, 12, 2, 90, 5]
    batches = batches_by_tokens(lengths, max_tokens=20)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        longest = max(lengths[i] for i in batch)
        assert len(batch) * longest <= 20 or len(batch) == 1
    assert [7] in batches and [1] in batches  # too long alone: own batch


def test_embed_sentences_matches_one_big_batch(tiny_elmo_files):
    sentences = [["a"] * n for n in (5, 1, 9, 3)] + [["hello", "world", "!"]]
    elmo = Elmo(tiny_elmo_files.options_file, tiny_elmo_files.weight_file, 1, dropout=0.0)
    pieces = embed_sentences(elmo, sentences, max_tokens=10)
    full = elmo(batch_to_ids(sentences))["elmo_representations"][0]
    for i, sentence in enumerate(sentences):
        assert pieces[i][0].shape == (len(sentence), elmo.get_output_dim())
        assert torch.allclose(pieces[i][0], full[i, : len(sentence)], atol=1e-6)
    bilm = ElmoBiLm(tiny_elmo_files.options_file, tiny_elmo_files.weight_file)
    layers = embed_sentences(bilm, sentences, max_tokens=6)
    assert layers[2].shape == (3, 11, bilm.get_output_dim())
