"""The ELMo API as AllenNLP and Flair users type it: ``word_inputs=``, ``embed_sentences`` from
the package, ``ElmoEmbedder`` (deterministic, the exact biLM layers) and the hdf5 layout of
``allennlp elmo`` read back the way its users read it."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy
import pytest
import torch

from elmo_tasks.elmo import Elmo, ElmoBiLm, ElmoInputError, batch_to_ids
from tests.conftest import PROJECT_ROOT

SENTENCES = [["I", "saw", "a", "film", "."], ["Great", "!"], ["a", "film", "."]]


def test_package_exports_what_allennlp_users_import():
    import elmo_tasks
    from elmo_tasks import ElmoEmbedder, embed_sentences  # noqa: F401

    assert {"ElmoEmbedder", "embed_sentences"} <= set(elmo_tasks.__all__)


def test_word_inputs_is_allennlps_name_for_word_ids(tiny_elmo_files):
    words = ["I", "saw", "film"]
    elmo = Elmo(
        tiny_elmo_files.options_file,
        tiny_elmo_files.weight_file,
        1,
        dropout=0.0,
        vocab_to_cache=words,
    )
    char_ids = batch_to_ids(SENTENCES[:1])
    word_ids = elmo.bilm.word_ids_for(SENTENCES[:1])
    assert (word_ids >= 0).any() and (word_ids < 0).any()  # cached and uncached words
    by_ids = elmo(char_ids, word_ids=word_ids)["elmo_representations"][0]
    by_inputs = elmo(char_ids, word_inputs=word_ids)["elmo_representations"][0]
    assert torch.equal(by_ids, by_inputs)
    bilm_out = elmo.bilm(char_ids, word_inputs=word_ids)["activations"]
    assert all(
        torch.equal(a, b) for a, b in zip(bilm_out, elmo.bilm(char_ids, word_ids)["activations"])
    )
    with pytest.raises(ElmoInputError, match="not both"):
        elmo(char_ids, word_ids=word_ids, word_inputs=word_ids)


def test_embedder_gives_the_bilm_layers_and_the_module_in_eval_mode(tiny_elmo_files):
    from elmo_tasks import ElmoEmbedder

    embedder = ElmoEmbedder(tiny_elmo_files.options_file, tiny_elmo_files.weight_file)
    layers = embedder.embed_sentences([" ".join(SENTENCES[0]), SENTENCES[1], SENTENCES[2]])
    bilm = ElmoBiLm(tiny_elmo_files.options_file, tiny_elmo_files.weight_file)
    full = bilm(batch_to_ids(SENTENCES))["activations"]
    dim = bilm.get_output_dim()
    for i, sentence in enumerate(SENTENCES):
        n = len(sentence)
        assert layers[i].shape == (3, n, dim) and layers[i].dtype == numpy.float32
        expected = torch.stack([layer[i, 1 : n + 1] for layer in full]).detach().numpy()
        numpy.testing.assert_allclose(layers[i], expected, atol=1e-6)

    # The default module (dropout 0.5) differs from call to call in training mode, as
    # AllenNLP's; in eval mode it is the mean of the three layers (initial scalar mix).
    elmo = Elmo(tiny_elmo_files.options_file, tiny_elmo_files.weight_file, 1)
    char_ids = batch_to_ids(SENTENCES)
    first, second = (elmo(char_ids)["elmo_representations"][0] for _ in range(2))
    assert not torch.equal(first, second)
    mixed = elmo.eval()(char_ids)["elmo_representations"][0]
    for i, sentence in enumerate(SENTENCES):
        numpy.testing.assert_allclose(
            mixed[i, : len(sentence)].detach().numpy(), layers[i].mean(axis=0), atol=1e-5
        )

    # The helper is deterministic, however it was left: no dropout, no state.
    once, again = (embedder.embed_sentence(SENTENCES[0]) for _ in range(2))
    assert numpy.array_equal(once, again)
    numpy.testing.assert_allclose(once, layers[0], atol=1e-6)  # alone as in a batch
    assert numpy.array_equal(embedder.embed_sentences(SENTENCES)[1], layers[1])
    assert embedder.embed_sentence("").shape == (3, 0, dim)
    with pytest.raises(TypeError, match="embed_sentence"):
        embedder.embed_sentences("Hello world .")
    with pytest.raises(ValueError, match="weight_file is needed"):
        ElmoEmbedder(tiny_elmo_files.options_file)


def test_embedder_of_the_packaged_mini_by_name():
    from elmo_tasks import ElmoEmbedder

    vectors = ElmoEmbedder("mini").embed_sentence("Hello world .")
    assert vectors.shape == (3, 3, 128)


def test_embedder_matches_the_reference_outputs(
    fixture_options_file, fixture_weight_file, fixture_sentences, elmo_fixture_dir
):
    """AllenNLP's fixture: the top layer of the first sentence (no carried state) equals the
    reference's, forward | backward."""
    from elmo_tasks import ElmoEmbedder

    with h5py.File(elmo_fixture_dir / "lm_embeddings_0.hdf5", "r") as handle:
        both = handle["0"][...]
    expected = numpy.concatenate([both[0], both[1]], axis=-1)
    layers = ElmoEmbedder(fixture_options_file, fixture_weight_file).embed_sentence(
        fixture_sentences[0][0]
    )
    assert layers.shape == (3, expected.shape[0], 32)
    numpy.testing.assert_allclose(layers[2], expected, atol=1e-6)


LINES = [" ".join(s) for s in SENTENCES] + [" ".join(SENTENCES[0])]  # a repeated line


def _check_allennlp_file(path, lines, layers, embedder):
    """Read ``path`` as AllenNLP's users do: datasets keyed by line index, sentence_to_index."""
    expected = embedder.embed_sentences(lines)
    with h5py.File(path, "r") as handle:
        assert sorted(handle.keys()) == ["0", "1", "2", "3", "sentence_to_index"]
        sentence_to_index = json.loads(handle["sentence_to_index"][0])
        assert sentence_to_index == {lines[0]: "3", lines[1]: "1", lines[2]: "2"}
        for i in range(len(lines)):
            stored = handle[str(i)][...]
            assert stored.dtype == numpy.float32
            want = {
                "all": expected[i],
                "top": expected[i][-1],
                "average": numpy.average(expected[i], axis=0),
            }[layers]
            assert stored.shape == want.shape
            numpy.testing.assert_allclose(stored, want, atol=1e-6)
        assert numpy.array_equal(handle[sentence_to_index[lines[1]]][...], handle["1"][...])


@pytest.mark.parametrize("layers", ["all", "top", "average"])
def test_embed_file_writes_the_layout_of_allennlp_elmo(tmp_path, tiny_elmo_files, layers):
    from elmo_tasks import ElmoEmbedder

    embedder = ElmoEmbedder(tiny_elmo_files.options_file, tiny_elmo_files.weight_file)
    path = embedder.embed_file(LINES, tmp_path / "elmo.hdf5", layers)
    _check_allennlp_file(path, LINES, layers, embedder)


def test_embed_command_writes_the_layout_of_allennlp_elmo(tmp_path, tiny_elmo_files):
    """``elmo-tasks embed format=allennlp layers=average`` = ``allennlp elmo --average``."""
    from elmo_tasks import ElmoEmbedder

    text = tmp_path / "sentences.txt"
    text.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    output = tmp_path / "elmo.hdf5"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "elmo_tasks",
            "embed",
            f"options={tiny_elmo_files.options_file}",
            f"weights={tiny_elmo_files.weight_file}",
            f"input={text}",
            f"output={output}",
            "format=allennlp",
            "layers=average",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    embedder = ElmoEmbedder(tiny_elmo_files.options_file, tiny_elmo_files.weight_file)
    _check_allennlp_file(output, LINES, "average", embedder)
    assert (tmp_path / "elmo.hdf5.sha256").is_file()


def test_forget_sentences_leaves_out_the_index(tmp_path, tiny_elmo_files):
    from elmo_tasks import ElmoEmbedder

    embedder = ElmoEmbedder(tiny_elmo_files.options_file, tiny_elmo_files.weight_file)
    path = embedder.embed_file(["a film .", "Great !"], tmp_path / "out.hdf5", "top", True)
    with h5py.File(path, "r") as handle:
        assert sorted(handle.keys()) == ["0", "1"] and handle["1"].shape == (2, 8)
