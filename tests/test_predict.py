"""`python -m elmo_tasks.cli.predict` on tiny trained runs: batch and streaming input, both tasks."""

from __future__ import annotations

import io
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from elmo_tasks.cli.predict import main
from elmo_tasks.data.conll import read_conll
from elmo_tasks.data.tags import bio_spans, split_tag
from elmo_tasks.runs.experiment import build, run
from tests.compose import compose_config

PROJECT_ROOT = Path(__file__).resolve().parents[1]
QUICK = [
    "task.max_train_samples=100",
    "task.max_eval_samples=30",
    "trainer.max_epochs=1",
    "head.contextualizer_dim=16",
    "callbacks.rich_progress_bar=null",
    "trainer.enable_progress_bar=false",
    "logger=[]",
]
TEXTS = [
    "it 's a charming and often affecting journey .",
    "unflinchingly bleak and desperate",
    "a word the model never saw : zyzzyva",
    "the acting , costumes , music , cinematography and sound are all astounding .",
    "dull",
]


def _train(root: Path, data_dir: Path, experiment: str, folder: str, *extra: str) -> Path:
    if not (data_dir / folder).is_dir():
        pytest.skip(f"{data_dir / folder} not found (set ELMO_TASKS_DATA)")
    run_dir = root / experiment
    run(
        compose_config(
            run_dir, [f"experiment={experiment}", f"paths.data_dir={data_dir}", *QUICK, *extra]
        )
    )
    return run_dir


@pytest.fixture(scope="module")
def sst2_run(tmp_path_factory, data_dir) -> Path:
    return _train(
        tmp_path_factory.mktemp("runs"), data_dir, "sst2_baseline", "sst2", "encoder.dim=16"
    )


@pytest.fixture(scope="module")
def conll_run(tmp_path_factory, data_dir) -> Path:
    return _train(
        tmp_path_factory.mktemp("runs"),
        data_dir,
        "conll2003_baseline",
        "conll2003",
        "encoder.dim=16",
    )


def _reference(run_dir: Path):
    """The run's model rebuilt the way training builds it, with the best weights."""
    cfg = OmegaConf.load(run_dir / "config_resolved.yaml")
    datamodule, model = build(cfg)
    checkpoint = torch.load(
        run_dir / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True
    )
    model.load_state_dict(checkpoint["state_dict"])
    return datamodule, model.eval()


def _predict(*args: str, stdin: io.StringIO | None = None) -> tuple[int, list[dict]]:
    out = io.StringIO()
    status = main(list(args), stdin=stdin, stdout=out)
    return status, [json.loads(line) for line in out.getvalue().splitlines()]


# --------------------------------------------------------------------------- classification


def test_classification_file_matches_the_model(sst2_run, tmp_path, caplog):
    source = tmp_path / "texts.txt"
    source.write_text("\n".join(TEXTS[:2] + [""] + TEXTS[2:]) + "\n")
    output = tmp_path / "out" / "predictions.jsonl"
    assert main([f"run_dir={sst2_run}", f"input={source}", f"output={output}", "batch_size=2"]) == 0
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert "line 3: empty text, skipped" in caplog.text

    _, model = _reference(sst2_run)
    expected = model.predict_proba([text.split() for text in TEXTS])
    assert [r["text"] for r in records] == TEXTS
    for record, row in zip(records, expected):
        assert set(record["probabilities"]) == set(model.labels) and record["label"] in model.labels
        assert sum(record["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert record["label"] == model.labels[int(row.argmax())]
        assert list(record["probabilities"].values()) == pytest.approx(row.tolist(), abs=1e-5)


def test_classification_jsonl_input_equals_text_input(sst2_run, tmp_path):
    jsonl = tmp_path / "texts.jsonl"
    jsonl.write_text("".join(json.dumps({"text": t, "id": i}) + "\n" for i, t in enumerate(TEXTS)))
    plain = tmp_path / "texts.txt"
    plain.write_text("\n".join(TEXTS) + "\n")
    status_a, from_jsonl = _predict(f"run_dir={sst2_run}", f"input={jsonl}")
    status_b, from_text = _predict(f"run_dir={sst2_run}", f"input={plain}", "batch_size=1")
    assert status_a == status_b == 0
    assert [r["label"] for r in from_jsonl] == [r["label"] for r in from_text]


def test_classification_streams_stdin_line_by_line(sst2_run):
    """Each prediction arrives before the next line is sent (the subprocess flushes per line)."""
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "elmo_tasks.cli.predict", f"run_dir={sst2_run}", "input=-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=PROJECT_ROOT,
        env=env,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line) for line in process.stdout], daemon=True
    ).start()
    try:
        process.stdin.write(TEXTS[0] + "\n")
        process.stdin.flush()
        first = json.loads(lines.get(timeout=50))
        process.stdin.write(TEXTS[1] + "\n")
        process.stdin.close()
        assert process.wait(timeout=30) == 0, process.stderr.read()
    finally:
        process.kill()
    second = json.loads(lines.get(timeout=5))
    assert [first["text"], second["text"]] == TEXTS[:2]
    assert all(
        sum(r["probabilities"].values()) == pytest.approx(1.0, abs=1e-5) for r in (first, second)
    )


# --------------------------------------------------------------------------- tagging


def test_conll_output_equals_the_runs_test_predictions(conll_run, tmp_path):
    """Tagging the run's own predictions_test.conll (tokens in column 1) reproduces its column 3."""
    written = conll_run / "predictions_test.conll"
    output = tmp_path / "tagged.conll"
    assert (
        main([f"run_dir={conll_run}", f"input={written}", f"output={output}", "format=conll"]) == 0
    )
    lines = [line for line in output.read_text().splitlines() if line]
    assert lines and all(len(line.split()) == 2 for line in lines)
    tagged, expected = read_conll(output), read_conll(written)
    assert [s.tokens for s in tagged] == [s.tokens for s in expected]
    assert [s.tags for s in tagged] == [s.tags for s in expected]


def test_elmo_run_predicts_without_its_activation_cache(tmp_path, data_dir, elmo_fixture_dir):
    """The frozen biLM's cache of the training data is deleted; predictions run the biLM itself."""
    weights = [
        f"encoder.options_file={elmo_fixture_dir}/options.json",
        f"encoder.weight_file={elmo_fixture_dir}/lm_weights.hdf5",
    ]
    caps = ["task.max_train_samples=40", "task.max_eval_samples=15"]
    run_dir = _train(tmp_path, data_dir, "conll2003_elmo", "conll2003", *caps, *weights)
    cache = run_dir / "logs" / "elmo_cache"
    assert cache.is_dir()
    shutil.rmtree(cache)
    written = run_dir / "predictions_test.conll"
    output = tmp_path / "tagged.conll"
    assert main([f"run_dir={run_dir}", f"input={written}", f"output={output}", "format=conll"]) == 0
    assert not cache.exists()
    assert [s.tags for s in read_conll(output)] == [s.tags for s in read_conll(written)]


@pytest.mark.parametrize(
    ("experiment", "folder", "files"),
    [
        ("sst2_baseline", "sst2", ["train.tsv", "dev.tsv", "test.tsv"]),
        ("conll2003_baseline", "conll2003", ["train.txt", "dev.txt", "test.txt"]),
    ],
)
def test_run_predicts_without_its_training_data(
    experiment, folder, files, tmp_path, data_dir, capsys
):
    """Checkpoints hold the vocabulary and labels: the run folder predicts after its data is gone,
    exactly as before; a checkpoint without them needs the data and says so."""
    if not all((data_dir / folder / name).is_file() for name in files):
        pytest.skip(f"{data_dir / folder} not found (set ELMO_TASKS_DATA)")
    private = tmp_path / "data"
    (private / folder).mkdir(parents=True)
    for name in files:
        shutil.copy(data_dir / folder / name, private / folder / name)
    run_dir = _train(tmp_path / "runs", private, experiment, folder, "encoder.dim=16")
    checkpoint = torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=True)
    datamodule, _ = _reference(run_dir)
    assert checkpoint["data_state"]["vocabulary"] == datamodule.vocabulary
    assert checkpoint["data_state"]["labels"] == datamodule.labels
    legacy = tmp_path / "without_data_state.ckpt"
    torch.save({key: value for key, value in checkpoint.items() if key != "data_state"}, legacy)

    sentences = tmp_path / "sentences.txt"
    sentences.write_text("\n".join(TEXTS) + "\n")
    status, before = _predict(f"run_dir={run_dir}", f"input={sentences}")
    assert status == 0 and len(before) == len(TEXTS)
    shutil.rmtree(private)
    status, after = _predict(f"run_dir={run_dir}", f"input={sentences}")
    assert status == 0 and after == before

    capsys.readouterr()
    assert main([f"run_dir={run_dir}", f"input={sentences}", f"checkpoint={legacy}"]) == 1
    assert "does not hold the vocabulary and label set" in capsys.readouterr().err


def test_tagging_jsonl_entities_follow_the_tags(conll_run, tmp_path):
    sentences = [s.tokens for s in read_conll(conll_run / "predictions_test.conll")[:12]]
    source = tmp_path / "sentences.txt"
    source.write_text("".join(" ".join(tokens) + "\n" for tokens in sentences))
    status, records = _predict(f"run_dir={conll_run}", f"input={source}", "batch_size=5")
    assert status == 0 and [r["tokens"] for r in records] == sentences

    datamodule, model = _reference(conll_run)
    assert datamodule.input_scheme == model.scheme == "BIO"
    assert [r["tags"] for r in records] == model.predict(sentences)
    for record in records:
        assert all(split_tag(tag)[0] in "OBI" for tag in record["tags"])
        spans = [(e["type"], e["start"], e["end"]) for e in record["entities"]]
        assert spans == bio_spans(record["tags"])
        assert [e["text"] for e in record["entities"]] == [
            " ".join(record["tokens"][s:e]) for _, s, e in spans
        ]


def test_tagging_streams_each_sentence_before_reading_the_next(conll_run):
    out = io.StringIO()

    class Stdin:
        """Hands out one sentence per readline, checking the previous one was answered."""

        sent = ["John lives in Paris .\n", "EU rejects German call\n"]

        def __init__(self) -> None:
            self.calls = 0

        def readline(self) -> str:
            assert out.getvalue().count("\n") == self.calls, (
                "a line was read before the last one was answered"
            )
            self.calls += 1
            return self.sent[self.calls - 1] if self.calls <= len(self.sent) else ""

    assert main([f"run_dir={conll_run}", "input=-"], stdin=Stdin(), stdout=out) == 0
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["tokens"] for r in records] == [s.split() for s in Stdin.sent]


def test_empty_line_in_tagging_input_is_an_error_naming_it(conll_run, tmp_path, capsys):
    source = tmp_path / "sentences.txt"
    source.write_text("John lives in Paris .\n\nEU rejects German call\n")
    assert main([f"run_dir={conll_run}", f"input={source}"]) == 1
    assert f"{source}, line 2: empty line" in capsys.readouterr().err


# --------------------------------------------------------------------------- run folders and arguments


def test_hydra_config_and_last_checkpoint_are_the_fallbacks(sst2_run, tmp_path):
    """A run cut short has only .hydra/config.yaml (with ${hydra:...} in it) and last.ckpt."""
    copy = tmp_path / "run"
    for folder in ("checkpoints", ".hydra"):
        (copy / folder).mkdir(parents=True)
    shutil.copy(sst2_run / "checkpoints" / "best.ckpt", copy / "checkpoints" / "last.ckpt")
    cfg = OmegaConf.load(sst2_run / "config_resolved.yaml")
    cfg.paths.output_dir = "${hydra:runtime.output_dir}"
    OmegaConf.save(cfg, copy / ".hydra" / "config.yaml")
    source = tmp_path / "texts.txt"
    source.write_text("\n".join(TEXTS) + "\n")
    assert _predict(f"run_dir={copy}", f"input={source}") == _predict(
        f"run_dir={sst2_run}", f"input={source}"
    )


def test_missing_config_or_checkpoint_says_where_it_looked(sst2_run, tmp_path, capsys):
    source = tmp_path / "texts.txt"
    source.write_text("good\n")
    empty = tmp_path / "empty_run"
    empty.mkdir()
    assert main([f"run_dir={empty}", f"input={source}"]) == 1
    err = capsys.readouterr().err
    assert (
        str(empty / "config_resolved.yaml") in err and str(empty / ".hydra" / "config.yaml") in err
    )

    shutil.copy(sst2_run / "config_resolved.yaml", empty / "config_resolved.yaml")
    assert main([f"run_dir={empty}", f"input={source}"]) == 1
    err = capsys.readouterr().err
    assert (
        str(empty / "checkpoints" / "best.ckpt") in err
        and str(empty / "checkpoints" / "last.ckpt") in err
    )


def test_argument_errors_are_explained(sst2_run, tmp_path, capsys):
    source = tmp_path / "texts.txt"
    source.write_text("good\n")
    assert main([f"run_dir={sst2_run}", f"inptu={source}"]) == 2
    assert "did you mean input=" in capsys.readouterr().err
    assert main([f"run_dir={sst2_run}", f"input={source}", "format=conll"]) == 2
    assert "format=conll is for taggers" in capsys.readouterr().err
    assert main([f"run_dir={sst2_run}", f"input={tmp_path / 'nope.txt'}"]) == 1
    assert "nope.txt not found" in capsys.readouterr().err
    assert main(["--help"]) == 0
    assert "input_format" in capsys.readouterr().out


def test_input_is_decoded_whole_before_the_output_is_opened(sst2_run, tmp_path, capsys):
    source = tmp_path / "texts.bin"
    source.write_bytes("a good film\r\nun film très émouvant\n".encode("latin-1"))
    output = tmp_path / "out.jsonl"
    output.write_text("earlier\n")
    assert main([f"run_dir={sst2_run}", f"input={source}", f"output={output}"]) == 1
    assert capsys.readouterr().err.startswith(
        f"predict: {source}, line 2: not valid utf-8 (byte 0xe8 at byte 11 of the line); give the file's encoding, "
        "e.g. encoding=latin-1"
    )
    assert output.read_text() == "earlier\n"  # untouched
    assert (
        main([f"run_dir={sst2_run}", f"input={source}", f"output={output}", "encoding=latin-1"])
        == 0
    )
    assert [json.loads(line)["text"] for line in output.read_text().splitlines()] == [
        "a good film",
        "un film très émouvant",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "out.jsonl",
        "texts.bin",
    ]  # no temporary left
    assert main([f"run_dir={sst2_run}", f"input={source}", "encoding=klingon"]) == 2
    assert "encoding='klingon' is not a known text encoding" in capsys.readouterr().err


def test_unwritable_output_folder_is_a_usage_error_before_loading(sst2_run, tmp_path, capsys):
    source = tmp_path / "texts.txt"
    source.write_text("good\n")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main([f"run_dir={sst2_run}", f"input={source}", f"output={blocker}/out.jsonl"]) == 2
    assert f"output={blocker}/out.jsonl: cannot write into {blocker}" in capsys.readouterr().err
