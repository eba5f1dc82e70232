"""CoNLL column files: reading rules and errors, the Dataset view, writing, and the real corpus."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from elmo_tasks.data.conll import Sentence, read_conll, to_dataset, write_conll
from elmo_tasks.data.tags import detect_scheme
from elmo_tasks.tasks.metrics import conll_scores

SAMPLE = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP B-LOC
"""

EXPECTED = [
    Sentence(["EU", "rejects"], ["B-ORG", "O"], 3),
    Sentence(["Peter", "Blackburn"], ["B-PER", "I-PER"], 6),
    Sentence(["BRUSSELS"], ["B-LOC"], 11),
]


def _write(tmp_path: Path, text: str, name: str = "sample.txt", newline: str = "\n") -> Path:
    path = tmp_path / name
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


def test_reads_sentences_and_drops_docstart(tmp_path: Path) -> None:
    assert read_conll(_write(tmp_path, SAMPLE)) == EXPECTED


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("trailing", ["", "\n", "\n\n\n"])
def test_line_ends_and_trailing_blank_lines(tmp_path: Path, newline: str, trailing: str) -> None:
    text = SAMPLE.rstrip("\n") + trailing
    assert read_conll(_write(tmp_path, text, newline=newline)) == EXPECTED


def test_columns_and_extra_blank_lines(tmp_path: Path) -> None:
    text = "\n\nEU\tNNP  B-NP   B-ORG\n\n\n\nrejects VBZ B-VP O  \n"
    path = _write(tmp_path, text)
    assert read_conll(path) == [Sentence(["EU"], ["B-ORG"], 3), Sentence(["rejects"], ["O"], 7)]
    assert read_conll(path, token_column=1, tag_column=2) == [
        Sentence(["NNP"], ["B-NP"], 3),
        Sentence(["VBZ"], ["B-VP"], 7),
    ]


def test_column_count_mismatch_names_file_line_and_count(tmp_path: Path) -> None:
    path = _write(tmp_path, "EU NNP B-NP B-ORG\n\nrejects VBZ O\n")
    with pytest.raises(
        ValueError, match=rf"{re.escape(str(path))}, line 3: expected 4 columns.*got 3"
    ):
        read_conll(path)


def test_column_index_out_of_range(tmp_path: Path) -> None:
    path = _write(tmp_path, "EU B-ORG\n")
    with pytest.raises(
        ValueError, match=rf"{re.escape(str(path))}, line 1: tag_column=5 but lines have 2 columns"
    ):
        read_conll(path, tag_column=5)


@pytest.mark.parametrize("text", ["", "\n\n", "-DOCSTART- -X- -X- O\n\n"])
def test_empty_file_names_the_file(tmp_path: Path, text: str) -> None:
    path = _write(tmp_path, text, name="empty.txt")
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}: no sentences"):
        read_conll(path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "train.txt"
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        read_conll(path)


def test_sentence_checks_lengths() -> None:
    with pytest.raises(ValueError, match="line 4: 2 tokens but 1 tags"):
        Sentence(["a", "b"], ["O"], 4)


def test_to_dataset(tmp_path: Path) -> None:
    dataset = to_dataset(read_conll(_write(tmp_path, SAMPLE)))
    assert dataset.column_names == ["tokens", "tags", "line"]
    assert len(dataset) == 3
    assert dataset[1] == {"tokens": ["Peter", "Blackburn"], "tags": ["B-PER", "I-PER"], "line": 6}
    assert len(to_dataset([])) == 0


def test_write_then_read_back(tmp_path: Path) -> None:
    tokens = [["EU", "rejects"], ["Peter", "Blackburn"]]
    gold = [["B-ORG", "O"], ["B-PER", "I-PER"]]
    pred = [["B-ORG", "O"], ["B-PER", "O"]]
    path = tmp_path / "out" / "pred.txt"
    write_conll(path, tokens, gold, pred)
    assert (
        path.read_text()
        == "EU B-ORG B-ORG\nrejects O O\n\nPeter B-PER B-PER\nBlackburn I-PER O\n\n"
    )
    back = read_conll(path, tag_column=1)
    assert [s.tokens for s in back] == tokens and [s.tags for s in back] == gold
    assert [s.tags for s in read_conll(path, tag_column=2)] == pred


def test_write_rejects_what_would_break_columns(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sentence 1: 1 tokens, 1 gold and 2 pred tags"):
        write_conll(tmp_path / "x.txt", [["a"], ["b"]], [["O"], ["O"]], [["O"], ["O", "O"]])
    with pytest.raises(ValueError, match="sentence 0, token 1: token 'New York'"):
        write_conll(tmp_path / "x.txt", [["in", "New York"]], [["O", "B-LOC"]], [["O", "B-LOC"]])
    with pytest.raises(ValueError, match="1 token sentences, 2 gold"):
        write_conll(tmp_path / "x.txt", [["a"]], [["O"], ["O"]], [["O"], ["O"]])


SIZES = {"train": (14_041, 203_621), "dev": (3_250, 51_362), "test": (3_453, 46_435)}
CONLL_TAGS = {"O"} | {f"{p}-{t}" for p in "BI" for t in ("PER", "LOC", "ORG", "MISC")}


@pytest.mark.parametrize("split", sorted(SIZES))
def test_real_conll2003(split: str, data_dir: Path) -> None:
    path = data_dir / "conll2003" / f"{split}.txt"
    if not path.is_file():
        pytest.skip(
            f"CoNLL-2003 {split} not found at {path} (set ELMO_TASKS_DATA to the shared data folder)"
        )
    start = time.perf_counter()
    sentences = read_conll(path)
    elapsed = time.perf_counter() - start
    n_sentences, n_tokens = SIZES[split]
    assert len(sentences) == n_sentences
    assert sum(len(s.tokens) for s in sentences) == n_tokens
    gold = [s.tags for s in sentences]
    assert detect_scheme(gold) == "BIO"
    assert {t for tags in gold for t in tags} == CONLL_TAGS
    assert conll_scores(gold, gold)["f1"] == 1.0
    if split == "train":
        assert elapsed < 5.0, f"reading {path} took {elapsed:.1f} s"
