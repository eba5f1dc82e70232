"""A labelled file read into a trained run's data module as a split of its own (``evaluate``),
exactly as training read its test file: the task's reader, columns, encoding, tokeniser and
label names, the trained label set (an unknown label is an error), and for taggers the tag
set, input scheme and long-sentence chunks. ``run.evaluate`` then scores that split.

The data module must hold its trained state (``load_trained_state``); nothing else of the
training data is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from elmo_tasks.core.errors import DataFormatError
from elmo_tasks.data.classification import aligned, cap, read_sst_trees, read_table, read_tweeteval
from elmo_tasks.data.conll import read_conll
from elmo_tasks.data.tagging_datamodule import TaggedSplit, _cap
from elmo_tasks.data.tags import split_tag

EVALUATE = "evaluate"
"""The split a labelled file is read into."""
TABLES = (".csv", ".tsv", ".jsonl", ".json")


def setup_evaluation(datamodule: Any, source: str | Path, max_samples: int | None = None) -> str:
    """Read ``source`` into ``datamodule.splits["evaluate"]`` (see the module docstring), its
    first ``max_samples`` examples (None: all); returns the split's name. ``source`` is a
    file, or a split name of the run's hub dataset."""
    if not datamodule.labels:
        raise ValueError("the data module holds no trained label set (load_trained_state)")
    path = Path(str(source)).expanduser()
    hub = datamodule.kind == "classification" and datamodule.reader == "hub"
    hub = hub or (datamodule.kind == "tagging" and bool(datamodule.hub_name))
    if hub and not path.exists():
        datamodule.files[EVALUATE] = str(source)
    elif not path.is_file():
        raise DataFormatError(f"{path}: no such file")
    if datamodule.kind == "tagging":
        _tagged(datamodule, path, hub and not path.exists(), max_samples)
    else:
        _classified(datamodule, path, hub and not path.exists(), max_samples)
    datamodule.files[EVALUATE] = str(source)
    return EVALUATE


def _classified(dm: Any, path: Path, from_hub: bool, max_samples: int | None) -> None:
    if from_hub:
        split = dm._read(EVALUATE, dm.labels)
    elif dm.reader == "tweeteval" and path.name.endswith("_text.txt"):
        split = read_tweeteval(path.parent, path.name[: -len("_text.txt")], dm.encoding)
    elif dm.reader in ("sst_trees", "sst3_trees") and path.suffix.lower() not in TABLES:
        split = read_sst_trees(path, dm.reader == "sst_trees", dm.encoding)
    else:
        split = read_table(
            path,
            dm.text_column,
            dm.label_column,
            labels=dm.labels,
            encoding=dm.encoding,
            label_names=dm.label_names,
        )
    split = cap(aligned(split, dm.labels), max_samples)
    if not len(split):
        raise DataFormatError(f"{split.source}: no examples to evaluate")
    dm.splits[EVALUATE] = dm._tokenized(split)


def _tagged(dm: Any, path: Path, from_hub: bool, max_samples: int | None) -> None:
    if dm.input_scheme is None:
        raise ValueError("the data module holds no trained tag scheme (load_trained_state)")
    # What setup() learns from the train file, here from the trained tag set.
    dm._types = dm._types or {split_tag(label)[1] for label in dm.labels} - {""}
    dm._train_source = dm._train_source or "the run's training data"
    if from_hub:
        split = dm._read(EVALUATE)
    else:
        split = TaggedSplit(
            read_conll(path, dm.token_column, dm.tag_column, dm.encoding), str(path)
        )
    split = _cap(split, max_samples)
    dm.tagged[EVALUATE] = split
    dm.splits[EVALUATE] = dm._rows(split)
