"""Length-bucketed batches: sentences of similar length together, so little is padding.

The sampler is also what makes training resumable mid-epoch and what splits the data
between DDP processes (``trainer=ddp``); Lightning's own distributed sampler is not used
(the experiment sets ``use_distributed_sampler=False``)."""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Iterator, Sequence
from typing import Any

from torch.utils.data import Sampler

log = logging.getLogger(__name__)


class BucketBatchSampler(Sampler[list[int]]):
    """Yields lists of indices. Training: shuffle (seeded per epoch), sort within pools of
    ``pool_batches`` batches by length, cut into batches, shuffle the batches.
    Evaluation (``shuffle=False``): sorted by length, so padding is minimal.

    With ``num_replicas`` processes (DDP), ``batch_size`` is per process: training draws the
    very batches of one process with ``batch_size * num_replicas`` (same seed, same order)
    and process ``rank`` takes every ``num_replicas``-th row of each, so the gradient
    averaged over the processes is the gradient of that global batch. A global batch with
    fewer rows than processes (a tiny last batch) is topped up with its own rows. Evaluation
    gives each process every ``num_replicas``-th row of the length-sorted data, each row to
    exactly one process, in the same number of batches on every process where the sizes
    allow it (metrics are then summed over processes by torchmetrics).

    ``state_dict(batches_done)`` / ``load_state_dict`` record the epoch and how many of its
    batches were trained; the next pass after ``load_state_dict`` skips them, so a run resumed
    from a mid-epoch checkpoint sees exactly the batches an uninterrupted run would.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        pool_batches: int = 50,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(
                f"rank must be in [0, num_replicas), got rank={rank}, num_replicas={num_replicas}"
            )
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.pool_batches = pool_batches
        self.num_replicas, self.rank = num_replicas, rank
        self.epoch = 0
        self._iter_epoch = 0  # the epoch of the pass handed out last
        self._resume: tuple[int, int] | None = None  # (epoch, batches to skip) from load_state_dict

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def global_batch_size(self) -> int:
        return self.batch_size * self.num_replicas

    def _global_batches(self) -> list[list[int]]:
        """The batches of one process with ``global_batch_size`` (the single-process order)."""
        size = self.global_batch_size
        indices = list(range(len(self.lengths)))
        if not self.shuffle:
            indices.sort(key=lambda i: self.lengths[i])
            return [indices[i : i + size] for i in range(0, len(indices), size)]
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        rng.shuffle(indices)
        pool = size * self.pool_batches
        batches = []
        for start in range(0, len(indices), pool):
            chunk = sorted(indices[start : start + pool], key=lambda i: self.lengths[i])
            batches += [chunk[i : i + size] for i in range(0, len(chunk), size)]
        rng.shuffle(batches)
        return batches

    def _share(self, batch: list[int]) -> list[int]:
        """This rank's rows of a global training batch."""
        if len(batch) < self.num_replicas:
            batch = (batch * self.num_replicas)[: self.num_replicas]
        return batch[self.rank :: self.num_replicas]

    def _eval_shard(self) -> list[list[int]]:
        """This rank's evaluation batches: every ``num_replicas``-th row by length, cut into as many
        batches as the largest shard needs, when every shard can fill that many."""
        order = sorted(range(len(self.lengths)), key=lambda i: self.lengths[i])
        shard = order[self.rank :: self.num_replicas]
        largest = math.ceil(len(order) / self.num_replicas)
        smallest = len(order) // self.num_replicas
        n_batches = math.ceil(largest / self.batch_size)
        if smallest < n_batches:  # e.g. batch_size 1 with uneven shards: batch counts differ by one
            return [shard[i : i + self.batch_size] for i in range(0, len(shard), self.batch_size)]
        base, extra = divmod(len(shard), n_batches)
        batches, start = [], 0
        for b in range(n_batches):
            end = start + base + (b < extra)
            batches.append(shard[start:end])
            start = end
        return batches

    def _batches(self) -> list[list[int]]:
        """This rank's batches of the current epoch."""
        if self.num_replicas == 1:
            return self._global_batches()
        if self.shuffle:
            return [self._share(batch) for batch in self._global_batches()]
        return self._eval_shard()

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._batches()
        self._iter_epoch = self.epoch
        if self._resume is not None:
            epoch, done = self._resume
            self._resume = None
            if epoch == self.epoch:
                batches = batches[done:]
        self.epoch += 1  # the next pass differs unless set_epoch says otherwise
        return iter(batches)

    def __len__(self) -> int:
        if self.num_replicas == 1 or self.shuffle:
            return (len(self.lengths) + self.global_batch_size - 1) // self.global_batch_size
        return len(self._eval_shard())

    def state_dict(self, batches_done: int = 0) -> dict[str, Any]:
        """Where training stands: the epoch of the current pass and ``batches_done`` of its batches
        trained, with what identifies the batch order (plain ints, for ``weights_only`` loading)."""
        return {
            "epoch": int(self._iter_epoch),
            "batches_done": int(batches_done),
            "seed": int(self.seed),
            "global_batch_size": int(self.global_batch_size),
            "num_rows": len(self.lengths),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Make the next pass continue ``state``'s epoch after its ``batches_done`` batches. A state
        saved with other data, seed or global batch size (the order differs) only sets the epoch."""
        mine = self.state_dict()
        differs = [
            key for key in ("seed", "global_batch_size", "num_rows") if state.get(key) != mine[key]
        ]
        self.epoch = int(state["epoch"])
        if differs:
            log.warning(
                "the checkpoint's batch order was made with other %s (%s); the resumed epoch %d starts "
                "from its first batch",
                ", ".join(differs),
                ", ".join(f"{k}={state.get(k)}" for k in differs),
                self.epoch,
            )
            return
        self._resume = (self.epoch, int(state["batches_done"]))
