"""Exactness against AllenNLP's ELMo test fixture (expected outputs computed by the reference)."""

from __future__ import annotations

import h5py
import numpy
import pytest
import torch

from elmo_tasks.elmo import ElmoBiLm, batch_to_ids, remove_sentence_boundaries


@pytest.fixture(scope="module")
def expected_top_layers(elmo_fixture_dir) -> list[numpy.ndarray]:
    """Per sentence i of list 0: the (n_tokens, 32) top layer, forward | backward."""
    with h5py.File(elmo_fixture_dir / "lm_embeddings_0.hdf5", "r") as handle:
        assert sorted(handle.keys(), key=int) == [str(i) for i in range(10)]
        expected = []
        for i in range(10):
            both = handle[str(i)][...]
            assert both.shape[0] == 2 and both.shape[2] == 16
            expected.append(numpy.concatenate([both[0], both[1]], axis=-1))
    return expected


def top_layer_of_batch(model: ElmoBiLm, fixture_sentences, i: int):
    batch = [fixture_sentences[k][i].split() for k in range(3)]
    output = model(batch_to_ids(batch))
    top, mask = remove_sentence_boundaries(output["activations"][2], output["mask"])
    return batch, top.detach().numpy(), mask


def test_stateful_bilm_matches_reference_for_every_batch(
    fixture_options_file, fixture_weight_file, fixture_sentences, expected_top_layers
):
    model = ElmoBiLm(fixture_options_file, fixture_weight_file, stateful=True)
    for i in range(10):
        batch, top, mask = top_layer_of_batch(model, fixture_sentences, i)
        assert top.shape[0] == 3 and top.shape[2] == 32
        assert mask.sum(dim=1).tolist() == [len(s) for s in batch]
        n = len(batch[0])
        assert expected_top_layers[i].shape == (n, 32)
        assert numpy.allclose(top[0, :n], expected_top_layers[i], atol=1e-6), f"batch {i}"

    # After a reset, batch 0 matches again.
    model.reset_states()
    _, top, _ = top_layer_of_batch(model, fixture_sentences, 0)
    assert numpy.allclose(
        top[0, : expected_top_layers[0].shape[0]], expected_top_layers[0], atol=1e-6
    )


def test_stateless_matches_only_the_first_batch(
    fixture_options_file, fixture_weight_file, fixture_sentences, expected_top_layers
):
    """The expected values of batches 1..9 depend on the state carried from earlier batches."""
    model = ElmoBiLm(fixture_options_file, fixture_weight_file)
    assert not model.stateful
    for i in range(10):
        batch, top, _ = top_layer_of_batch(model, fixture_sentences, i)
        n = len(batch[0])
        difference = numpy.abs(top[0, :n] - expected_top_layers[i]).max()
        if i == 0:
            assert numpy.allclose(top[0, :n], expected_top_layers[0], atol=1e-6)
        else:
            assert difference > 0.1, f"batch {i} should differ without carried state"


@pytest.fixture(scope="module")
def vocab_and_embeddings(elmo_fixture_dir):
    text = (elmo_fixture_dir / "vocab_test.txt").read_text(encoding="utf-8")
    assert not text.endswith("\n")
    words = text.split("\n")
    with h5py.File(elmo_fixture_dir / "elmo_token_embeddings.hdf5", "r") as handle:
        embeddings = handle["embedding"][...]
    return words, embeddings


def test_char_encoder_matches_reference_token_embeddings(
    fixture_options_file, fixture_weight_file, vocab_and_embeddings
):
    words, embeddings = vocab_and_embeddings
    assert len(words) == 458
    assert embeddings.shape == (458, 16)
    model = ElmoBiLm(fixture_options_file, fixture_weight_file)
    with torch.no_grad():
        vectors = model.bilm.encode_tokens(batch_to_ids([[w] for w in words])[:, 0])
    assert vectors.shape == (458, 16)
    numpy.testing.assert_allclose(vectors.numpy(), embeddings, rtol=0, atol=1e-6)


def test_token_layer_of_full_forward_matches_reference_embeddings(
    fixture_options_file, fixture_weight_file, vocab_and_embeddings
):
    words, embeddings = vocab_and_embeddings
    model = ElmoBiLm(fixture_options_file, fixture_weight_file)
    output = model(batch_to_ids([[w] for w in words]))
    layer0, mask = remove_sentence_boundaries(output["activations"][0], output["mask"])
    assert layer0.shape == (458, 1, 32)
    assert mask.all()
    numpy.testing.assert_allclose(layer0[:, 0, :16].numpy(), embeddings, rtol=0, atol=1e-6)
    numpy.testing.assert_allclose(layer0[:, 0, 16:].numpy(), embeddings, rtol=0, atol=1e-6)
