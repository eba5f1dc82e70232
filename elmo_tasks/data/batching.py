"""Length-bucketed batches: sentences of similar length together, so little is padding."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

from torch.utils.data import Sampler


class BucketBatchSampler(Sampler[list[int]]):
    """Yields lists of indices. Training: shuffle (seeded per epoch), sort within pools of
    ``pool_batches`` batches by length, cut into batches, shuffle the batches.
    Evaluation (``shuffle=False``): sorted by length, so padding is minimal."""

    def __init__(self, lengths: Sequence[int], batch_size: int, shuffle: bool, seed: int = 0, pool_batches: int = 50) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.pool_batches = pool_batches
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        indices = list(range(len(self.lengths)))
        if not self.shuffle:
            indices.sort(key=lambda i: self.lengths[i])
            return [indices[i : i + self.batch_size] for i in range(0, len(indices), self.batch_size)]
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        rng.shuffle(indices)
        pool = self.batch_size * self.pool_batches
        batches = []
        for start in range(0, len(indices), pool):
            chunk = sorted(indices[start : start + pool], key=lambda i: self.lengths[i])
            batches += [chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        rng.shuffle(batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._batches()
        self.epoch += 1  # the next pass differs unless set_epoch says otherwise
        return iter(batches)

    def __len__(self) -> int:
        return (len(self.lengths) + self.batch_size - 1) // self.batch_size
