"""elmo-tasks evaluate / run.evaluate: a run scored on a labelled file, as its test split was."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from elmo_tasks import load_run
from elmo_tasks.cli.evaluate import main
from elmo_tasks.runs.model_folder import export_run
from tests.tiny_runs import train_classifier, train_tagger, write_tagging

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> Path:
    """A tiny classifier whose test file is data/dev.csv, its test split capped at 15 rows."""
    return train_classifier(tmp_path_factory.mktemp("classifier"), "task.max_eval_samples=15")


@pytest.fixture(scope="module")
def tagger(tmp_path_factory) -> Path:
    """A tiny CRF tagger tested on data/test.conll, its long sentences cut into chunks."""
    root = tmp_path_factory.mktemp("tagger")
    files = write_tagging(root / "data")
    files["dev"] = write_tagging(root / "other", count=60, seed=5)["train"]
    return train_tagger(root, "task.max_length=4", files=files)


def results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


def test_classifier_reproduces_the_test_metrics_of_results_json(classifier, tmp_path, capsys):
    output = tmp_path / "report.json"
    test_file = classifier.parent / "data" / "dev.csv"
    assert main([f"run_dir={classifier}", f"input={test_file}", f"output={output}"]) == 0
    report = json.loads(output.read_text())
    expected = results(classifier)["test"]
    assert set(report["metrics"]) == set(expected)
    for name, value in expected.items():
        assert report["metrics"][name] == value, name  # exactly, not approximately
    assert report["examples"] == 15 and report["max_samples"] == 15  # capped as the test split
    labels = report["confusion_matrix"]["labels"]
    matrix = report["confusion_matrix"]["matrix"]
    assert labels == ["neg", "pos"] and sum(map(sum, matrix)) == 15
    for i, label in enumerate(labels):
        per_class = report["per_class"][label]
        assert per_class["support"] == sum(matrix[i])
        assert per_class["f1"] == pytest.approx(expected[f"f1_{label}"], abs=1e-6)
    chart = tmp_path / "report.confusion.png"
    assert report["confusion_matrix_png"] == str(chart)
    assert chart.read_bytes().startswith(PNG_MAGIC)
    out = capsys.readouterr().out
    assert "accuracy" in out and "Per class" in out and f"wrote {output}" in out


def test_every_row_and_the_python_api(classifier):
    run = load_run(classifier)
    report = run.evaluate(classifier.parent / "data" / "dev.csv", max_samples="all")
    assert report["examples"] == 20 and report["kind"] == "classification"
    assert 0.0 <= report["metrics"]["accuracy"] <= 1.0
    assert sum(c["support"] for c in report["per_class"].values()) == 20
    assert run.evaluate(classifier.parent / "data" / "dev.csv", max_samples=4)["examples"] == 4


def test_an_exported_model_scores_as_its_run(classifier, tmp_path):
    folder = export_run(classifier, tmp_path / "model")
    report = load_run(folder).evaluate(classifier.parent / "data" / "dev.csv")
    assert report["metrics"] == results(classifier)["test"]
    assert report["run"] == str(folder)


def test_tagger_reproduces_the_test_metrics_with_per_type_scores(tagger, tmp_path):
    test_file = tagger.parent / "other" / "train.conll"
    report = load_run(tagger).evaluate(test_file)
    expected = results(tagger)["test"]
    assert report["metrics"] == expected  # every metric, exactly
    assert report["examples"] == 60  # sentences, though scored in chunks as in training
    assert "f1_LOC" in expected and report["metrics"]["f1_LOC"] == expected["f1_LOC"]
    assert set(report["per_type"]) >= {"LOC", "PER"}
    assert set(report["per_type"]["LOC"]) == {"precision", "recall", "f1", "support"}
    assert "confusion_matrix" not in report
    assert report["per_type"]["LOC"]["f1"] == pytest.approx(expected["f1_LOC"], abs=1e-6)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("review,label\ngood film,pos\n", "no column 'text'"),
        ("text,label\ngood film,pos\nbad film,meh\n", "line 3: unknown label 'meh'"),
        ("", "empty file"),
    ],
    ids=["missing-column", "unknown-label", "empty-file"],
)
def test_bad_input_is_one_message_and_exit_2(classifier, tmp_path, capsys, content, message):
    bad = write(tmp_path / "bad.csv", content)
    assert main([f"run_dir={classifier}", f"input={bad}", f"output={tmp_path / 'r.json'}"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("evaluate:")]) == 1
    assert not (tmp_path / "r.json").exists()


def test_bad_tags_and_arguments_exit_2(tagger, tmp_path, capsys):
    bad = write(tmp_path / "bad.conll", "paris B-CITY\n\n")
    assert main([f"run_dir={tagger}", f"input={bad}", f"output={tmp_path / 'r.json'}"]) == 2
    assert "unknown tag 'B-CITY'" in capsys.readouterr().err
    assert main([f"run_dir={tagger}", f"inptu={bad}"]) == 2
    assert "did you mean input=" in capsys.readouterr().err
    assert main([f"run_dir={tagger}", f"input={bad}", "max_samples=some"]) == 2
    assert main([f"run_dir={tagger}", f"input={tmp_path / 'missing.conll'}"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_the_elmo_tasks_command_writes_its_default_report_in_the_current_folder(
    classifier, tmp_path
):
    test_file = classifier.parent / "data" / "dev.csv"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "COLUMNS": "80"}
    done = subprocess.run(
        [sys.executable, "-c", "from elmo_tasks.cli import main; main()", "evaluate", f"run_dir={classifier}",
         f"input={test_file}", "plot=false"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "dev.eval.json").read_text())
    assert report["metrics"] == results(classifier)["test"]
    assert not (tmp_path / "dev.confusion.png").exists()
    tables = [line for line in done.stdout.splitlines() if line[:1] in "┏┃┡│└"]
    assert tables and max(map(len, tables)) <= 80


# --- every reader of the classification tasks, without training ---------------------------


def trained_module(labels: list[str], **config):
    """A classification data module holding a trained state (no training data is read)."""
    from elmo_tasks.data import ClassificationDataModule

    dm = ClassificationDataModule("t", tokenizer="simple", **config)
    dm.load_trained_state({"vocabulary": ["good"], "labels": labels})
    return dm


def test_sst_trees_are_read_as_the_run_read_them_and_labels_map_by_name(tmp_path):
    from elmo_tasks.data.evaluation_split import setup_evaluation

    trees = write(tmp_path / "test.txt", "(4 (3 good) (2 film))\n(0 (0 awful) (2 plot))\n")
    dm = trained_module(["positive", "neutral", "negative"], reader="sst3_trees")
    split = setup_evaluation(dm, trees)
    assert [(row["tokens"], row["label"]) for row in dm.splits[split]] == [
        (["good", "film"], 0),  # positive, in the run's own label order
        (["awful", "plot"], 2),
    ]
    dm = trained_module(["negative", "positive"], reader="sst3_trees")
    neutral = write(tmp_path / "neutral.txt", "(2 (2 a) (2 film))\n")
    with pytest.raises(ValueError, match="line 1: unknown label 'neutral'"):
        setup_evaluation(dm, neutral)


def test_tweeteval_text_files_and_table_files(tmp_path, data_dir):
    from elmo_tasks.data.evaluation_split import setup_evaluation

    folder = data_dir / "tweeteval_sentiment"
    if not (folder / "test_text.txt").is_file():
        pytest.skip(f"no TweetEval copy at {folder} (set ELMO_TASKS_DATA)")
    dm = trained_module(["negative", "neutral", "positive"], reader="tweeteval")
    split = setup_evaluation(dm, folder / "test_text.txt", max_samples=25)
    assert len(dm.splits[split]) == 25 and {row["label"] for row in dm.splits[split]} <= {0, 1, 2}
    table = write(tmp_path / "more.jsonl", '{"text": "so good", "label": "positive"}\n')
    split = setup_evaluation(dm, table)
    assert [row["label"] for row in dm.splits[split]] == [2]


def test_a_run_folder_that_names_other_code_is_refused_as_load_run_refuses_it(
    classifier, tmp_path, capsys
):
    import shutil

    from omegaconf import OmegaConf

    run = tmp_path / "handed_over"
    shutil.copytree(classifier, run)
    victim = write(tmp_path / "victim.txt", "keep me")
    config = OmegaConf.load(run / "config_resolved.yaml")
    config.task.evil = {"_target_": "builtins.open", "_args_": [str(victim), "w"]}
    OmegaConf.save(config, run / "config_resolved.yaml")
    test_file = classifier.parent / "data" / "dev.csv"
    assert main([f"run_dir={run}", f"input={test_file}", f"output={tmp_path / 'r.json'}"]) == 2
    err = capsys.readouterr().err
    assert "task.evil._target_: builtins.open" in err and "Traceback" not in err
    assert victim.read_text() == "keep me" and not (tmp_path / "r.json").exists()
