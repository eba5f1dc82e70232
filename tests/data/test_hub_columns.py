"""Hub datasets as users have them: any token/tag columns, a pinned revision, both in results.json.

A dataset written as parquet files into a local folder stands in for the hub (``load_dataset``
reads it offline with its ClassLabel features); no network is used.
"""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest

from elmo_tasks.data import ClassificationDataModule, TaggingDataModule
from elmo_tasks.data.tagging_datamodule import read_hub_tagging
from elmo_tasks.runs.experiment import run
from tests.compose import compose_config
from tests.tiny_runs import QUIET

TAG_NAMES = ["O", "B-LOC", "I-LOC", "B-PER"]


def _ner_folder(root: Path) -> Path:
    """wikiann-like columns: ``words`` and ``labels`` (ClassLabel ids), train and validation."""
    words = [["John", "lives", "in", "New", "York"], ["Mary", "left"], ["in", "Paris"]] * 6
    labels = [[3, 0, 0, 1, 2], [3, 0], [0, 1]] * 6
    features = datasets.Features(
        {
            "words": datasets.List(datasets.Value("string")),
            "labels": datasets.List(datasets.ClassLabel(names=TAG_NAMES)),
            "id": datasets.Value("int32"),
        }
    )
    data = datasets.Dataset.from_dict(
        {"words": words, "labels": labels, "id": list(range(len(words)))}, features=features
    )
    (root / "data").mkdir(parents=True)
    for split in ("train", "validation"):
        data.to_parquet(str(root / "data" / f"{split}.parquet"))
    return root


def _sentiment_folder(root: Path) -> Path:
    features = datasets.Features(
        {"review": datasets.Value("string"), "stars": datasets.ClassLabel(names=["bad", "good"])}
    )
    data = datasets.Dataset.from_dict(
        {
            "review": ["great film", "awful plot", "good", "bad acting"] * 5,
            "stars": [1, 0, 1, 0] * 5,
        },
        features=features,
    )
    (root / "data").mkdir(parents=True)
    for split in ("train", "validation"):
        data.to_parquet(str(root / "data" / f"{split}.parquet"))
    return root


@pytest.fixture()
def load_calls(monkeypatch):
    """Every datasets.load_dataset call's arguments (the real loader still runs)."""
    calls = []
    real = datasets.load_dataset

    def recording(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(datasets, "load_dataset", recording)
    return calls


def test_read_hub_tagging_takes_the_columns_and_label_names_from_the_features(tmp_path, load_calls):
    folder = _ner_folder(tmp_path / "wikiann_like")
    split = read_hub_tagging(
        str(folder), None, "train", tokens_column="words", tags_column="labels", revision="v1.2"
    )
    first = split.sentences[0]
    assert first.tokens == ["John", "lives", "in", "New", "York"]
    assert first.tags == ["B-PER", "O", "O", "B-LOC", "I-LOC"]
    assert load_calls[-1][1]["revision"] == "v1.2"
    assert "@v1.2 [train]" in split.source
    with pytest.raises(
        ValueError, match=r"no column 'tokens'.*set task.tokens_column and task.tags_column"
    ):
        read_hub_tagging(str(folder), None, "train")


def test_tagging_data_module_reads_hub_columns(tmp_path, load_calls):
    folder = _ner_folder(tmp_path / "wikiann_like")
    dm = TaggingDataModule(
        "wikiann",
        train_file="train",
        validation_file="validation",
        hub_name=str(folder),
        hub_revision="0123abc",
        tokens_column="words",
        tags_column="labels",
    )
    dm.setup("fit")
    assert dm.labels == [
        "O",
        "B-LOC",
        "I-LOC",
        "B-PER",
        "I-PER",
    ]  # the BIO tag set of the types LOC and PER
    assert {kwargs["revision"] for _, kwargs in load_calls} == {"0123abc"}
    assert dm.data_source() == {
        "reader": "hub",
        "splits": {"train": "train", "validation": "validation", "test": None},
        "hub_name": str(folder),
        "hub_config": None,
        "hub_revision": "0123abc",
        "tokens_column": "words",
        "tags_column": "labels",
    }


def test_classification_hub_reader_takes_a_revision(tmp_path, load_calls):
    folder = _sentiment_folder(tmp_path / "reviews")
    dm = ClassificationDataModule(
        "reviews",
        reader="hub",
        train_file="train",
        validation_file="validation",
        hub_name=str(folder),
        hub_revision="refs/pr/3",
        text_column="review",
        label_column="stars",
    )
    dm.setup("fit")
    assert dm.labels == ["bad", "good"]
    assert {kwargs["revision"] for _, kwargs in load_calls} == {"refs/pr/3"}
    assert dm.data_source()["hub_revision"] == "refs/pr/3"


def test_results_json_records_hub_revision_and_columns(tmp_path, load_calls):
    folder = _ner_folder(tmp_path / "wikiann_like")
    run_dir = tmp_path / "run"
    run(
        compose_config(
            run_dir,
            [
                "experiment=none",
                "task=token_classification",
                "task.train_file=train",
                "task.validation_file=validation",
                f"task.hub_name={folder}",
                "task.hub_revision=v2",
                "task.tokens_column=words",
                "task.tags_column=labels",
                "encoder=word_embedding",
                "encoder.dim=8",
                "head=tagger_softmax",
                "trainer.max_epochs=1",
                *QUIET,
            ],
        )
    )
    data = json.loads((run_dir / "results.json").read_text())["data"]
    assert (data["hub_revision"], data["tokens_column"], data["tags_column"]) == (
        "v2",
        "words",
        "labels",
    )
    assert data["reader"] == "hub" and data["hub_name"] == str(folder)
