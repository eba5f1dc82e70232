"""Lightning's own ways of predicting: ``trainer.predict(model, datamodule=dm)`` (the test split,
in file order) and ``trainer.predict(model, dataloaders=...)`` over raw strings, with the model
alone (``load_from_checkpoint``) tokenising them as its training texts were."""

from __future__ import annotations

import json
from pathlib import Path

import hydra
import pytest
import pytorch_lightning as pl
from torch.utils.data import DataLoader

import elmo_tasks
from elmo_tasks.tasks import ClassificationTask, TaggingTask
from tests.tiny_runs import train_classifier, train_tagger

TEXTS = ["The film was GOOD!", "a very awful plot...", "Great", "and the plot was bad"]


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory) -> Path:
    """Trained on lowercased, punctuation-split text: raw strings only predict as the run does
    when the model tokenises them the same way."""
    return train_classifier(
        tmp_path_factory.mktemp("classifier"), "task.tokenizer=simple", "task.lowercase=true"
    )


@pytest.fixture(scope="module")
def tagger_run(tmp_path_factory) -> Path:
    return train_tagger(tmp_path_factory.mktemp("tagger"), epochs=1)


def _trainer() -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False
    )


def _alone(run_dir: Path, module_class):
    best = json.loads((run_dir / "results.json").read_text())["best_checkpoint"]
    return module_class.load_from_checkpoint(best, map_location="cpu").eval()


def test_trainer_predict_with_the_data_module_gives_the_test_split_in_file_order(
    classifier_run,
):
    run = elmo_tasks.load_run(classifier_run)
    datamodule = hydra.utils.instantiate(run.config.task)
    batches = _trainer().predict(run.module, datamodule=datamodule)
    records = [record for batch in batches for record in batch]
    assert datamodule.predict_split == "test"
    rows = datamodule.splits["test"]
    assert [r["index"] for r in records] == [row["line"] for row in rows]  # file order
    expected = run.predict([row["tokens"] for row in rows])
    assert [r["label"] for r in records] == [r["label"] for r in expected]


def test_trainer_predict_takes_raw_strings_tokenised_as_in_training(classifier_run):
    run = elmo_tasks.load_run(classifier_run)
    alone = _alone(classifier_run, ClassificationTask)
    assert alone.tokenize_text("The film was GOOD!") == ["the", "film", "was", "good", "!"]
    loader = DataLoader(TEXTS, batch_size=3)  # the default collate: lists of strings
    records = [r for batch in _trainer().predict(alone, dataloaders=loader) for r in batch]
    expected = run.predict(TEXTS)
    assert [r["label"] for r in records] == [r["label"] for r in expected]
    assert [r["probabilities"] for r in records] == [
        pytest.approx(r["probabilities"], abs=1e-6) for r in expected
    ]
    with pytest.raises(ValueError, match="item 1 has no tokens"):
        alone.predict_step(["good", "   "])
    with pytest.raises(TypeError, match="list of non-empty token lists or of texts"):
        alone.predict_step("a lone string")


def test_a_checkpoint_without_the_tokeniser_asks_for_tokens(classifier_run):
    alone = _alone(classifier_run, ClassificationTask)
    alone.data_state = {k: v for k, v in alone.data_state.items() if k != "tokenizer"}
    with pytest.raises(TypeError, match="pass token lists"):
        alone.predict_step(["good"])
    assert alone.predict_step([["good"]])[0]["label"] in alone.labels


def test_tagger_trainer_predict_takes_strings_and_its_data_module(tagger_run):
    run = elmo_tasks.load_run(tagger_run)
    alone = _alone(tagger_run, TaggingTask)
    sentences = ["john was a paris", "the acme film"]
    loader = DataLoader(sentences, batch_size=2)
    records = [r for batch in _trainer().predict(alone, dataloaders=loader) for r in batch]
    expected = run.predict(sentences)
    assert [r["tokens"] for r in records] == [s.split() for s in sentences]
    assert [r["tags"] for r in records] == [r["tags"] for r in expected]

    datamodule = hydra.utils.instantiate(run.config.task)
    records = [r for b in _trainer().predict(alone, datamodule=datamodule) for r in b]
    rows = datamodule.splits["test"]
    assert [r["index"] for r in records] == [row["index"] for row in rows]
    assert [r["tokens"] for r in records] == [row["tokens"] for row in rows]
