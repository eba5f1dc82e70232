"""DDP (``trainer=ddp``) on CPU: two gloo processes give the numbers of one process with the
same global batch, each process trains on its own half of every batch, and only rank 0
writes the run's files."""

from __future__ import annotations

import json

import pytest
import torch

from elmo_tasks.data.batching import BucketBatchSampler
from tests.test_resume import (
    finish,
    results,
    tiny_overrides,
    train_process,
    write_tiny_sentiment,
)

# Without dropout the two runs compute the same thing: the per-process mean losses of two
# halves of a global batch of 16, averaged by DDP, have the gradient of the mean loss of the
# 16 rows. Only the order of the float32 sums differs (measured: weights within 2.1e-7 after
# 12 steps), far below what would flip a prediction of the toy task, hence the tolerances.
SETTINGS = ("head.dropout=0", "trainer.max_epochs=3")
METRIC_TOLERANCE = 1e-6
WEIGHT_TOLERANCE = 1e-5


@pytest.mark.slow
def test_two_cpu_processes_match_one_with_the_same_global_batch(tmp_path):
    files = write_tiny_sentiment(tmp_path / "data")  # 64 training rows: 4 global batches of 16
    single_dir, ddp_dir = tmp_path / "single", tmp_path / "ddp"
    ddp = train_process(
        ddp_dir,
        tiny_overrides(
            files,
            8,
            *SETTINGS,
            "trainer=ddp",
            "trainer.accelerator=cpu",
            "trainer.devices=2",
        ),
    )
    single = train_process(single_dir, tiny_overrides(files, 16, *SETTINGS))
    finish(single, single_dir)
    finish(ddp, ddp_dir)

    one, two = results(single_dir), results(ddp_dir)
    for split in ("val", "test"):
        assert set(one[split]) == set(two[split])
        for metric, value in one[split].items():
            assert two[split][metric] == pytest.approx(value, abs=METRIC_TOLERANCE), (split, metric)
    assert one["val"]["accuracy"] > 0.6, (
        "the toy task should be learnt; the comparison says little otherwise"
    )
    for name in ("best.ckpt", "last.ckpt"):
        a = torch.load(single_dir / "checkpoints" / name, weights_only=True)
        b = torch.load(ddp_dir / "checkpoints" / name, weights_only=True)
        # Each process trained on half of every batch: as many optimiser steps as one process.
        assert (
            a["global_step"]
            == b["global_step"]
            == (12 if name == "last.ckpt" else a["global_step"])
        )
        for key, tensor in a["state_dict"].items():
            assert torch.allclose(tensor, b["state_dict"][key], atol=WEIGHT_TOLERANCE, rtol=0), (
                name,
                key,
            )
    # Rank 1 ran (Lightning started it with its own log file) and wrote none of the run's files.
    rank1_log = (ddp_dir / "train_ddp_process_1.log").read_text()
    assert "results:" not in rank1_log
    assert "results:" in (ddp_dir / "train.log").read_text()
    assert json.loads((ddp_dir / "results.json").read_text())["seed"] == one["seed"]


def test_distributed_sampler_shards_each_global_batch():
    lengths = [5, 1, 9, 3, 3, 7, 2, 8, 4, 6] * 7 + [4]  # 71 rows
    single = BucketBatchSampler(lengths, batch_size=8, shuffle=True, seed=3)
    ranks = [
        BucketBatchSampler(lengths, batch_size=4, shuffle=True, seed=3, num_replicas=2, rank=r)
        for r in (0, 1)
    ]
    for epoch in (0, 1):
        for s in (single, *ranks):
            s.set_epoch(epoch)
        global_batches, (zero, one) = list(single), [list(s) for s in ranks]
        assert len(zero) == len(one) == len(global_batches) == len(ranks[0])
        for whole, a, b in zip(global_batches, zero, one):
            assert sorted(a + b) == sorted(whole)
    # Evaluation: every row once, the same number of batches on both ranks.
    evaluation = [
        list(BucketBatchSampler(lengths, 8, False, num_replicas=2, rank=r)) for r in (0, 1)
    ]
    assert len(evaluation[0]) == len(evaluation[1])
    rows = [i for shard in evaluation for batch in shard for i in batch]
    assert sorted(rows) == list(range(len(lengths)))
    assert max(len(batch) for shard in evaluation for batch in shard) <= 8
