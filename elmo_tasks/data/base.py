"""What both data modules share: length-bucketed loaders over prepared rows, the training
vocabulary, and the sentences handed to caching encoders."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import pytorch_lightning as pl
from torch.utils.data import DataLoader

from .batching import BucketBatchSampler


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

    @staticmethod
    def collate(rows: list[dict]) -> dict:
        raise NotImplementedError

    def build_vocabulary(self, sentences: Iterable[list[str]]) -> list[str]:
        """Training tokens, most frequent first (ties alphabetical), at least ``min_count``
        times, at most ``max_vocab_size`` of them."""
        counts = Counter(token for sentence in sentences for token in sentence)
        words = [w for w, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= self.min_count]
        return words[: self.max_vocab_size] if self.max_vocab_size else words

    def sentences(self) -> dict[str, list[list[str]]]:
        """The token lists the model sees, per split (for encoders that cache per sentence)."""
        return {split: [row["tokens"] for row in rows] for split, rows in self.splits.items()}

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        data = self.splits[split]
        lengths = [len(row["tokens"]) for row in data]
        sampler = BucketBatchSampler(lengths, self.batch_size if shuffle else self.eval_batch_size, shuffle, self.seed)
        return DataLoader(data, batch_sampler=sampler, collate_fn=self.collate, num_workers=self.num_workers)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        if "test" not in self.splits:
            raise ValueError(f"task {self.name} has no test_file")
        return self._loader("test", shuffle=False)
