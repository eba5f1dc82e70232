"""Language-model data for biLM pretraining: raw text streamed from disk in BPTT windows.

    files (one sentence or document per line, .gz allowed)
      -> tokens (whitespace by default)                       read lazily, line by line
      -> one stream per batch row:  <S> w1 .. wn  <S> v1 .. vm  ...
      -> windows of ``unroll_steps`` tokens, consecutive batches continue every row

The backward LM reads its own stream in which every sentence is reversed
(``</S> wn .. w1``), as bilm-tf does: both streams place each sentence at the same
positions, so one carried LSTM state per direction is a true continuation of the text
that direction has read. Each batch holds, per direction, the input characters
``(B, T, 50)``, the input word ids and the targets: the next token of the forward stream
(``w_{t+1}``) and of the backward stream (the previous token, ``w_{t-1}``).
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from elmo_tasks.data.tokenize import Tokenizer, get_tokenizer
from elmo_tasks.elmo.characters import (
    BOS_TOKEN,
    EOS_TOKEN,
    MAX_CHARACTERS_PER_TOKEN,
    token_to_char_ids,
)
from elmo_tasks.pretraining.text import Vocabulary, read_sentences, resolve_files

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------
# Streams and windows


@dataclass
class _Piece:
    """The rest of one sentence in one row: parallel lists for both directions."""

    forward_tokens: list[str]
    forward_ids: list[int]
    backward_tokens: list[str]
    backward_ids: list[int]
    offset: int = 0

    @classmethod
    def of(cls, tokens: list[str], vocab: Vocabulary) -> _Piece:
        ids = vocab.encode(tokens)
        return cls(
            [BOS_TOKEN, *tokens, EOS_TOKEN],
            [vocab.bos, *ids, vocab.eos],
            [EOS_TOKEN, *tokens[::-1], BOS_TOKEN],
            [vocab.eos, *ids[::-1], vocab.bos],
        )

    @property
    def remaining(self) -> int:
        """Input positions left: every token but the final boundary is an input."""
        return len(self.forward_ids) - 1 - self.offset


class CharIdCache:
    """Character ids per token string, bounded (cleared when full)."""

    def __init__(self, max_chars: int = MAX_CHARACTERS_PER_TOKEN, max_size: int = 200_000) -> None:
        self.max_chars, self.max_size = max_chars, max_size
        self._ids: dict[str, list[int]] = {}

    def __call__(self, token: str) -> list[int]:
        ids = self._ids.get(token)
        if ids is None:
            if len(self._ids) >= self.max_size:
                self._ids.clear()
            ids = self._ids[token] = token_to_char_ids(token, self.max_chars)
        return ids


class LmStreamDataset(IterableDataset):
    """Batches of BPTT windows over text files, streamed line by line.

    Yields ready batches (use ``DataLoader(dataset, batch_size=None)``), dicts of
        forward_char_ids, backward_char_ids   int32 (B, T, max_chars)
        forward_inputs, backward_inputs       int64 (B, T)  word ids of the inputs
        forward_targets, backward_targets     int64 (B, T)  next / previous word ids
        mask                                  bool  (B, T)  False after a row's stream ended
        stream                                int           which (rank, worker) stream this is
    Row ``r`` of consecutive batches from one stream continues the same text.

    Work is split over DataLoader workers and DDP ranks (``rank``, ``world_size`` are set by
    the data module). ``pad_last``: keep going until every row has ended, padding rows that
    ended (evaluation); otherwise stop at the first row that runs dry, as bilm-tf does.
    ``batches_per_epoch``: yield exactly this many batches per rank, re-reading the data
    when it runs out (equal work on every DDP rank). ``shuffle``: file order and a
    ``shuffle_buffer`` of lines, reseeded per epoch (``set_epoch``).
    """

    def __init__(
        self,
        files: Sequence[str | Path],
        vocabulary: Vocabulary,
        batch_size: int,
        unroll_steps: int,
        tokenizer: Tokenizer | str = "whitespace",
        lowercase: bool = False,
        pad_last: bool = False,
        batches_per_epoch: int | None = None,
        shuffle: bool = False,
        shuffle_buffer: int = 0,
        seed: int = 0,
        max_chars: int = MAX_CHARACTERS_PER_TOKEN,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        super().__init__()
        if batch_size <= 0 or unroll_steps <= 0:
            raise ValueError(
                f"batch_size and unroll_steps must be positive, got {batch_size} and {unroll_steps}"
            )
        self.files = [Path(f) for f in files]
        if not self.files:
            raise ValueError("LmStreamDataset needs at least one file")
        self.vocabulary = vocabulary
        self.batch_size, self.unroll_steps = batch_size, unroll_steps
        self.tokenizer = get_tokenizer(tokenizer) if isinstance(tokenizer, str) else tokenizer
        self.lowercase, self.pad_last = lowercase, pad_last
        self.batches_per_epoch = batches_per_epoch
        self.shuffle, self.shuffle_buffer, self.seed = shuffle, shuffle_buffer, seed
        self.max_chars = max_chars
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        # Batches of this epoch already consumed (by all workers of this rank), to skip on resume.
        self.skip_batches = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _shard(self) -> tuple[int, int, int, int]:
        """(shard, n_shards, worker, n_workers) of the calling process."""
        info = get_worker_info()
        worker, n_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        return self.rank * n_workers + worker, self.world_size * n_workers, worker, n_workers

    def __iter__(self) -> Iterator[dict[str, Any]]:
        shard, n_shards, worker, n_workers = self._shard()
        # DataLoader takes batches from workers in turn: worker w produced every n-th one.
        skip = max(0, math.ceil((self.skip_batches - worker) / n_workers))
        quota = None
        if self.batches_per_epoch is not None:
            quota = self.batches_per_epoch // n_workers + (
                worker < self.batches_per_epoch % n_workers
            )
        return self._batches(shard, n_shards, skip, quota)

    def _sentences(self, shard: int, n_shards: int, repeat: bool) -> Iterator[list[str]]:
        rng = random.Random(f"{self.seed}/{self.epoch}/{shard}")
        while True:
            files = list(self.files)
            if self.shuffle:
                rng.shuffle(files)
            stream = read_sentences(files, self.tokenizer, self.lowercase, shard, n_shards)
            if self.shuffle and self.shuffle_buffer > 1:
                stream = _buffer_shuffle(stream, self.shuffle_buffer, rng)
            empty = True
            for sentence in stream:
                empty = False
                yield sentence
            if not repeat or empty:
                return

    def _batches(
        self, shard: int, n_shards: int, skip: int, quota: int | None
    ) -> Iterator[dict[str, Any]]:
        sentences = self._sentences(shard, n_shards, repeat=quota is not None)
        rows: list[_Piece | None] = [None] * self.batch_size
        produced = 0
        chars = CharIdCache(self.max_chars)
        while quota is None or produced < quota:
            window = self._fill_window(rows, sentences)
            if window is None:
                return
            produced += 1
            if produced > skip:
                yield self._tensors(window, chars, shard)

    def _fill_window(
        self, rows: list[_Piece | None], sentences: Iterator[list[str]]
    ) -> list[list[tuple]] | None:
        """Per row, the (piece, start, stop) spans filling the next window; None at the end."""
        steps = self.unroll_steps
        window: list[list[tuple]] = []
        for r in range(self.batch_size):
            spans, filled = [], 0
            while filled < steps:
                piece = rows[r]
                if piece is None or piece.remaining == 0:
                    sentence = next(sentences, None)
                    if sentence is None:
                        rows[r] = None
                        break
                    piece = rows[r] = _Piece.of(sentence, self.vocabulary)
                take = min(piece.remaining, steps - filled)
                spans.append((piece, piece.offset, piece.offset + take))
                piece.offset += take
                filled += take
            if filled < steps and not self.pad_last:
                return None
            window.append(spans)
        if all(not spans for spans in window):
            return None
        return window

    def _tensors(self, window: list[list[tuple]], chars: CharIdCache, shard: int) -> dict[str, Any]:
        b, t = self.batch_size, self.unroll_steps
        out = {
            "forward_char_ids": np.zeros((b, t, self.max_chars), dtype=np.int32),
            "backward_char_ids": np.zeros((b, t, self.max_chars), dtype=np.int32),
            "forward_inputs": np.zeros((b, t), dtype=np.int64),
            "backward_inputs": np.zeros((b, t), dtype=np.int64),
            "forward_targets": np.zeros((b, t), dtype=np.int64),
            "backward_targets": np.zeros((b, t), dtype=np.int64),
            "mask": np.zeros((b, t), dtype=bool),
        }
        for r, spans in enumerate(window):
            pos = 0
            for piece, start, stop in spans:
                end = pos + stop - start
                for name in ("forward", "backward"):
                    tokens, ids = getattr(piece, f"{name}_tokens"), getattr(piece, f"{name}_ids")
                    out[f"{name}_char_ids"][r, pos:end] = [chars(tok) for tok in tokens[start:stop]]
                    out[f"{name}_inputs"][r, pos:end] = ids[start:stop]
                    out[f"{name}_targets"][r, pos:end] = ids[start + 1 : stop + 1]
                out["mask"][r, pos:end] = True
                pos = end
        batch: dict[str, Any] = {k: torch.from_numpy(v) for k, v in out.items()}
        batch["stream"] = shard
        return batch


def _buffer_shuffle(
    stream: Iterator[list[str]], size: int, rng: random.Random
) -> Iterator[list[str]]:
    """Approximate shuffle with ``size`` lines in memory: emit a random one as each arrives."""
    buffer: list[list[str]] = []
    for item in stream:
        if len(buffer) < size:
            buffer.append(item)
            continue
        i = rng.randrange(size)
        yield buffer[i]
        buffer[i] = item
    rng.shuffle(buffer)
    yield from buffer


# ---------------------------------------------------------------------------------------
# Lightning data module


def _distributed() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class LmDataModule(pl.LightningDataModule):
    """Training, validation and test streams for ``BiLmPretrainer``.

    train_files / validation_files / test_files: a path, a glob, or a list (the last two
    may be None). ``vocabulary``: the output vocabulary (see ``build_vocabulary``).
    """

    def __init__(
        self,
        train_files: str | Sequence[str],
        vocabulary: Sequence[str],
        validation_files: str | Sequence[str] | None = None,
        batch_size: int = 128,
        unroll_steps: int = 20,
        tokenizer: str = "whitespace",
        lowercase: bool = False,
        num_workers: int = 0,
        batches_per_epoch: int | None = None,
        shuffle: bool = True,
        shuffle_buffer: int = 0,
        seed: int = 0,
        max_chars: int = MAX_CHARACTERS_PER_TOKEN,
        test_files: str | Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.train_files = resolve_files(train_files, "data.train_files")
        if not self.train_files:
            raise ValueError("data.train_files is empty")
        self.validation_files = resolve_files(validation_files, "data.validation_files")
        self.test_files = resolve_files(test_files, "data.test_files")
        self.vocabulary = Vocabulary(vocabulary)
        self.batch_size, self.unroll_steps = batch_size, unroll_steps
        self.tokenizer, self.lowercase = tokenizer, lowercase
        self.num_workers, self.batches_per_epoch = num_workers, batches_per_epoch
        self.shuffle, self.shuffle_buffer, self.seed = shuffle, shuffle_buffer, seed
        self.max_chars = max_chars
        self.train_dataset: LmStreamDataset | None = None

    def _dataset(self, files: list[Path], train: bool) -> LmStreamDataset:
        rank, world_size = _distributed()
        if train and world_size > 1 and self.batches_per_epoch is None:
            log.warning(
                "DDP with data.batches_per_epoch=null: ranks may get different numbers of batches"
            )
        return LmStreamDataset(
            files,
            self.vocabulary,
            self.batch_size,
            self.unroll_steps,
            self.tokenizer,
            self.lowercase,
            pad_last=not train,
            batches_per_epoch=self.batches_per_epoch if train else None,
            shuffle=self.shuffle and train,
            shuffle_buffer=self.shuffle_buffer,
            seed=self.seed,
            max_chars=self.max_chars,
            rank=rank,
            world_size=world_size,
        )

    def _loader(self, dataset: LmStreamDataset) -> DataLoader:
        return DataLoader(
            dataset, batch_size=None, num_workers=self.num_workers, persistent_workers=False
        )

    def train_dataloader(self) -> DataLoader:
        self.train_dataset = self._dataset(self.train_files, train=True)
        trainer = self.trainer
        if trainer is not None:
            # Continue a resumed run where its checkpoint was written (see BiLmPretrainer).
            take = getattr(trainer.lightning_module, "take_data_position", None)
            position = take() if take is not None else None
            epoch, done = position if position is not None else (trainer.current_epoch, 0)
            self.train_dataset.set_epoch(epoch)
            self.train_dataset.skip_batches = done
        return self._loader(self.train_dataset)

    def val_dataloader(self) -> DataLoader | list:
        if not self.validation_files:
            return []
        return self._loader(self._dataset(self.validation_files, train=False))

    def test_dataloader(self) -> DataLoader | list:
        if not self.test_files:
            return []
        return self._loader(self._dataset(self.test_files, train=False))
