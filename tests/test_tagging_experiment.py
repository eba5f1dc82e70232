"""NER end to end: word-level alignment of vectors and tags, predictions files, a CoNLL-2003 run."""

from __future__ import annotations

import csv
import json
import random
from functools import partial
from pathlib import Path

import pytest
import torch

from elmo_tasks.data import TaggingDataModule
from elmo_tasks.data.conll import read_conll
from elmo_tasks.encoders import ElmoEncoder, TokenEncoder, WordEmbeddingEncoder
from elmo_tasks.heads import CrfTagger, SoftmaxTagger
from elmo_tasks.runs.experiment import run
from elmo_tasks.tasks import TaggingTask
from tests.compose import compose_config

# The tag is a function of the token alone, so a tagger without context reaches 100% only if
# vector i and tag i belong to the same token; random word order makes neighbours useless.
ENTITIES = {"paris": "LOC", "john": "PER", "acme": "ORG"}
OTHERS = ["the", "a", "runs", "blue", "of"]


def _iob1(tokens: list[str]) -> list[str]:
    """Every entity is one token; in IOB1 it starts with B- only right after an entity of its type."""
    tags, previous = [], ""
    for token in tokens:
        type_ = ENTITIES.get(token, "")
        tags.append("O" if not type_ else f"{'B' if type_ == previous else 'I'}-{type_}")
        previous = type_
    return tags


def _synthetic(path: Path, count: int, seed: int) -> Path:
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        tokens = [rng.choice(list(ENTITIES) * 2 + OTHERS) for _ in range(rng.randint(2, 9))]
        lines += [f"{token} {tag}" for token, tag in zip(tokens, _iob1(tokens))] + [""]
    path.write_text("\n".join(lines) + "\n")
    return path


def _fixture_elmo(directory: Path, vocabulary=None) -> ElmoEncoder:
    return ElmoEncoder(
        str(directory / "options.json"), str(directory / "lm_weights.hdf5"), dropout=0.0
    )


def _word_embedding(directory: Path, vocabulary=None) -> WordEmbeddingEncoder:
    return WordEmbeddingEncoder(vocabulary=vocabulary, dim=16)


ENCODERS = {"word_embedding": _word_embedding, "elmo_fixture": _fixture_elmo}


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_one_vector_per_token(name: str, elmo_fixture_dir: Path) -> None:
    encoder = ENCODERS[name](elmo_fixture_dir, ["john", "runs"])
    sentences = [["john", "runs"], ["a"], ["the", "blue", "acme", "of", "paris"]]
    vectors, mask = encoder(sentences)
    assert vectors.shape[:2] == mask.shape == (3, 5)
    assert mask.sum(dim=1).tolist() == [2, 1, 5]


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_token_determined_tags_are_learned_exactly_and_written_as_iob1(
    name: str, tmp_path: Path, elmo_fixture_dir: Path
) -> None:
    train, test = (
        _synthetic(tmp_path / "train.txt", 48, 0),
        _synthetic(tmp_path / "test.txt", 16, 1),
    )
    dm = TaggingDataModule("synthetic", str(train), str(test), str(test), batch_size=16)
    dm.setup()
    assert dm.input_scheme == "IOB1"
    torch.manual_seed(0)
    encoder = ENCODERS[name](elmo_fixture_dir, dm.vocabulary)
    head = partial(SoftmaxTagger, contextualizer=None, dropout=0.0)
    task = TaggingTask(encoder, head, partial(torch.optim.Adam, lr=0.05), **dm.module_kwargs())
    optimizer = task.configure_optimizers()
    for _ in range(25):
        for batch in dm.train_dataloader():
            optimizer.zero_grad()
            task.head.loss(*task.encode(batch["tokens"]), batch["tags"]).backward()
            optimizer.step()

    path = task.write_predictions(tmp_path, dm)
    written = read_conll(path, tag_column=1)
    predicted = read_conll(path, tag_column=2)
    gold = read_conll(test)
    assert [s.tokens for s in written] == [s.tokens for s in gold]
    assert [s.tags for s in written] == [s.tags for s in gold]
    pairs = [(g, p) for s, t in zip(gold, predicted) for g, p in zip(s.tags, t.tags)]
    accuracy = sum(g == p for g, p in pairs) / len(pairs)
    assert accuracy == 1.0, accuracy
    assert any(
        tag.startswith("B-") for s in predicted for tag in s.tags
    )  # IOB1, not BIO, on output


def test_crf_tagger_learns_the_same_task(tmp_path: Path) -> None:
    train = _synthetic(tmp_path / "train.txt", 48, 0)
    dm = TaggingDataModule("synthetic", str(train), str(train), batch_size=16, scheme="BIOES")
    dm.setup()
    torch.manual_seed(0)
    task = TaggingTask(
        _word_embedding(tmp_path, dm.vocabulary),
        partial(CrfTagger, dropout=0.0),
        partial(torch.optim.Adam, lr=0.05),
        **dm.module_kwargs(),
    )
    optimizer = task.configure_optimizers()
    for _ in range(15):
        for batch in dm.train_dataloader():
            optimizer.zero_grad()
            task.head.loss(*task.encode(batch["tokens"]), batch["tags"]).backward()
            optimizer.step()
    rows = dm.splits["validation"]
    predicted = task.eval().predict([row["tokens"] for row in rows])
    assert predicted == [[dm.labels[i] for i in row["tags"]] for row in rows]


def test_an_encoder_that_keeps_sentence_boundaries_is_rejected() -> None:
    class WithBoundaries(TokenEncoder):
        output_dim = 4

        def forward(self, tokens):
            mask = self.lengths_mask([["<S>", *t, "</S>"] for t in tokens], torch.device("cpu"))
            return torch.zeros(*mask.shape, 4), mask

    task = TaggingTask(
        WithBoundaries(), SoftmaxTagger, partial(torch.optim.Adam), labels=["O", "B-X", "I-X"]
    )
    with pytest.raises(RuntimeError, match="returned 4 positions for sentences of up to 2 tokens"):
        task.predict([["a", "b"]])


def test_token_classification_config_holds_out_validation(tmp_path: Path) -> None:
    train = _synthetic(tmp_path / "train.txt", 40, 0)
    cfg = compose_config(
        tmp_path / "run",
        [
            "experiment=none",
            "task=token_classification",
            f"task.train_file={train}",
            "encoder=word_embedding",
            "encoder.dim=8",
            "head=tagger_crf",
            "head.contextualizer_dim=8",
            "trainer.max_epochs=1",
            "callbacks.rich_progress_bar=null",
            "trainer.enable_progress_bar=false",
        ],
    )
    assert cfg.task.validation_file is None and cfg.task.test_file is None
    run(cfg)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert {"f1", "precision", "recall", "token_accuracy", "f1_LOC", "f1_ORG", "f1_PER"} <= set(
        results["val"]
    )
    assert results["test"] == {} and not (tmp_path / "run" / "predictions_test.conll").exists()


def _epoch_losses(metrics_csv: Path) -> list[float]:
    with metrics_csv.open() as handle:
        return [
            float(r["train/loss_epoch"])
            for r in csv.DictReader(handle)
            if r.get("train/loss_epoch")
        ]


@pytest.mark.parametrize(
    ("experiment", "elmo_key"),
    [
        ("conll2003_elmo", "encoder"),
        ("conll2003_baseline_elmo", "encoder.encoders.elmo"),
    ],
)
def test_conll2003_elmo_end_to_end(
    experiment, elmo_key, tmp_path: Path, data_dir: Path, elmo_fixture_dir: Path
) -> None:
    if not (data_dir / "conll2003").is_dir():
        pytest.skip(
            f"{data_dir / 'conll2003'} not found (set ELMO_TASKS_DATA to the shared data folder)"
        )
    cfg = compose_config(
        tmp_path,
        [
            f"experiment={experiment}",
            f"paths.data_dir={data_dir}",
            f"{elmo_key}.options_file={elmo_fixture_dir}/options.json",
            f"{elmo_key}.weight_file={elmo_fixture_dir}/lm_weights.hdf5",
            "task.max_train_samples=200",
            "task.max_eval_samples=50",
            "trainer.max_epochs=2",
            "callbacks.rich_progress_bar=null",
            "trainer.enable_progress_bar=false",
        ],
    )
    value = run(cfg)

    results = json.loads((tmp_path / "results.json").read_text())
    assert (
        results["task"] == "conll2003"
        and results["head"] == "CrfTagger"
        and results["main_metric"] == "f1"
    )
    assert value == pytest.approx(results["val"]["f1"])
    for split in ("val", "test"):
        metrics = results[split]
        assert {"f1", "precision", "recall", "token_accuracy"} <= set(metrics)
        assert {f"f1_{t}" for t in ("LOC", "MISC", "ORG", "PER")} <= set(metrics)
        assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in metrics.values())
    assert results["train_tokens_per_s"] > 0

    predictions = read_conll(tmp_path / "predictions_test.conll", tag_column=2)
    assert len((tmp_path / "predictions_test.conll").read_text().splitlines()[0].split()) == 3
    test = read_conll(data_dir / "conll2003" / "test.txt")[:50]
    assert [s.tokens for s in predictions] == [s.tokens for s in test]
    assert sum(len(s.tokens) for s in predictions) == sum(len(s.tokens) for s in test)
    assert [s.tags for s in read_conll(tmp_path / "predictions_test.conll", tag_column=1)] == [
        s.tags for s in test
    ]

    losses = _epoch_losses(tmp_path / "metrics.csv")
    assert len(losses) == 2 and losses[1] < losses[0], losses
