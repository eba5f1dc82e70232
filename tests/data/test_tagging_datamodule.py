"""TaggingDataModule: schemes in and out, tag sets, errors with file and line, long sentences, batches."""

from __future__ import annotations

import warnings
from pathlib import Path

import datasets
import pytest
import torch

from elmo_tasks.data import TaggingDataModule
from elmo_tasks.data.classification import HubUnavailableError
from elmo_tasks.data.tagging_datamodule import (
    chunk_sentence,
    sentences_from_hub_dataset,
    tag_set,
)

# IOB1 (the original CoNLL-2003 scheme): an entity starts with I- unless it follows one of its type.
IOB1_TRAIN = """\
-DOCSTART- O

John I-PER
Smith I-PER
met O
Anna I-PER
in O
Paris I-LOC
. O

The O
Berlin I-ORG
Office I-ORG
called O
"""
IOB1_TEST = """\
Smith I-PER
Anna B-PER
flew O
to O
Paris I-LOC

Office I-ORG
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def conll(sentences: list[list[tuple[str, str]]]) -> str:
    return "\n".join(
        "".join(f"{token} {tag}\n" for token, tag in sentence) for sentence in sentences
    )


def module(
    tmp_path: Path, train: str, validation: str | None = None, test: str | None = None, **kwargs
) -> TaggingDataModule:
    """A set-up data module over the given file contents (written to train.txt, dev.txt, test.txt)."""
    files = {"train_file": write(tmp_path / "train.txt", train)}
    if validation is not None:
        files["validation_file"] = write(tmp_path / "dev.txt", validation)
    if test is not None:
        files["test_file"] = write(tmp_path / "test.txt", test)
    dm = TaggingDataModule("toy", **{key: str(path) for key, path in files.items()}, **kwargs)
    dm.setup()
    return dm


def row_tags(dm: TaggingDataModule, split: str) -> list[list[str]]:
    return [[dm.labels[i] for i in row["tags"]] for row in dm.splits[split]]


def gold_as_predictions(dm: TaggingDataModule, split: str) -> dict[int, list[str]]:
    return {row["index"]: [dm.labels[i] for i in row["tags"]] for row in dm.splits[split]}


# --------------------------------------------------------------------------- schemes


def test_iob1_input_is_learned_as_bio_and_written_back_as_iob1(tmp_path: Path) -> None:
    dm = module(tmp_path, IOB1_TRAIN, IOB1_TEST, IOB1_TEST)
    assert dm.input_scheme == "IOB1" and dm.module_kwargs() == {
        "labels": dm.labels,
        "scheme": "BIO",
    }
    assert dm.labels == ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    assert row_tags(dm, "train") == [
        ["B-PER", "I-PER", "O", "B-PER", "O", "B-LOC", "O"],
        ["O", "B-ORG", "I-ORG", "O"],
    ]
    assert row_tags(dm, "test")[0] == ["B-PER", "B-PER", "O", "O", "B-LOC"]
    tokens, gold, pred = dm.output_sentences("test", gold_as_predictions(dm, "test"))
    assert tokens == [["Smith", "Anna", "flew", "to", "Paris"], ["Office"]]
    assert pred == gold == [["I-PER", "B-PER", "O", "O", "I-LOC"], ["I-ORG"]]


def test_bio_input_learned_as_bioes_and_written_back_as_bio(tmp_path: Path) -> None:
    train = conll([[("John", "B-PER"), ("Smith", "I-PER"), ("in", "O"), ("Paris", "B-LOC")]])
    dm = module(tmp_path, train, train, train, scheme="BIOES")
    assert dm.input_scheme == "BIO"
    assert dm.labels == tag_set(["LOC", "PER"], "BIOES") and "E-LOC" in dm.labels
    assert row_tags(dm, "train") == [["B-PER", "E-PER", "O", "S-LOC"]]
    _, gold, pred = dm.output_sentences("test", gold_as_predictions(dm, "test"))
    assert pred == gold == [["B-PER", "I-PER", "O", "B-LOC"]]


def test_tag_set_has_every_prefix_of_each_train_type(tmp_path: Path) -> None:
    """Train has only one-token LOC entities; a two-token LOC in test is still a known tag."""
    train = conll([[("Paris", "B-LOC"), ("is", "O")]])
    test = conll([[("New", "B-LOC"), ("York", "I-LOC")]])
    dm = module(tmp_path, train, train, test)
    assert dm.labels == ["O", "B-LOC", "I-LOC"]
    assert row_tags(dm, "test") == [["B-LOC", "I-LOC"]]


# --------------------------------------------------------------------------- errors


def test_unknown_tag_names_file_line_and_tag(tmp_path: Path) -> None:
    dev = "Anna B-PER\nsaw O\n\nBerlin B-LOC\n"
    with pytest.raises(
        ValueError, match=r"dev\.txt, line 4: unknown tag 'B-LOC': entity type 'LOC' does not occur"
    ):
        module(tmp_path, IOB1_TRAIN.replace("I-LOC", "O"), dev)


def test_malformed_tag_names_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"train\.txt, line 3: 'PER' is not an entity tag"):
        module(tmp_path, "John B-PER\n\nSmith PER\n")


def test_tag_of_another_scheme_names_file_and_line(tmp_path: Path) -> None:
    test = "John S-PER\n"
    with pytest.raises(
        ValueError, match=r"test\.txt, line 1: tag 'S-PER' is not valid in the IOB1 scheme"
    ):
        module(tmp_path, IOB1_TRAIN, IOB1_TEST, test)


def test_wrong_column_count_names_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"train\.txt, line 3: expected 2 columns .* got 3"):
        module(tmp_path, "John B-PER\nSmith I-PER\nsaw NN O\n")


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"test\.txt: no sentences found"):
        module(tmp_path, IOB1_TRAIN, IOB1_TEST, "\n\n-DOCSTART- O\n\n")


def test_missing_train_file_and_bad_options(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        TaggingDataModule("toy", str(tmp_path / "nope.txt")).setup()
    with pytest.raises(ValueError, match="train_file is not set"):
        TaggingDataModule("toy").setup()
    with pytest.raises(ValueError, match="BIO or BIOES"):
        TaggingDataModule("toy", scheme="IOB1")
    with pytest.raises(ValueError, match="long_sentences"):
        TaggingDataModule("toy", long_sentences="truncate")


# --------------------------------------------------------------------------- long sentences

LONG = [
    ("a", "O"),
    ("b", "B-PER"),
    ("c", "I-PER"),
    ("d", "I-PER"),
    ("e", "O"),
    ("f", "B-LOC"),
    ("g", "O"),
    ("h", "B-ORG"),
    ("i", "I-ORG"),
    ("j", "O"),
]


@pytest.mark.parametrize("scheme", ["BIO", "BIOES"])
def test_long_sentences_are_split_between_entities_and_joined_back(
    tmp_path: Path, scheme: str
) -> None:
    text = conll([[("x", "O")], LONG])
    dm = module(tmp_path, text, text, text, max_length=4, scheme=scheme)
    rows = [row for row in dm.splits["test"] if row["sentence"] == 1]
    assert [row["tokens"] for row in rows] == [
        ["a", "b", "c", "d"],
        ["e", "f", "g"],
        ["h", "i", "j"],
    ]
    assert [row["offset"] for row in rows] == [0, 4, 7]
    for tags in row_tags(dm, "test"):
        assert not tags[0].startswith(("I-", "E-"))
    tokens, gold, pred = dm.output_sentences("test", gold_as_predictions(dm, "test"))
    assert tokens[1] == [token for token, _ in LONG]
    assert pred == gold and gold[1] == [tag for _, tag in LONG]
    assert sum(map(len, dm.sentences()["test"])) == len(LONG) + 1


def test_an_entity_longer_than_max_length_is_cut_with_a_warning() -> None:
    with pytest.warns(UserWarning, match="longer than max_length=2"):
        chunks = chunk_sentence(["B-PER", "I-PER", "I-PER", "O"], 2, "BIO")
    assert chunks == [(0, ["B-PER", "I-PER"]), (2, ["B-PER", "O"])]
    with pytest.warns(UserWarning):
        chunks = chunk_sentence(["B-PER", "I-PER", "I-PER", "E-PER"], 3, "BIOES")
    assert chunks == [(0, ["B-PER", "I-PER", "E-PER"]), (3, ["S-PER"])]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        chunks = chunk_sentence(["O", "S-PER", "B-LOC", "E-LOC"], 3, "BIOES")
    assert chunks == [(0, ["O", "S-PER"]), (2, ["B-LOC", "E-LOC"])]


def test_long_sentences_error_names_file_line_and_limit(tmp_path: Path) -> None:
    text = conll([[("x", "O")], LONG])
    message = r"train\.txt, line 3: sentence of 10 tokens is longer than task\.max_length=4"
    with pytest.raises(ValueError, match=message):
        module(tmp_path, text, text, max_length=4, long_sentences="error")


# --------------------------------------------------------------------------- splits and batches


def test_held_out_validation_is_seeded_and_disjoint(tmp_path: Path) -> None:
    sentences = [[(f"w{i}", "O"), ("Paris", "B-LOC")] for i in range(40)]
    text = conll(sentences)

    def held(seed: int) -> list[str]:
        dm = TaggingDataModule("toy", write(tmp_path / "train.txt", text), seed=seed)
        dm.setup()
        train = [row["tokens"][0] for row in dm.splits["train"]]
        validation = [row["tokens"][0] for row in dm.splits["validation"]]
        assert len(validation) == 4 and len(train) == 36 and not set(train) & set(validation)
        assert train == sorted(train, key=lambda w: int(w[1:]))  # file order kept
        return validation

    assert held(1) == held(1) and held(1) != held(2)


def test_a_tiny_train_file_still_gives_a_validation_sentence(tmp_path: Path) -> None:
    dm = module(tmp_path, conll([[("a", "O")], [("b", "O")], [("c", "B-X")]]))
    assert (len(dm.splits["train"]), len(dm.splits["validation"])) == (2, 1)
    with pytest.raises(ValueError, match="too few to hold out"):
        module(tmp_path, conll([[("a", "B-X")]]))  # (a file tagged only O is refused before)


def test_batches_vocabulary_and_caps(tmp_path: Path) -> None:
    dm = module(tmp_path, IOB1_TRAIN, IOB1_TEST, IOB1_TEST, batch_size=2, max_eval_samples=1)
    assert len(dm.splits["validation"]) == len(dm.splits["test"]) == 1
    assert set(dm.vocabulary) == set(
        "John Smith met Anna in Paris . The Berlin Office called".split()
    )
    batch = next(iter(dm.train_dataloader()))
    lengths = [len(tokens) for tokens in batch["tokens"]]
    assert batch["tags"].shape == (2, max(lengths)) and batch["tags"].dtype == torch.long
    for row, length in enumerate(lengths):
        assert bool((batch["tags"][row, length:] == -100).all()) and bool(
            (batch["tags"][row, :length] >= 0).all()
        )
    assert sorted(batch["index"].tolist()) == [0, 1]


def test_vocabulary_is_most_frequent_first(tmp_path: Path) -> None:
    dm = module(
        tmp_path, conll([[("b", "O"), ("a", "O"), ("b", "O"), ("c", "B-X")]]), conll([[("a", "O")]])
    )
    assert dm.vocabulary == ["b", "a", "c"]


def test_real_conll2003_counts(data_dir: Path) -> None:
    directory = data_dir / "conll2003"
    if not directory.is_dir():
        pytest.skip(f"{directory} not found (set ELMO_TASKS_DATA to the shared data folder)")
    dm = TaggingDataModule(
        "conll2003", *(str(directory / f"{s}.txt") for s in ("train", "dev", "test"))
    )
    dm.setup()
    assert dm.input_scheme == "BIO"
    assert dm.labels == tag_set(["LOC", "MISC", "ORG", "PER"], "BIO")
    assert {split: len(rows) for split, rows in dm.splits.items()} == {
        "train": 14041,
        "validation": 3250,
        "test": 3453,
    }
    assert sum(len(row["tokens"]) for row in dm.splits["test"]) == 46435


# --------------------------------------------------------------------------- hub


def test_hub_rows_with_class_label_tags() -> None:
    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=["O", "B-PER", "I-PER"])),
        }
    )
    rows = {"tokens": [["John", "Smith"], [], ["ok"]], "ner_tags": [[1, 2], [], [0]]}
    raw = datasets.Dataset.from_dict(rows, features=features)
    with pytest.warns(UserWarning, match="skipped 1 row"):
        split = sentences_from_hub_dataset(raw, "conll2003 [train]")
    sentences = [(s.tokens, s.tags, s.line) for s in split.sentences]
    assert sentences == [(["John", "Smith"], ["B-PER", "I-PER"], 0), (["ok"], ["O"], 2)]
    assert split.where(split.sentences[1], 0) == "conll2003 [train], row 2"


def test_hub_offline_fails_at_once_with_a_pointer_to_local_files(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    dm = TaggingDataModule("hub", train_file="train", hub_name="no-such-user-0x1/no-such-ner")
    with pytest.raises(
        HubUnavailableError, match=r"(?s)no-such-user-0x1/no-such-ner \[train\].*task=conll2003"
    ):
        dm.setup()
