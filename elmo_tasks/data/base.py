"""What both data modules share: length-bucketed loaders over prepared rows, the training
vocabulary, and the sentences handed to caching encoders."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from elmo_tasks.core.checks import Problem
from elmo_tasks.data.batching import BucketBatchSampler
from elmo_tasks.data.sources import Sources, TaskSchema, check_sources, encoding_of


class Batch(dict):
    """A batch of the data modules: a flat dict of tensors and token lists that moves itself to
    a device. Lightning moves any batch with a ``to`` method by calling it, so neither the task
    nor the data module overrides ``transfer_batch_to_device`` (Lightning's default walks every
    string of the token lists looking for tensors: a fifth of a cached frozen-ELMo step)."""

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        return Batch(
            {
                key: value.to(device, non_blocking=non_blocking)
                if isinstance(value, torch.Tensor)
                else value
                for key, value in self.items()
            }
        )


class ResumableDataLoader(DataLoader):
    """A training loader over a :class:`BucketBatchSampler` whose place in the epoch goes into
    checkpoints: Lightning saves ``state_dict()`` of stateful train loaders and calls
    ``load_state_dict()`` before the first pass of a run resumed mid-epoch, so that run trains
    on exactly the batches the uninterrupted run would have. ``batches_done`` says how many
    batches of the current epoch were trained (the loader itself cannot tell: Lightning and
    worker processes fetch ahead). ``epoch`` gives the trainer's epoch, set on the sampler at
    every pass: Lightning's ``set_epoch`` calls reach a ``sampler``, not a batch sampler, and a
    resumed run must shuffle its first epoch as the interrupted run did."""

    def __init__(
        self,
        *args: Any,
        batches_done: Callable[[], int] | None = None,
        epoch: Callable[[], int | None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._batches_done = batches_done
        self._epoch = epoch

    def __iter__(self):
        epoch = self._epoch() if self._epoch is not None else None
        if epoch is not None:
            self.batch_sampler.set_epoch(epoch)
        return super().__iter__()

    def state_dict(self) -> dict[str, Any]:
        return self.batch_sampler.state_dict(self._batches_done() if self._batches_done else 0)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.batch_sampler.load_state_dict(state)


class BucketedDataModule(pl.LightningDataModule):
    """Base: subclasses fill ``self.splits`` (split name -> list of row dicts with a
    ``tokens`` list) in ``setup`` and define ``collate``."""

    def __init__(
        self,
        name: str,
        batch_size: int,
        eval_batch_size: int | None,
        min_count: int,
        max_vocab_size: int | None,
        seed: int,
        num_workers: int,
    ) -> None:
        super().__init__()
        self.name = name
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.min_count, self.max_vocab_size = min_count, max_vocab_size
        self.seed = seed
        self.num_workers = num_workers
        self.splits: dict[str, list[dict]] = {}
        self.vocabulary: list[str] = []

    kind = "data"
    """What the rows are for: ``classification`` or ``tagging`` (set by subclasses)."""
    config_schema = TaskSchema
    """The types and ranges of the config's keys (checked before anything is read)."""

    @classmethod
    def check_config(cls, config: Any, key: str = "task", root: Any = None) -> list[Problem]:
        """Before anything is read: the text encoding of ``config``, then every file it names
        (or its hub dataset) (see :mod:`elmo_tasks.core.checks`); its sizes and limits are
        checked against :attr:`config_schema`."""
        encoding = encoding_of(config, key)
        problems: list[Problem] = [encoding] if encoding else []
        problems += check_sources(
            config, cls.config_sources(config), root, tagging=cls.kind == "tagging"
        )
        return problems

    @classmethod
    def config_sources(cls, config: Any) -> Sources:
        """What ``config`` reads: a hub dataset or local files (see :data:`~elmo_tasks.data.sources.Sources`)."""
        return None, []

    # What a trained model needs from its training data to be used again (saved in its
    # checkpoints, so prediction does not read the data): names of attributes set by setup().
    trained_state_keys: tuple[str, ...] = ("vocabulary", "labels")
    # Saved too, but absent from checkpoints of earlier releases (how texts are tokenised).
    optional_state_keys: tuple[str, ...] = ()

    def trained_state(self) -> dict:
        """The vocabulary and label set learned from the training data (plain lists and strings)."""
        keys = (*self.trained_state_keys, *self.optional_state_keys)
        return {key: getattr(self, key) for key in keys}

    def load_trained_state(self, state: dict) -> None:
        """Instead of ``setup``: take what a checkpoint saved from ``trained_state``; no data is read."""
        missing = [key for key in self.trained_state_keys if key not in state]
        if missing:
            raise ValueError(f"the saved data state lacks {', '.join(missing)}")
        for key in (*self.trained_state_keys, *self.optional_state_keys):
            if key in state:
                setattr(self, key, state[key])

    @staticmethod
    def collate(rows: list[dict]) -> dict:
        raise NotImplementedError

    def build_vocabulary(self, sentences: Iterable[list[str]]) -> list[str]:
        """Training tokens, most frequent first (ties alphabetical), at least ``min_count``
        times, at most ``max_vocab_size`` of them."""
        counts = Counter(token for sentence in sentences for token in sentence)
        words = [
            w
            for w, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            if n >= self.min_count
        ]
        return words[: self.max_vocab_size] if self.max_vocab_size else words

    def sentences(self) -> dict[str, list[list[str]]]:
        """The token lists the model sees, per split (for encoders that cache per sentence)."""
        return {split: [row["tokens"] for row in rows] for split, rows in self.splits.items()}

    def _replicas(self) -> tuple[int, int]:
        """(number of processes, this process's rank) of the trainer running this module."""
        trainer = self.trainer
        if trainer is None:
            return 1, 0
        return trainer.world_size, trainer.global_rank

    def _batches_done(self) -> int:
        """Training batches of the current epoch done so far (saved in mid-epoch checkpoints)."""
        trainer = self.trainer
        return (
            trainer.fit_loop.epoch_loop.batch_progress.current.processed
            if trainer is not None
            else 0
        )

    def _epoch(self) -> int | None:
        """The trainer's epoch (what the sampler shuffles with), None without a trainer."""
        trainer = self.trainer
        return trainer.fit_loop.epoch_progress.current.processed if trainer is not None else None

    def _loader(self, split: str, shuffle: bool, distributed: bool = True) -> DataLoader:
        data = self.splits[split]
        lengths = [len(row["tokens"]) for row in data]
        num_replicas, rank = self._replicas() if distributed else (1, 0)
        size = self.batch_size if shuffle else self.eval_batch_size
        sampler = BucketBatchSampler(
            lengths, size, shuffle, self.seed, num_replicas=num_replicas, rank=rank
        )
        # Its own generator: iterating a loader then draws no number from the global RNG, whose
        # stream (dropout) a resumed run must continue exactly (see elmo_tasks/core/resume.py).
        generator = torch.Generator().manual_seed(self.seed)
        kwargs = dict(
            batch_sampler=sampler,
            collate_fn=self.collate,
            num_workers=self.num_workers,
            generator=generator,
        )
        if shuffle:
            return ResumableDataLoader(
                data, batches_done=self._batches_done, epoch=self._epoch, **kwargs
            )
        return DataLoader(data, **kwargs)

    def unsharded_dataloader(self, split: str) -> DataLoader:
        """Every row of ``split`` in evaluation order, in any process (to write predictions from
        one process of a DDP run)."""
        return self._loader(split, shuffle=False, distributed=False)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        if "test" not in self.splits:
            raise ValueError(f"task {self.name} has no test_file")
        return self._loader("test", shuffle=False)

    @property
    def predict_split(self) -> str:
        """What ``trainer.predict(model, datamodule=dm)`` predicts: the test split, or the
        validation split of a task without a test file."""
        return "test" if "test" in self.splits else "validation"

    def predict_dataloader(self) -> DataLoader:
        """The rows of :attr:`predict_split` in file order, ``eval_batch_size`` at a time (so
        ``trainer.predict``'s outputs follow the file; each record also has the row's
        ``index``). For other texts, pass ``dataloaders=`` of strings or token lists."""
        return DataLoader(
            self.splits[self.predict_split],
            batch_size=self.eval_batch_size,
            shuffle=False,
            collate_fn=self.collate,
            num_workers=self.num_workers,
        )
