"""Label names: data sets that label with numbers (SST-2's 0/1) are predicted, scored and
reported with the names they stand for; runs trained before keep their labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from elmo_tasks import load_run
from elmo_tasks.core.errors import DataFormatError
from elmo_tasks.core.paths import config_dir
from elmo_tasks.data.tables import read_table
from tests.tiny_runs import train_classifier, write_classification

SST2_NAMES = {"0": "negative", "1": "positive"}


def numbered(folder: Path) -> dict[str, Path]:
    """The tiny classification data with SST-2's labels: 0 for neg, 1 for pos."""
    files = write_classification(folder)
    for path in files.values():
        text = path.read_text().replace(",neg\n", ",0\n").replace(",pos\n", ",1\n")
        path.write_text(text)
    return files


def test_sst2_and_the_other_presets_name_their_labels():
    task = OmegaConf.load(config_dir() / "task" / "sst2.yaml")
    assert {str(k): v for k, v in task.label_names.items()} == SST2_NAMES
    # The other sentiment sets carry names in the data itself.
    tweets = OmegaConf.load(config_dir() / "task" / "tweet_sentiment.yaml")
    assert tweets.label_column == "label_text"


def test_a_table_reads_values_as_their_names_in_the_order_of_the_values(tmp_path):
    path = tmp_path / "data.tsv"
    path.write_text("sentence\tlabel\ngood\t1\nbad\t0\nfine\tpositive\n")
    split = read_table(path, "sentence", label_names=SST2_NAMES)
    assert split.labels == ["negative", "positive"]
    assert split.dataset["label"][:] == [1, 0, 1]  # a value already a name is kept
    known = read_table(path, "sentence", labels=["negative", "positive"], label_names=SST2_NAMES)
    assert known.dataset["label"][:] == [1, 0, 1]
    path.write_text("sentence\tlabel\ngood\t2\n")
    with pytest.raises(DataFormatError, match="line 2: unknown label '2'"):
        read_table(path, "sentence", labels=["negative", "positive"], label_names=SST2_NAMES)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("labels")
    files = numbered(root / "data")
    data = [
        f"task.train_file={files['train']}",
        f"task.validation_file={files['dev']}",
        f"task.test_file={files['dev']}",
    ]
    named = root / "named"
    named.mkdir()
    return {
        "named": train_classifier(named, *data, "task.label_names={0:negative,1:positive}"),
        "old": train_classifier(root / "old", *data, epochs=1),  # as runs were before names
        "files": files["dev"],
    }


def test_predictions_metrics_and_reports_speak_of_the_names(runs):
    run = load_run(runs["named"])
    assert run.labels == ["negative", "positive"]
    (prediction,) = run.predict(["the film was good"])
    assert prediction["label"] in ("negative", "positive")
    assert set(prediction["probabilities"]) == {"negative", "positive"}
    assert "f1_negative" in json.loads((runs["named"] / "results.json").read_text())["test"]
    report = run.evaluate(runs["files"])  # the 0/1 file, read as training read it
    assert report["confusion_matrix"]["labels"] == ["negative", "positive"]
    assert set(report["per_class"]) == {"negative", "positive"}


def test_a_run_trained_with_number_labels_keeps_them(runs):
    run = load_run(runs["old"])
    assert run.labels == ["0", "1"]
    assert run.predict(["the film was good"])[0]["label"] in ("0", "1")
    report = run.evaluate(runs["files"])
    assert report["metrics"] == json.loads((runs["old"] / "results.json").read_text())["test"]
    assert set(report["per_class"]) == {"0", "1"}
