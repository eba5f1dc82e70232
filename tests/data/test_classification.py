"""Classification readers: the shared data sets' sizes and label counts, and hand-written edge cases."""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import datasets
import pytest

from elmo_tasks.data.classification import (
    SST3_LABELS,
    SST5_LABELS,
    HubUnavailableError,
    LabelledSplit,
    cap,
    parse_sst_tree,
    read_sst_trees,
    read_table,
    read_tweeteval,
    split_from_hub_dataset,
    stratified_split,
)


@pytest.fixture(scope="module")
def hf_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private ``datasets`` cache, so that the tests neither read nor fill ``~/.cache``."""
    cache = tmp_path_factory.mktemp("hf_datasets_cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
        yield cache


def shared(data_dir: Path, name: str) -> Path:
    directory = data_dir / name
    if not directory.is_dir():
        pytest.skip(f"{directory} not found (set ELMO_TASKS_DATA to the shared data folder)")
    return directory


def counts(split: LabelledSplit) -> list[int]:
    tally = collections.Counter(split.dataset["label"][:])
    return [tally[index] for index in range(len(split.labels))]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- shared data


def test_sst2_dev(data_dir: Path, hf_cache: Path) -> None:
    split = read_table(
        shared(data_dir, "sst2") / "dev.tsv", text_column="sentence", cache_dir=hf_cache
    )
    assert len(split) == 872
    assert split.labels == ["0", "1"]
    assert counts(split) == [428, 444]
    assert split.dataset[0] == {
        "text": "it 's a charming and often affecting journey . ",
        "label": 1,
        "line": 2,
    }
    assert split.dataset[-1]["line"] == 873
    assert split.dataset.features["label"].names == ["0", "1"]
    assert all(str(hf_cache) in entry["filename"] for entry in split.dataset.cache_files)


def test_sst2_train_and_dev_with_train_labels(data_dir: Path, hf_cache: Path) -> None:
    directory = shared(data_dir, "sst2")
    train = read_table(directory / "train.tsv", text_column="sentence", cache_dir=hf_cache)
    assert len(train) == 67_349
    assert counts(train) == [29_780, 37_569]
    dev = read_table(
        directory / "dev.tsv", text_column="sentence", labels=train.labels, cache_dir=hf_cache
    )
    assert counts(dev) == [428, 444]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("train", [1092, 2218, 1624, 2322, 1288]),
        ("dev", [139, 289, 229, 279, 165]),
        ("test", [279, 633, 389, 510, 399]),
    ],
)
def test_sst5_root_label_counts(data_dir: Path, name: str, expected: list[int]) -> None:
    start = time.perf_counter()
    split = read_sst_trees(shared(data_dir, "sst5") / f"{name}.txt")
    assert time.perf_counter() - start < 2.0
    assert split.labels == SST5_LABELS
    assert counts(split) == expected
    assert len(split) == sum(expected)
    assert split.dataset["line"][:] == list(range(1, len(split) + 1))


def test_sst3_collapse(data_dir: Path) -> None:
    split = read_sst_trees(shared(data_dir, "sst5") / "train.txt", fine_grained=False)
    assert split.labels == SST3_LABELS
    assert counts(split) == [1092 + 2218, 1624, 2322 + 1288]


def test_sst_text_from_leaves(data_dir: Path) -> None:
    split = read_sst_trees(shared(data_dir, "sst5") / "train.txt")
    assert split.dataset[0]["text"].startswith(
        "The Rock is destined to be the 21st Century 's new `` Conan '' and"
    )
    texts = split.dataset["text"][:]
    assert not any("-LRB-" in text or "-RRB-" in text or "\\/" in text for text in texts)
    assert sum("(" in text for text in texts) > 0
    # line 4342 has a leaf with a no-break space and an escaped slash: "8\xa01\/2"
    assert "Contempt and 8\xa01/2 ." in split.dataset[4341]["text"]


def test_tweet_sentiment_extraction_train_skips_the_empty_text(
    data_dir: Path, hf_cache: Path
) -> None:
    path = shared(data_dir, "tweet_sentiment_extraction") / "train.jsonl"
    with pytest.warns(UserWarning, match=r"skipped 1 row\(s\) with empty text at line\(s\) 315$"):
        split = read_table(path, cache_dir=hf_cache)
    assert len(split) == 27_481 - 1
    assert split.labels == ["0", "1", "2"]
    assert counts(split) == [7_781, 11_118 - 1, 8_582]  # the empty row is a neutral one
    lines = split.dataset["line"][:]
    assert 315 not in lines and lines[:3] == [1, 2, 3] and lines[-1] == 27_481


def test_tweet_sentiment_extraction_test_by_label_text(data_dir: Path, hf_cache: Path) -> None:
    path = shared(data_dir, "tweet_sentiment_extraction") / "test.jsonl"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        split = read_table(path, label_column="label_text", cache_dir=hf_cache)
    assert len(split) == 3_534
    assert split.labels == ["negative", "neutral", "positive"]
    assert counts(split) == [1_001, 1_430, 1_103]


def test_tweeteval_val(data_dir: Path) -> None:
    split = read_tweeteval(shared(data_dir, "tweeteval_sentiment"), "val")
    assert len(split) == 2_000
    assert split.labels == ["negative", "neutral", "positive"]
    assert counts(split) == [312, 869, 819]
    assert split.dataset["line"][:] == list(range(1, 2_001))


def test_tweeteval_train_text_is_missing(data_dir: Path) -> None:
    directory = shared(data_dir, "tweeteval_sentiment")
    if (directory / "train_text.txt").exists():
        pytest.skip("train_text.txt has been supplied")
    with pytest.raises(FileNotFoundError, match=r"train_text\.txt.*split='val'") as caught:
        read_tweeteval(directory, "train")
    assert caught.value.filename == str(directory / "train_text.txt")


# --------------------------------------------------------------------------- read_table on small files


def test_csv_with_string_labels_quotes_and_multiline_fields(tmp_path: Path, hf_cache: Path) -> None:
    path = write(
        tmp_path / "small.csv",
        'id,text,label\n1,"good, really",pos\n2,"two\nlines",neg\n\n3,NA,neutral\n4,007,pos\n',
    )
    split = read_table(path, cache_dir=hf_cache)
    assert split.labels == ["neg", "neutral", "pos"]
    assert split.dataset[:] == {
        "text": ["good, really", "two\nlines", "NA", "007"],
        "label": [2, 0, 1, 2],
        "line": [2, 3, 6, 7],
    }
    assert split.source == str(path)


def test_tsv_with_int_labels_sorted_numerically(tmp_path: Path, hf_cache: Path) -> None:
    path = write(
        tmp_path / "small.tsv", 'sentence\tlabel\nhe said "hi\t10\n"quoted" text\t2\nthird\t1\n'
    )
    split = read_table(path, text_column="sentence", cache_dir=hf_cache)
    assert split.labels == ["1", "2", "10"]
    assert split.dataset[:] == {
        "text": ['he said "hi', '"quoted" text', "third"],
        "label": [2, 1, 0],
        "line": [2, 3, 4],
    }


def test_jsonl_blank_lines(tmp_path: Path, hf_cache: Path) -> None:
    path = write(
        tmp_path / "small.jsonl",
        '{"text": "a", "label": 2}\n\n{"text": "b", "label": 1}\n   \n{"text": "c", "label": 10}\n',
    )
    split = read_table(path, cache_dir=hf_cache)
    assert split.labels == ["1", "2", "10"]
    assert split.dataset[:] == {"text": ["a", "b", "c"], "label": [1, 0, 2], "line": [1, 3, 5]}


def test_jsonl_mixed_label_types(tmp_path: Path, hf_cache: Path) -> None:
    path = write(
        tmp_path / "mixed.jsonl",
        '{"text": "a", "label": 2}\n{"text": "b", "label": "other"}\n{"text": "c", "label": 10}\n',
    )
    split = read_table(path, cache_dir=hf_cache)
    assert split.labels == ["2", "10", "other"]
    assert split.dataset[:] == {"text": ["a", "b", "c"], "label": [0, 2, 1], "line": [1, 2, 3]}
    # datasets cannot load mixed types once a blank line breaks its type sniffing: the error says why
    gappy = write(
        tmp_path / "gappy.jsonl", '{"text": "a", "label": 2}\n\n{"text": "b", "label": "other"}\n'
    )
    message = r"gappy\.jsonl, line 3: field 'label' is a string here but a number on line 1"
    with pytest.raises(ValueError, match=message):
        read_table(gappy, cache_dir=hf_cache)


def test_json_extension_is_json_lines(tmp_path: Path, hf_cache: Path) -> None:
    path = write(tmp_path / "small.json", '{"text": "a", "label": "x"}\n')
    assert read_table(path, cache_dir=hf_cache).dataset[0] == {"text": "a", "label": 0, "line": 1}
    array = write(tmp_path / "array.json", '[{"text": "a", "label": "x"}]\n')
    with pytest.raises(ValueError, match=r"array\.json: expected JSON lines"):
        read_table(array, cache_dir=hf_cache)


def test_validation_file_uses_train_labels(tmp_path: Path, hf_cache: Path) -> None:
    train = read_table(
        write(tmp_path / "train.csv", "text,label\na,pos\nb,neg\n"), cache_dir=hf_cache
    )
    dev = read_table(
        write(tmp_path / "dev.csv", "text,label\nc,pos\n"), labels=train.labels, cache_dir=hf_cache
    )
    assert dev.labels == ["neg", "pos"] and dev.dataset["label"][:] == [1]
    bad = write(tmp_path / "bad_dev.csv", "text,label\nc,pos\nd,neutral\n")
    with pytest.raises(
        ValueError,
        match=r"bad_dev\.csv, line 3: unknown label 'neutral'; known labels: 'neg', 'pos'",
    ):
        read_table(bad, labels=train.labels, cache_dir=hf_cache)


def test_int_labels_of_a_validation_jsonl_match_a_tsv_train(tmp_path: Path, hf_cache: Path) -> None:
    train = read_table(
        write(tmp_path / "train.tsv", "text\tlabel\na\t0\nb\t1\n"), cache_dir=hf_cache
    )
    dev = write(tmp_path / "dev.jsonl", '{"text": "c", "label": 1}\n{"text": "d", "label": 7}\n')
    with pytest.raises(
        ValueError, match=r"dev\.jsonl, line 2: unknown label '7'; known labels: '0', '1'"
    ):
        read_table(dev, labels=train.labels, cache_dir=hf_cache)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("cols.csv", "sentence,label\na,1\n"),
        ("cols.tsv", "sentence\tlabel\na\t1\n"),
        ("cols.jsonl", '{"sentence": "a", "label": 1}\n'),
    ],
)
def test_missing_column_lists_available_ones(
    tmp_path: Path, hf_cache: Path, name: str, content: str
) -> None:
    path = write(tmp_path / name, content)
    with pytest.raises(
        ValueError, match=rf"{name}: no column 'text'; available columns: 'sentence', 'label'"
    ):
        read_table(path, cache_dir=hf_cache)


def test_malformed_json_line_is_named(tmp_path: Path, hf_cache: Path) -> None:
    path = write(
        tmp_path / "broken.jsonl",
        '{"text": "a", "label": 1}\n{"text": "b", label: 2}\n{"text": "c", "label": 1}\n',
    )
    with pytest.raises(ValueError, match=r"broken\.jsonl, line 2: not valid JSON"):
        read_table(path, cache_dir=hf_cache)


def test_csv_row_with_wrong_field_count_is_named(tmp_path: Path, hf_cache: Path) -> None:
    path = write(tmp_path / "fields.csv", "text,label\na,1\nb,2,3\n")
    with pytest.raises(
        ValueError, match=r"fields\.csv, line 3: expected 2 fields \(text, label\), found 3"
    ):
        read_table(path, cache_dir=hf_cache)


def test_empty_texts_are_skipped_with_a_warning(tmp_path: Path, hf_cache: Path) -> None:
    path = write(
        tmp_path / "empty.jsonl",
        '{"text": "a", "label": 1}\n{"text": "", "label": 1}\n{"text": "  ", "label": 0}\n'
        '{"text": null, "label": 0}\n{"text": "b", "label": 0}\n',
    )
    with pytest.warns(
        UserWarning, match=r"empty\.jsonl: skipped 3 row\(s\) with empty text at line\(s\) 2, 3, 4"
    ):
        split = read_table(path, cache_dir=hf_cache)
    assert split.dataset[:] == {"text": ["a", "b"], "label": [1, 0], "line": [1, 5]}


@pytest.mark.parametrize(
    ("name", "content", "line"),
    [
        ("nolabel.csv", "text,label\na,1\nb,\n", 3),
        ("blanklabel.tsv", "text\tlabel\na\t1\nb\t  \n", 3),
        ("nolabel.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": null}\n', 2),
        ("nolabel2.jsonl", '{"text": "a", "label": 1}\n{"text": "b"}\n', 2),
    ],
)
def test_missing_label_is_an_error(
    tmp_path: Path, hf_cache: Path, name: str, content: str, line: int
) -> None:
    path = write(tmp_path / name, content)
    with pytest.raises(
        ValueError, match=rf"{name}, line {line}: missing label \(field 'label' is empty\)"
    ):
        read_table(path, cache_dir=hf_cache)


def test_bad_value_types_are_errors(tmp_path: Path, hf_cache: Path) -> None:
    floats = write(tmp_path / "floats.jsonl", '{"text": "a", "label": 0.5}\n')
    with pytest.raises(
        ValueError, match=r"floats\.jsonl, line 1: label 0\.5 in field 'label' is a float"
    ):
        read_table(floats, cache_dir=hf_cache)
    numbers = write(
        tmp_path / "numbers.jsonl", '{"text": "a", "label": 0}\n{"text": 5, "label": 0}\n'
    )
    with pytest.raises(ValueError, match=r"numbers\.jsonl, line 2: field 'text' holds a int \(5\)"):
        read_table(numbers, cache_dir=hf_cache)


def test_missing_and_unsupported_files(tmp_path: Path, hf_cache: Path) -> None:
    with pytest.raises(FileNotFoundError, match="absent.tsv"):
        read_table(tmp_path / "absent.tsv", cache_dir=hf_cache)
    with pytest.raises(ValueError, match=r"unsupported file type '\.txt'"):
        read_table(write(tmp_path / "data.txt", "text,label\n"), cache_dir=hf_cache)
    with pytest.raises(ValueError, match=r"header\.csv: no data rows"):
        read_table(write(tmp_path / "header.csv", "text,label\n"), cache_dir=hf_cache)
    with pytest.raises(ValueError, match=r"blank\.jsonl: no data rows"):
        read_table(write(tmp_path / "blank.jsonl", "\n \n"), cache_dir=hf_cache)


# --------------------------------------------------------------------------- SST trees and TweetEval layout


def test_parse_sst_tree() -> None:
    label, leaves = parse_sst_tree(
        "(3 (2 (2 The) (2 -LRB-Rock-RRB-)) (4 (2 -LRB-) (4 great\\/fun) (2 -RRB-)))\n"
    )
    assert label == 3
    assert leaves == ["The", "-LRB-Rock-RRB-", "(", "great/fun", ")"]


@pytest.mark.parametrize(
    ("tree", "reason"),
    [
        ("(3 (2 a) (2 b)", "not closed"),
        ("(3 (2 a) (2 b)))", r"unbalanced '\)'"),
        ("(7 (2 a))", "label must be 0..4, found '7'"),
        ("(3 (2 a b))", "leaf 'a' is not closed"),
        ("(3 (2 a) word)", "word 'word' outside a leaf"),
        ("(3 (2 a)) (2 b)", "after the end of the tree"),
        ("(3 ())", "label must be 0..4"),
        ("(3 (2))", "empty node"),
        ("3 (2 a)", "must start with"),
    ],
)
def test_malformed_sst_tree_names_file_and_line(tmp_path: Path, tree: str, reason: str) -> None:
    path = write(tmp_path / "trees.txt", f"(2 (2 fine))\n{tree}\n")
    with pytest.raises(ValueError, match=rf"trees\.txt, line 2: malformed SST tree: .*{reason}"):
        read_sst_trees(path)


def test_small_sst_file(tmp_path: Path) -> None:
    trees = "(0 (1 bad) (0 film))\n(4 (3 good) (4 (2 -LRB-) (3 film) (2 -RRB-)))\n(2 (2 ok))\n"
    path = write(tmp_path / "trees.txt", trees)
    fine = read_sst_trees(path)
    assert fine.dataset[:] == {
        "text": ["bad film", "good ( film )", "ok"],
        "label": [0, 4, 2],
        "line": [1, 2, 3],
    }
    assert read_sst_trees(path, fine_grained=False).dataset["label"][:] == [0, 2, 1]
    with pytest.raises(FileNotFoundError, match="absent.txt"):
        read_sst_trees(tmp_path / "absent.txt")


def make_tweeteval(directory: Path, texts: str, labels: str) -> Path:
    directory.mkdir()
    write(directory / "mapping.txt", "0\tnegative\n1\tneutral\n2\tpositive\n")
    write(directory / "val_text.txt", texts)
    write(directory / "val_labels.txt", labels)
    return directory


def test_small_tweeteval(tmp_path: Path) -> None:
    directory = make_tweeteval(
        tmp_path / "te", "good day @user \nbad\u2028day\n \nmeh\n", "2\n0\n1\n1\n"
    )
    with pytest.warns(UserWarning, match=r"skipped 1 row\(s\) with empty text at line\(s\) 3$"):
        split = read_tweeteval(directory, "validation")
    assert split.dataset[:] == {
        "text": ["good day @user ", "bad\u2028day", "meh"],
        "label": [2, 0, 1],
        "line": [1, 2, 4],
    }


def test_tweeteval_errors(tmp_path: Path) -> None:
    directory = make_tweeteval(tmp_path / "te", "one\ntwo\nthree\n", "0\n1\n")
    with pytest.raises(ValueError, match=r"val_text\.txt has 3 lines but .*val_labels\.txt has 2"):
        read_tweeteval(directory, "val")
    write(directory / "val_labels.txt", "0\n3\n1\n")
    with pytest.raises(
        ValueError, match=r"val_labels\.txt, line 2: label '3' is not one of 0\.\.2"
    ):
        read_tweeteval(directory, "val")
    with pytest.raises(FileNotFoundError, match="test_labels.txt"):
        read_tweeteval(directory, "test")


# --------------------------------------------------------------------------- hub


def test_read_hub_offline_fails_at_once_with_a_pointer_to_local_files(tmp_path: Path) -> None:
    env = dict(
        os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(tmp_path / "hf")
    )
    code = (
        "import time\n"
        "from elmo_tasks.data.classification import HubUnavailableError, read_hub\n"
        "start = time.perf_counter()\n"
        "try:\n"
        "    read_hub('no-such-user-0x1/no-such-dataset', split='train')\n"
        "except HubUnavailableError as error:\n"
        "    print(f'{time.perf_counter() - start:.3f}', error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    seconds, message = result.stdout.split(" ", 1)
    assert float(seconds) < 10.0
    assert "no-such-user-0x1/no-such-dataset [train]" in message
    assert "offline mode is on" in message and "read_table(" in message


def test_read_hub_with_the_variable_set_after_import(monkeypatch: pytest.MonkeyPatch) -> None:
    from elmo_tasks.data.classification import read_hub

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(
        HubUnavailableError, match="(?s)set after `datasets` was imported.*read_sst_trees"
    ):
        read_hub("no-such-user-0x1/no-such-dataset")
    assert time.perf_counter() - start < 10.0


def test_split_from_hub_dataset_uses_class_label_names() -> None:
    features = datasets.Features(
        {"sentence": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}
    )
    raw = datasets.Dataset.from_dict(
        {"sentence": ["a", " ", "b"], "label": [1, 0, 0]}, features=features
    )
    with pytest.warns(UserWarning, match=r"skipped 1 row\(s\) with empty text at row\(s\) 1$"):
        split = split_from_hub_dataset(raw, text_column="sentence", source="glue/sst2 [train]")
    assert split.labels == ["neg", "pos"]
    assert split.dataset[:] == {"text": ["a", "b"], "label": [1, 0], "line": [0, 2]}
    unlabelled = datasets.Dataset.from_dict(
        {"sentence": ["a", "b"], "label": [0, -1]}, features=features
    )
    with pytest.raises(
        ValueError, match=r"glue/sst2 \[test\], row 1: label -1 is not one of 0\.\.1"
    ):
        split_from_hub_dataset(unlabelled, text_column="sentence", source="glue/sst2 [test]")


def test_split_from_hub_dataset_without_class_labels() -> None:
    raw = datasets.Dataset.from_dict({"text": ["a", "b", "c"], "label": ["x", "y", "x"]})
    split = split_from_hub_dataset(raw)
    assert split.labels == ["x", "y"] and split.dataset["label"][:] == [0, 1, 0]


# --------------------------------------------------------------------------- stratified_split and cap


def synthetic(sizes: list[int]) -> LabelledSplit:
    labels = [label for label, size in enumerate(sizes) for _ in range(size)]
    texts = [f"text {row}" for row in range(len(labels))]
    features = datasets.Features(
        {
            "text": datasets.Value("string"),
            "label": datasets.ClassLabel(num_classes=len(sizes)),
            "line": datasets.Value("int64"),
        }
    )
    dataset = datasets.Dataset.from_dict(
        {"text": texts, "label": labels, "line": list(range(1, len(labels) + 1))}, features=features
    )
    names = [str(label) for label in range(len(sizes))]
    return LabelledSplit(dataset.shuffle(seed=1).flatten_indices(), names, "synthetic")


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5, 0.9])
def test_stratified_split_keeps_proportions(fraction: float) -> None:
    sizes = [7, 130, 61, 2, 300]
    split = synthetic(sizes)
    train, validation = stratified_split(split, fraction, seed=0)
    assert len(train) + len(validation) == len(split)
    assert len(validation) == round(len(split) * fraction)
    for label, size in enumerate(sizes):
        assert abs(counts(validation)[label] - fraction * size) < 1
        assert abs(counts(train)[label] - (1 - fraction) * size) < 1
    lines_train, lines_validation = train.dataset["line"][:], validation.dataset["line"][:]
    assert not set(lines_train) & set(lines_validation)
    assert sorted(lines_train + lines_validation) == sorted(split.dataset["line"][:])
    original_order = split.dataset["line"][:]
    assert lines_validation == [line for line in original_order if line in set(lines_validation)]
    assert train.labels == validation.labels == split.labels


def test_stratified_split_is_seeded() -> None:
    split = synthetic([50, 80, 30])
    first = stratified_split(split, 0.2, seed=13)[1].dataset["line"][:]
    assert stratified_split(split, 0.2, seed=13)[1].dataset["line"][:] == first
    assert stratified_split(split, 0.2, seed=14)[1].dataset["line"][:] != first
    for fraction in (0.0, 1.0, -0.5):
        with pytest.raises(ValueError, match="strictly between 0 and 1"):
            stratified_split(split, fraction, seed=0)


def test_cap() -> None:
    split = synthetic([5, 5])
    assert cap(split, None) is split
    assert cap(split, 100) is split
    assert cap(split, 3).dataset[:] == split.dataset.select(range(3))[:]
    assert len(cap(split, 0)) == 0
    with pytest.raises(ValueError, match="max_samples"):
        cap(split, -1)
