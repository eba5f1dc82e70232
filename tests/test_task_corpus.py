"""The tasks' unlabelled training text for domain-adapted pretraining (elmo_tasks.pretraining.task_corpus)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from elmo_tasks.cli.task_corpus import main
from elmo_tasks.data.classification import read_sst_trees
from elmo_tasks.pretraining.task_corpus import drop_contained


def test_drop_contained_keeps_whole_sentences_once() -> None:
    sentences = [
        ["a", "good", "film"],
        ["good", "film"],
        ["a", "good", "film"],
        ["film", "a"],
        ["bad"],
        ["good"],
    ]
    assert drop_contained(sentences) == [["a", "good", "film"], ["film", "a"], ["bad"]]
    assert drop_contained([[], ["x"]]) == [["x"]]


def test_writes_the_training_split_only(tmp_path: Path, data_dir: Path, capsys) -> None:
    if not (data_dir / "sst5").is_dir():
        pytest.skip(f"{data_dir / 'sst5'} not found (set ELMO_TASKS_DATA)")
    output = tmp_path / "tasks.txt"
    assert main(["tasks=sst5", f"output={output}", f"data_dir={data_dir}"]) == 0
    lines = output.read_text(encoding="utf-8").splitlines()
    sizes = json.loads(capsys.readouterr().out)["tasks"]["sst5"]
    assert sizes["lines"] == len(lines) and sizes["tokens"] == sum(
        len(line.split()) for line in lines
    )
    held_out = {
        " ".join(t.split())
        for split in ("dev", "test")
        for t in read_sst_trees(data_dir / "sst5" / f"{split}.txt").dataset["text"]
    }
    train = {
        " ".join(t.split()) for t in read_sst_trees(data_dir / "sst5" / "train.txt").dataset["text"]
    }
    assert len(lines) > 8000 and set(lines) <= train
    assert not set(lines) & (held_out - train)


def test_encoding_reads_a_latin_1_task_file(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "data" / "sst2"
    folder.mkdir(parents=True)
    rows = "sentence\tlabel\ncafé au lait\t1\nun film raté\t0\n" + "".join(
        f"phrase {i}\t{i % 2}\n" for i in range(20)
    )
    for split in ("train", "dev", "test"):
        (folder / f"{split}.tsv").write_bytes(rows.encode("latin-1"))
    output = tmp_path / "tasks.txt"
    assert main(["tasks=sst2", f"output={output}", f"data_dir={tmp_path / 'data'}"]) == 1
    assert "line 2" in capsys.readouterr().err
    assert (
        main(
            ["tasks=sst2", f"output={output}", f"data_dir={tmp_path / 'data'}", "encoding=latin-1"]
        )
        == 0
    )
    assert "café au lait" in output.read_text(encoding="utf-8").splitlines()
