"""LightningDataModule for sequence tagging (NER): CoNLL column files or a hub dataset.

Tags are converted once, when read, from the train file's scheme (IOB1, BIO or BIOES, found
with ``detect_scheme``) to the scheme the model learns (``scheme``: BIO or BIOES);
:meth:`TaggingDataModule.output_sentences` converts predictions back, so a predictions file
can be scored against the original gold with ``conlleval``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from elmo_tasks.core.errors import DataFormatError, TooFewClassesError
from elmo_tasks.data.base import Batch, BucketedDataModule
from elmo_tasks.data.conll import Sentence, TaggedSplit, read_conll
from elmo_tasks.data.sources import Sources, TaggingTaskSchema, files_of, task_hub_source
from elmo_tasks.data.tagging_hub import (  # noqa: F401  (sentences_from_hub_dataset was defined here)
    read_hub_tagging,
    sentences_from_hub_dataset,
)
from elmo_tasks.data.tags import (  # noqa: F401  (tag_set and chunk_sentence were defined here)
    SCHEME_PREFIXES,
    check_scheme,
    chunk_sentence,
    detect_scheme,
    from_bio,
    split_tag,
    tag_set,
    to_bio,
    to_bioes,
)

log = logging.getLogger(__name__)

PAD_TAG = -100
"""Tag id of padded positions (``ignore_index`` of the cross-entropy; masked out by the CRF)."""

LONG_SENTENCES = ("split", "error")


# --------------------------------------------------------------------------- data module


class TaggingDataModule(BucketedDataModule):
    """Token tagging data from CoNLL column files or a hub dataset.

    train_file / validation_file / test_file: CoNLL files (``token_column``/``tag_column`` pick
        the columns, ``encoding`` is their text encoding); with ``hub_name`` set, split names of
        that dataset (``tokens``/``ner_tags`` columns). With no validation file, a seeded
        ``validation_fraction`` of train is held out.
    scheme: what the model learns, BIO or BIOES. The input scheme (IOB1, BIO or BIOES) is
        detected from the train file; the tag set is ``O`` plus every prefix of ``scheme`` for each
        entity type of the train file, and an unknown type elsewhere is a ValueError.
    max_length: sentences longer than this are cut into chunks that the model sees as separate
        sentences (``long_sentences: split``; cuts fall between entities, see ``chunk_sentence``)
        and are joined again in :meth:`output_sentences`; or rejected (``long_sentences: error``).
    Batches are ``{"tokens": list[list[str]], "tags": LongTensor (B, T), padded with -100,
    "index": LongTensor}``; ``index`` is the row's position in its split.
    """

    kind = "tagging"
    config_schema = TaggingTaskSchema

    @classmethod
    def config_sources(cls, config: Any) -> Sources:
        """The hub dataset when ``hub_name`` is set, else the CoNLL files."""
        return (task_hub_source(config), []) if config.get("hub_name") else (None, files_of(config))

    trained_state_keys = ("vocabulary", "labels", "input_scheme")

    def __init__(
        self,
        name: str,
        train_file: str | None = None,
        validation_file: str | None = None,
        test_file: str | None = None,
        token_column: int = 0,
        tag_column: int = -1,
        encoding: str = "utf-8",
        scheme: str = "BIO",
        hub_name: str | None = None,
        hub_config: str | None = None,
        hub_revision: str | None = None,
        tokens_column: str = "tokens",
        tags_column: str = "ner_tags",
        validation_fraction: float = 0.1,
        max_train_samples: int | None = None,
        max_eval_samples: int | None = None,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        max_length: int | None = None,
        long_sentences: str = "split",
        min_count: int = 1,
        max_vocab_size: int | None = None,
        main_metric: str = "f1",
        seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__(
            name, batch_size, eval_batch_size, min_count, max_vocab_size, seed, num_workers
        )
        self.scheme = check_scheme(scheme)
        if self.scheme not in ("BIO", "BIOES"):
            raise ValueError(
                f"task.scheme must be BIO or BIOES (the scheme the model learns), got {scheme!r}"
            )
        if long_sentences not in LONG_SENTENCES:
            raise ValueError(
                f"task.long_sentences must be one of {LONG_SENTENCES}, got {long_sentences!r}"
            )
        if max_length is not None and max_length < 1:
            raise ValueError(f"task.max_length must be None or >= 1, got {max_length}")
        if not 0.0 < validation_fraction < 1.0:
            raise ValueError(
                f"task.validation_fraction must be strictly between 0 and 1, got {validation_fraction}"
            )
        for key, value in (
            ("max_train_samples", max_train_samples),
            ("max_eval_samples", max_eval_samples),
        ):
            if value is not None and value < 0:
                raise ValueError(f"task.{key} must be None or >= 0, got {value}")
        self.files = {"train": train_file, "validation": validation_file, "test": test_file}
        self.token_column, self.tag_column, self.encoding = token_column, tag_column, encoding
        self.hub_name, self.hub_config, self.hub_revision = hub_name, hub_config, hub_revision
        self.tokens_column, self.tags_column = tokens_column, tags_column
        self.validation_fraction = validation_fraction
        self.max_train_samples, self.max_eval_samples = max_train_samples, max_eval_samples
        self.max_length, self.long_sentences = max_length, long_sentences
        self.main_metric = main_metric
        self.input_scheme: str | None = None
        self.labels: list[str] = []
        self.tagged: dict[str, TaggedSplit] = {}
        self._types: set[str] = set()
        self._train_source = ""

    def data_source(self) -> dict:
        """Where the data comes from, for results.json: CoNLL files and their columns, or the hub
        dataset, its config and revision, the split names and the columns read."""
        if self.hub_name:
            return {
                "reader": "hub",
                "splits": dict(self.files),
                "hub_name": self.hub_name,
                "hub_config": self.hub_config,
                "hub_revision": self.hub_revision,
                "tokens_column": self.tokens_column,
                "tags_column": self.tags_column,
            }
        return {
            "reader": "conll",
            "splits": dict(self.files),
            "token_column": self.token_column,
            "tag_column": self.tag_column,
        }

    # -- reading ---------------------------------------------------------------------------
    def _read(self, split: str) -> TaggedSplit:
        source = self.files[split]
        if self.hub_name:
            return read_hub_tagging(
                self.hub_name,
                self.hub_config,
                source,
                self.tokens_column,
                self.tags_column,
                self.hub_revision,
            )
        sentences = read_conll(source, self.token_column, self.tag_column, self.encoding)
        return TaggedSplit(sentences, str(source))

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        if self.files["train"] is None:
            raise ValueError(f"task {self.name}: task.train_file is not set")
        train = self._read("train")
        self._learn_tags(train)
        if self.files["validation"] is None:
            train, validation = self._hold_out(train)
            log.info(
                "no validation file: held out %d of train (seed %d)",
                len(validation.sentences),
                self.seed,
            )
        else:
            validation = self._read("validation")
        raw = {
            "train": _cap(train, self.max_train_samples),
            "validation": _cap(validation, self.max_eval_samples),
        }
        if self.files["test"] is not None:
            raw["test"] = _cap(self._read("test"), self.max_eval_samples)
        for split, data in raw.items():
            self.tagged[split] = data
            self.splits[split] = self._rows(data)
        self.vocabulary = self.build_vocabulary(row["tokens"] for row in self.splits["train"])
        log.info(
            "%s: %s tags in, %s tags learned: %s",
            self.name,
            self.input_scheme,
            self.scheme,
            self.labels,
        )

    def _learn_tags(self, train: TaggedSplit) -> None:
        """Input scheme and tag set from the train file; malformed tags named by file and line."""
        for sentence in train.sentences:
            for position, tag in enumerate(sentence.tags):
                self._types.add(_tag_type(tag, train, sentence, position))
        self._types.discard("")
        if not self._types:
            only = sorted({tag for sentence in train.sentences for tag in sentence.tags})
            raise TooFewClassesError(
                f"{train.source}: every token is tagged {' or '.join(map(repr, only))}: no entity "
                "to learn; a tagger needs tags of at least one type besides O (e.g. B-PER, "
                "I-PER) in its training data. Check the file and task.tag_column"
            )
        self.input_scheme = detect_scheme(sentence.tags for sentence in train.sentences)
        self.labels = tag_set(self._types, self.scheme)
        self._train_source = train.source

    def _hold_out(self, train: TaggedSplit) -> tuple[TaggedSplit, TaggedSplit]:
        """A seeded ``validation_fraction`` of the train sentences (at least one, never all of them);
        both parts keep file order."""
        count = len(train.sentences)
        if count < 2:
            raise DataFormatError(
                f"{train.source}: {count} sentence is too few to hold out a validation set"
            )
        size = min(count - 1, max(1, round(count * self.validation_fraction)))
        held = np.zeros(count, dtype=bool)
        held[np.random.default_rng(self.seed).permutation(count)[:size]] = True
        describe = f"{train.source} (held out {self.validation_fraction}, seed {self.seed})"
        return (
            TaggedSplit(
                [s for s, h in zip(train.sentences, held) if not h],
                f"{describe}: train",
                train.unit,
            ),
            TaggedSplit(
                [s for s, h in zip(train.sentences, held) if h],
                f"{describe}: validation",
                train.unit,
            ),
        )

    def _internal_tags(self, sentence: Sentence, split: TaggedSplit) -> list[str]:
        """``sentence``'s tags in the model's scheme; ValueError naming file, line and tag when one
        is malformed, not of the input scheme, or of an entity type the train file lacks."""
        allowed = SCHEME_PREFIXES[self.input_scheme]
        for position, tag in enumerate(sentence.tags):
            type_ = _tag_type(tag, split, sentence, position)
            if tag != "O" and tag[0] not in allowed:
                raise DataFormatError(
                    f"{split.where(sentence, position)}: tag {tag!r} is not valid in the {self.input_scheme} "
                    f"scheme of {self._train_source}"
                )
            if type_ and type_ not in self._types:
                raise DataFormatError(
                    f"{split.where(sentence, position)}: unknown tag {tag!r}: entity type {type_!r} does not occur "
                    f"in {self._train_source} (types: {', '.join(sorted(self._types)) or 'none'})"
                )
        bio = to_bio(sentence.tags, self.input_scheme)
        return bio if self.scheme == "BIO" else to_bioes(bio)

    def _rows(self, split: TaggedSplit) -> list[dict]:
        """One row per sentence, or per chunk of a sentence longer than ``max_length``."""
        index = {label: i for i, label in enumerate(self.labels)}
        rows: list[dict] = []
        for number, sentence in enumerate(split.sentences):
            tags = self._internal_tags(sentence, split)
            if self.max_length is None or len(tags) <= self.max_length:
                chunks = [(0, tags)]
            elif self.long_sentences == "error":
                raise DataFormatError(
                    f"{split.where(sentence, 0)}: sentence of {len(tags)} tokens is longer than "
                    f"task.max_length={self.max_length}; raise it or set task.long_sentences=split"
                )
            else:
                chunks = chunk_sentence(
                    tags, self.max_length, self.scheme, split.where(sentence, 0)
                )
            for offset, chunk in chunks:
                rows.append(
                    {
                        "tokens": sentence.tokens[offset : offset + len(chunk)],
                        "tags": [index[tag] for tag in chunk],
                        "index": len(rows),
                        "sentence": number,
                        "offset": offset,
                    }
                )
        return rows

    def module_kwargs(self) -> dict:
        """What the LightningModule needs to know about this data."""
        return {"labels": self.labels, "scheme": self.scheme}

    # -- predictions -------------------------------------------------------------------------
    def output_sentences(
        self, split: str, predicted: Mapping[int, Sequence[str]]
    ) -> tuple[list[list[str]], list[list[str]], list[list[str]]]:
        """Tokens, gold tags (as in the file) and predicted tags (in the file's scheme), one entry
        per sentence of ``split``; ``predicted`` maps row ``index`` to tags in the model's scheme,
        and the chunks of a long sentence are joined back."""
        joined: dict[int, list[str]] = {}
        for row in self.splits[split]:
            if row["index"] not in predicted:
                raise ValueError(f"{split}: no prediction for row {row['index']}")
            tags = list(predicted[row["index"]])
            if len(tags) != len(row["tokens"]):
                count = len(row["tokens"])
                raise ValueError(
                    f"{split}, row {row['index']}: {len(tags)} predicted tags for {count} tokens"
                )
            joined.setdefault(row["sentence"], []).extend(tags)
        sentences = self.tagged[split].sentences
        pred = []
        for number in range(len(sentences)):
            bio = joined[number] if self.scheme == "BIO" else to_bio(joined[number], "BIOES")
            pred.append(from_bio(bio, self.input_scheme))
        return [s.tokens for s in sentences], [s.tags for s in sentences], pred

    # -- loaders ---------------------------------------------------------------------------
    @staticmethod
    def collate(rows: list[dict]) -> Batch:
        tags = torch.full(
            (len(rows), max(len(row["tags"]) for row in rows)), PAD_TAG, dtype=torch.long
        )
        for i, row in enumerate(rows):
            tags[i, : len(row["tags"])] = torch.tensor(row["tags"], dtype=torch.long)
        return Batch(
            tokens=[row["tokens"] for row in rows],
            tags=tags,
            index=torch.tensor([row["index"] for row in rows], dtype=torch.long),
        )


def _tag_type(tag: str, split: TaggedSplit, sentence: Sentence, position: int) -> str:
    """The entity type of ``tag`` (``""`` for ``O``); ValueError naming file and line if malformed."""
    try:
        return split_tag(tag)[1]
    except ValueError:
        pass
    return split_tag(tag, split.where(sentence, position))[1]  # raises, naming the place


def _cap(split: TaggedSplit, max_samples: int | None) -> TaggedSplit:
    """The first ``max_samples`` sentences of ``split`` (all of them when None or larger)."""
    if max_samples is None or max_samples >= len(split.sentences):
        return split
    return TaggedSplit(
        split.sentences[:max_samples], f"{split.source} (first {max_samples})", split.unit
    )
