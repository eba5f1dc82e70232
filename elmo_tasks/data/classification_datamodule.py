"""LightningDataModule for sentence classification: read, tokenise once, bucket, pad per batch."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from elmo_tasks.core.errors import DataFormatError, TooFewClassesError
from elmo_tasks.core.schema import choice
from elmo_tasks.data.base import Batch, BucketedDataModule
from elmo_tasks.data.classification import (
    LabelledSplit,
    cap,
    read_hub,
    read_sst_trees,
    read_table,
    read_tweeteval,
    stratified_split,
)
from elmo_tasks.data.sources import FILE_KEYS, Sources, TaskSchema, files_of, task_hub_source
from elmo_tasks.data.tokenize import get_tokenizer

log = logging.getLogger(__name__)

READERS = ("table", "sst_trees", "sst3_trees", "tweeteval", "hub")


@dataclass
class ClassificationTaskSchema(TaskSchema):
    """A classification task's keys: :class:`TaskSchema`'s, the reader and the tokenizer."""

    reader: Literal["table", "sst_trees", "sst3_trees", "tweeteval", "hub"] = choice()
    tokenizer: Literal["whitespace", "simple"] = choice()


class ClassificationDataModule(BucketedDataModule):
    """Sentence classification data from local files or a hub dataset.

    reader: ``table`` (csv/tsv/jsonl files), ``sst_trees`` (SST-5), ``sst3_trees`` (SST-3),
        ``tweeteval`` (``{split}_text.txt`` + ``{split}_labels.txt`` in ``data_dir``), ``hub``.
    train_file / validation_file / test_file: files for ``table``/trees; split names for
        ``tweeteval`` and ``hub``. With no validation file, a seeded stratified
        ``validation_fraction`` of train is held out.
    encoding: the text encoding of the local files (default utf-8; e.g. latin-1, cp1252).
    label_names: names of raw label values of table files, e.g. ``{0: negative, 1: positive}``
        for SST-2's tsv files: predictions, metrics and reports then speak of the names.
    cache_dir: where the ``table`` reader's ``datasets`` cache goes (the configs give
        ``paths.datasets_cache``); None: the ``datasets`` default (``$HF_DATASETS_CACHE``, else
        ``~/.cache/huggingface/datasets``). Hub datasets stay in that default, shared with
        other tools.
    Batches are ``{"tokens": list[list[str]], "label": LongTensor, "index": LongTensor}``.
    """

    kind = "classification"
    config_schema = ClassificationTaskSchema
    FILE_READERS = ("table", "sst_trees", "sst3_trees")
    optional_state_keys = ("tokenizer", "lowercase")  # a model alone then tokenises texts

    @classmethod
    def config_sources(cls, config: Any) -> Sources:
        """The hub dataset of ``reader: hub``, the TweetEval files of ``reader: tweeteval``, else
        the train/validation/test files."""
        reader = str(config.get("reader", "table"))
        if reader == "hub" and config.get("hub_name"):
            return task_hub_source(config), []
        if reader == "tweeteval":
            directory = Path(str(config.get("data_dir"))).expanduser()
            files = []
            for key in FILE_KEYS:
                split = config.get(key)
                if split is not None:
                    split = "val" if str(split) == "validation" else str(split)
                    files += [
                        (
                            f"task.data_dir + task.{key}={config.get(key)}",
                            directory / f"{split}_{suffix}.txt",
                        )
                        for suffix in ("text", "labels")
                    ]
            return None, [*files, ("task.data_dir", directory / "mapping.txt")]
        return None, files_of(config) if reader in cls.FILE_READERS else []

    def __init__(
        self,
        name: str,
        reader: str = "table",
        train_file: str | None = None,
        validation_file: str | None = None,
        test_file: str | None = None,
        text_column: str = "text",
        label_column: str = "label",
        label_names: Mapping[Any, str] | None = None,
        encoding: str = "utf-8",
        data_dir: str | None = None,
        hub_name: str | None = None,
        hub_config: str | None = None,
        hub_revision: str | None = None,
        tokenizer: str = "whitespace",
        lowercase: bool = False,
        validation_fraction: float = 0.1,
        max_train_samples: int | None = None,
        max_eval_samples: int | None = None,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        min_count: int = 1,
        max_vocab_size: int | None = None,
        main_metric: str = "accuracy",
        seed: int = 0,
        num_workers: int = 0,
        cache_dir: str | None = None,
    ) -> None:
        super().__init__(
            name, batch_size, eval_batch_size, min_count, max_vocab_size, seed, num_workers
        )
        self.cache_dir = cache_dir
        if reader not in READERS:
            raise ValueError(f"task.reader must be one of {READERS}, got {reader!r}")
        self.reader = reader
        self.files = {"train": train_file, "validation": validation_file, "test": test_file}
        self.text_column, self.label_column = text_column, label_column
        self.label_names = {str(k): str(v) for k, v in (label_names or {}).items()} or None
        self.encoding = encoding
        self.data_dir, self.hub_name, self.hub_config, self.hub_revision = (
            data_dir,
            hub_name,
            hub_config,
            hub_revision,
        )
        self.tokenize = get_tokenizer(tokenizer)
        self.tokenizer = tokenizer
        self.lowercase = lowercase
        self.validation_fraction = validation_fraction
        self.max_train_samples, self.max_eval_samples = max_train_samples, max_eval_samples
        self.main_metric = main_metric
        self.labels: list[str] = []

    def data_source(self) -> dict:
        """Where the data comes from, for results.json: the reader, the split files (or hub split
        names) and, for the hub, the dataset, its config and revision, and the columns read."""
        source: dict = {"reader": self.reader, "splits": dict(self.files)}
        if self.reader == "hub":
            source.update(
                hub_name=self.hub_name, hub_config=self.hub_config, hub_revision=self.hub_revision
            )
        if self.reader in ("hub", "table"):
            source.update(text_column=self.text_column, label_column=self.label_column)
        if self.reader == "tweeteval":
            source.update(data_dir=self.data_dir)
        return source

    # -- reading ---------------------------------------------------------------------------
    def _read(self, split: str, labels: list[str] | None) -> LabelledSplit:
        source = self.files[split]
        if self.reader == "table":
            return read_table(
                source,
                self.text_column,
                self.label_column,
                labels=labels,
                encoding=self.encoding,
                label_names=self.label_names,
                cache_dir=self.cache_dir,
            )
        if self.reader in ("sst_trees", "sst3_trees"):
            return read_sst_trees(
                source, fine_grained=self.reader == "sst_trees", encoding=self.encoding
            )
        if self.reader == "tweeteval":
            return read_tweeteval(self.data_dir, source, encoding=self.encoding)
        return read_hub(
            self.hub_name,
            self.hub_config,
            split=source,
            text_column=self.text_column,
            label_column=self.label_column,
            labels=labels,
            revision=self.hub_revision,
        )

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        if self.files["train"] is None:
            raise ValueError(f"task {self.name}: task.train_file is not set")
        train = self._read("train", None)
        self.labels = train.labels
        if len(self.labels) < 2:
            where = f" (column {self.label_column})" if self.reader in ("hub", "table") else ""
            raise TooFewClassesError(
                f"{train.source}: every training example has the label {self.labels[0]!r}"
                f"{where}; a classifier needs at least two classes in its training data. Give a "
                "training file with examples of each class, or check task.label_column"
                if self.labels
                else f"{train.source}: no labelled training examples"
            )
        if self.files["validation"] is None:
            train, validation = stratified_split(train, self.validation_fraction, self.seed)
            log.info(
                "no validation file: held out %d of train (seed %d)", len(validation), self.seed
            )
        else:
            validation = self._read("validation", self.labels)
        raw = {
            "train": cap(train, self.max_train_samples),
            "validation": cap(validation, self.max_eval_samples),
        }
        if self.files["test"] is not None:
            raw["test"] = cap(self._read("test", self.labels), self.max_eval_samples)
        for split, data in raw.items():
            self.splits[split] = self._tokenized(data)
        self.vocabulary = self.build_vocabulary(row["tokens"] for row in self.splits["train"])

    def _tokenized(self, split: LabelledSplit):
        tokenize, lowercase = self.tokenize, self.lowercase

        def add_tokens(batch: dict) -> dict:
            texts = [t.lower() for t in batch["text"]] if lowercase else batch["text"]
            return {"tokens": [tokenize(t) for t in texts]}

        data = split.dataset.map(add_tokens, batched=True, desc=f"tokenizing {split.source}")
        rows = data.select_columns(["tokens", "label", "line"]).to_list()
        empty = [row["line"] for row in rows if not row["tokens"]]
        if empty:
            raise DataFormatError(
                f"{split.source}: lines {empty[:10]} have no tokens after tokenization"
            )
        return rows

    def module_kwargs(self) -> dict:
        """What the LightningModule needs to know about this data."""
        return {"labels": self.labels}

    # -- loaders ---------------------------------------------------------------------------
    @staticmethod
    def collate(rows: list[dict]) -> Batch:
        return Batch(
            tokens=[row["tokens"] for row in rows],
            label=torch.tensor([row["label"] for row in rows], dtype=torch.long),
            index=torch.tensor([row["line"] for row in rows], dtype=torch.long),
        )
