"""Every encoder that holds a frozen biLM reads the activation cache: ELMo alone, ELMo beside
word embeddings (the paper's "+ELMo", ``ConcatEncoder``) and ELMo at the task RNN's output.
Cached runs give the metrics of uncached ones exactly, and one cache serves all three."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from elmo_tasks.elmo.random_weights import write_random_elmo
from elmo_tasks.encoders import ConcatEncoder, ElmoEncoder, TokenEncoder, WordEmbeddingEncoder
from elmo_tasks.encoders import elmo_cache as cache_module
from elmo_tasks.encoders.elmo_cache import bilm_checksums, cache_path
from elmo_tasks.runs.experiment import run
from tests.compose import compose_config
from tests.conftest import tiny_options
from tests.tiny_runs import QUIET, write_classification

SENTENCES = {"train": [["a", "good", "film"], ["a", "bad", "one"]], "test": [["so", "good"]]}


def _builds(monkeypatch) -> list[str]:
    """The cache files built from now on (by name), counted at ``write_activations``."""
    built: list[str] = []
    original = cache_module.write_activations

    def counting(bilm, sentences, path, *args, **kwargs):
        built.append(Path(path).name)
        return original(bilm, sentences, path, *args, **kwargs)

    monkeypatch.setattr(cache_module, "write_activations", counting)
    return built


@pytest.fixture()
def weights(tmp_path: Path) -> tuple[Path, Path]:
    return write_random_elmo(tmp_path / "biLM", tiny_options(), seed=0)


def _elmo(weights, cache_dir, **kwargs):
    def make(vocabulary=None):
        return ElmoEncoder(
            *weights, dropout=0.0, cache_dir=cache_dir, vocabulary=vocabulary, **kwargs
        )

    return make


def _words(vocabulary=None):
    return WordEmbeddingEncoder(dim=4, vocabulary=vocabulary)


def test_a_composition_asks_its_encoders_for_the_sentences(weights, tmp_path, monkeypatch):
    built = _builds(monkeypatch)
    vocabulary = ["a", "good", "film", "bad", "one", "so"]
    frozen = ConcatEncoder(
        {"words": _words, "elmo": _elmo(weights, str(tmp_path / "c"))}, vocabulary
    )
    assert frozen.wants_sentences and frozen.inner_encoders() == list(frozen.encoders)
    frozen.prepare_cache(SENTENCES)
    assert len(built) == 2 and len(frozen.encoders[1].caches) == 2  # one file per split

    # The forward reads the cache: a biLM that cannot run gives the same vectors.
    frozen.eval()
    expected, mask = frozen([["a", "good", "film"], ["so", "good"]])
    bilm = frozen.encoders[1].elmo.bilm
    monkeypatch.setattr(bilm, "forward", lambda *a, **k: pytest.fail("the biLM ran"))
    again, again_mask = frozen([["a", "good", "film"], ["so", "good"]])
    assert torch.equal(again, expected) and torch.equal(again_mask, mask)

    # Nested compositions, and plain encoders that have nothing to cache.
    nested = ConcatEncoder({"inner": lambda vocabulary=None: frozen, "words": _words}, vocabulary)
    assert nested.wants_sentences and not _words(vocabulary).wants_sentences
    tuned = ConcatEncoder(
        {"words": _words, "elmo": _elmo(weights, str(tmp_path / "c"), requires_grad=True)},
        vocabulary,
    )
    assert not tuned.wants_sentences  # a fine-tuned biLM keeps computing
    assert not ConcatEncoder({"elmo": _elmo(weights, None)}, vocabulary).wants_sentences
    assert isinstance(frozen, TokenEncoder)


def test_the_key_is_what_changes_the_activations_not_the_encoder(weights, tmp_path):
    """Weights, options, tokens, stored dtype and layers name the file; the encoder using it
    (ELMo alone, beside word embeddings, at the output) does not."""
    from elmo_tasks.elmo import ElmoBiLm

    bilm = ElmoBiLm(*weights)
    manifest = bilm_checksums(bilm)
    sentences = SENTENCES["train"]
    path = cache_path(tmp_path, manifest, sentences, "all", "float32")
    assert cache_path(tmp_path, manifest, list(reversed(sentences)), "all", "float32") == path
    other_options = {**manifest, "options_sha256": "0" * 64}
    other_weights = {**manifest, "weights_sha256": "0" * 64}
    changed = [
        cache_path(tmp_path, other_options, sentences, "all", "float32"),
        cache_path(tmp_path, other_weights, sentences, "all", "float32"),
        cache_path(
            tmp_path, manifest, [["A", "good", "film"], ["a", "bad", "one"]], "all", "float32"
        ),
        cache_path(tmp_path, manifest, sentences[:1], "all", "float32"),
        cache_path(tmp_path, manifest, sentences, "all", "float16"),
        cache_path(tmp_path, manifest, sentences, "top", "float32"),
    ]
    assert len({path, *changed}) == len(changed) + 1


def _overrides(files: dict[str, Path], weights, cache_dir: str, encoder: str) -> list[str]:
    options_file, weight_file = weights
    common = [
        "experiment=none",
        "task=text_classification",
        f"task.train_file={files['train']}",
        f"task.validation_file={files['dev']}",
        f"task.test_file={files['dev']}",
        "trainer.max_epochs=2",
        "optim.optimizer.lr=0.02",
        "head=max",
        "head.contextualizer=bilstm",
        "head.contextualizer_dim=8",
        "seed=3",
        *QUIET,
    ]
    if encoder == "elmo":
        elmo = "encoder"
        parts = ["encoder=elmo"]
    else:
        elmo = "encoder.encoders.elmo"
        parts = ["encoder=concat", "encoder.encoders.words.dim=8"]
        if encoder == "elmo_at_output":
            parts.append(f"{elmo}.at_output=true")
    return [
        *common,
        *parts,
        f"{elmo}.options_file={options_file}",
        f"{elmo}.weight_file={weight_file}",
        f"{elmo}.cache_dir={cache_dir}",
        f"{elmo}.dropout=0.5",  # draws random masks: cached and uncached runs must draw the same
    ]


def _train(root: Path, name: str, overrides: list[str]) -> dict:
    run(compose_config(root / name, overrides))
    return json.loads((root / name / "results.json").read_text())


@pytest.mark.parametrize("encoder", ["baseline_elmo", "elmo_at_output"])
def test_cached_runs_give_the_metrics_of_uncached_ones(encoder, weights, tmp_path, monkeypatch):
    files = write_classification(tmp_path / "data", count=48)
    built = _builds(monkeypatch)
    direct = _train(tmp_path, "direct", _overrides(files, weights, "null", encoder))
    assert not built
    cached = _train(tmp_path, "cached", _overrides(files, weights, str(tmp_path / "c"), encoder))
    assert len(built) == 2  # train and validation (= test) files: one build each
    assert cached["encoder"] == "ConcatEncoder"
    assert cached["test"] and cached["test"] == direct["test"]
    assert cached["val"] == direct["val"]


def test_one_cache_serves_elmo_baseline_elmo_and_at_output(weights, tmp_path, monkeypatch):
    files = write_classification(tmp_path / "data", count=48)
    cache_dir = tmp_path / "shared_cache"
    built = _builds(monkeypatch)
    _train(tmp_path, "elmo", _overrides(files, weights, str(cache_dir), "elmo"))
    files_after_first = sorted(p.name for p in cache_dir.glob("*.h5"))
    assert len(built) == 2 and len(files_after_first) == 2
    for encoder in ("baseline_elmo", "elmo_at_output"):
        _train(tmp_path, encoder, _overrides(files, weights, str(cache_dir), encoder))
    assert len(built) == 2, "the second and third runs built nothing"
    assert sorted(p.name for p in cache_dir.glob("*.h5")) == files_after_first
