"""elmo-tasks export: a self-contained model folder that load_run and predict read."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import elmo_tasks
from elmo_tasks.cli.export import main as export_main
from elmo_tasks.cli.predict import PredictError
from elmo_tasks.cli.predict import main as predict_main
from tests.tiny_runs import tiny_elmo, train_classifier, train_tagger

TEXTS = ["the film was good", "a very awful plot"]
SENTENCES = ["john was a paris", "new york and acme"]


def _moved(folder: Path, tmp_path: Path) -> Path:
    """The export folder alone, elsewhere: nothing of the run or the training data is left."""
    target = tmp_path / "elsewhere" / folder.name
    shutil.copytree(folder, target)
    return target


def test_classifier_export_is_self_contained(tmp_path):
    run_dir = train_classifier(tmp_path / "train", epochs=3)
    out = tmp_path / "export" / "sentiment"
    assert export_main([f"run_dir={run_dir}", f"out={out}"]) == 0
    assert {p.name for p in out.iterdir()} == {
        "model.safetensors",
        "config.yaml",
        "data_state.json",
        "results.json",
        "export.json",
        "README.md",
    }
    expected = elmo_tasks.load_run(run_dir).predict(TEXTS)
    moved = _moved(out, tmp_path)
    shutil.rmtree(tmp_path / "train")  # the run folder and its training data are gone
    shutil.rmtree(out)
    exported = elmo_tasks.load_run(moved)
    got = exported.predict(TEXTS)
    assert [r["label"] for r in got] == [r["label"] for r in expected]
    assert [r["probabilities"] for r in got] == [
        pytest.approx(r["probabilities"], abs=1e-6) for r in expected
    ]
    data_state = json.loads((moved / "data_state.json").read_text())
    assert data_state["labels"] == ["neg", "pos"] and "good" in data_state["vocabulary"]
    weights = load_file(str(moved / "model.safetensors"))
    assert (
        all(isinstance(v, torch.Tensor) for v in weights.values())
        and "encoder.embedding.weight" in weights
    )

    card = (moved / "README.md").read_text()
    results = json.loads((moved / "results.json").read_text())
    assert "# text_classification: WordEmbeddingEncoder + MaxPoolingClassifier" in card
    assert f"| val | accuracy | {results['val']['accuracy']:.4f} |" in card and "Seed 42" in card
    assert "none: the encoder does not use ELMo" in card and "- classes (2): `neg`, `pos`" in card
    assert '- reader: `"table"`' in card and "recorded no command-line overrides" in card

    # The predict command reads the export folder as it reads a run folder.
    out_stream = io.StringIO()
    assert (
        predict_main(
            [f"run_dir={moved}", "input=-", "device=cpu"],
            stdin=io.StringIO("the film was good\n"),
            stdout=out_stream,
        )
        == 0
    )
    assert json.loads(out_stream.getvalue())["label"] == expected[0]["label"]


def test_frozen_elmo_tagger_export_carries_the_elmo_files(tmp_path):
    run_dir = train_tagger(
        tmp_path / "train", encoder=tiny_elmo(tmp_path / "train" / "elmo"), epochs=1
    )
    out = tmp_path / "ner"
    assert export_main([f"run_dir={run_dir}", f"out={out}"]) == 0
    manifest = json.loads((out / "export.json").read_text())
    [elmo] = manifest["elmo_files"]
    assert (out / elmo["copied_to"] / "weights.hdf5").is_file() and elmo["key"] == "encoder"
    weights = load_file(str(out / "model.safetensors"))
    assert not any(
        k.startswith("encoder.elmo._elmo_lstm") for k in weights
    )  # the biLM is in elmo/, once
    expected = elmo_tasks.load_run(run_dir).predict(SENTENCES)
    moved = _moved(out, tmp_path)
    shutil.rmtree(tmp_path / "train")  # also the original ELMo files
    got = elmo_tasks.load_run(moved).predict(SENTENCES)
    assert [r["tags"] for r in got] == [r["tags"] for r in expected]
    assert [e["score"] for r in got for e in r["entities"]] == pytest.approx(
        [e["score"] for r in expected for e in r["entities"]], abs=1e-6
    )
    card = (moved / "README.md").read_text()
    assert f"sha256 {elmo['weights_sha256']}" in card and "## How it was made" in card
    assert "scheme learned: BIO" in card

    # A damaged ELMo file is caught by its checksum.
    with (moved / elmo["copied_to"] / "options.json").open("a") as handle:
        handle.write(" ")
    with pytest.raises(PredictError, match="do not match the checksums"):
        elmo_tasks.load_run(moved)


def test_export_refuses_to_overwrite_and_bad_arguments(tmp_path, capsys):
    run_dir = train_classifier(tmp_path / "train", epochs=1)
    results = json.loads((run_dir / "results.json").read_text())
    results["config_overrides"] = ["experiment=sst2_elmo", "seed=3", "task.train_file=my data.csv"]
    (run_dir / "results.json").write_text(json.dumps(results))  # as train.py records them
    out = tmp_path / "model"
    assert export_main([f"run_dir={run_dir}", f"out={out}"]) == 0
    assert (
        "python train.py experiment=sst2_elmo seed=3 'task.train_file=my data.csv'"
        in (out / "README.md").read_text()
    )
    assert export_main([f"run_dir={run_dir}", f"out={out}"]) == 1
    assert "overwrite=true" in capsys.readouterr().err
    assert export_main([f"run_dir={run_dir}", f"out={out}", "overwrite=true"]) == 0
    assert export_main([f"run_dir={run_dir}", f"outt={out}"]) == 2
    assert "did you mean out=" in capsys.readouterr().err
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    assert export_main([f"run_dir={run_dir}", f"out={tmp_path / 'busy'}"]) == 1
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    with pytest.raises(PredictError, match="drop checkpoint="):
        elmo_tasks.load_run(out, checkpoint=run_dir / "checkpoints" / "best.ckpt")


def test_pretrained_word_vectors_are_in_the_weights_not_needed_again(tmp_path):
    vectors = tmp_path / "vectors.txt"
    vectors.write_text(
        "good 1 2 3 4 5\nbad -1 -2 -3 -4 -5\n", encoding="utf-8"
    )  # 5-dimensional, config says 8
    run_dir = train_classifier(tmp_path / "train", f"encoder.pretrained_file={vectors}", epochs=1)
    out = tmp_path / "model"
    assert export_main([f"run_dir={run_dir}", f"out={out}"]) == 0
    config = (out / "config.yaml").read_text()
    assert "pretrained_file: null" in config and "dim: 5" in config
    expected = elmo_tasks.load_run(run_dir).predict(TEXTS)
    vectors.unlink()
    got = elmo_tasks.load_run(out).predict(TEXTS)
    assert [r["probabilities"] for r in got] == [
        pytest.approx(r["probabilities"], abs=1e-6) for r in expected
    ]
