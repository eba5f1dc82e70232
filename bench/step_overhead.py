"""Framework overhead of a cached frozen-ELMo training step.

    python bench/step_overhead.py [--train 2000] [--epochs 3] [--rounds 3] [--preset small] [--threads 1] [--profile]

Trains `experiment=sst2_elmo` (head max, random weights in a published shape, activations
from a fresh cache) on the first ``--train`` SST-2 sentences as `train.py` would, and times
its training epochs with a callback (validation excluded). The same data loader then feeds
a bare loop of the same module: encoder and head forward, loss, backward, optimiser step.
Both alternate for ``--rounds``; overhead = 1 - bare / Lightning, per step, from the best
epoch of each. ``--profile``
prints where Lightning's step time goes (cProfile, by cumulative time).
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import ClassVar

import pytorch_lightning as pl
import torch

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from elmo_tasks.elmo.random_weights import write_random_elmo  # noqa: E402
from elmo_tasks.runs.config import compose_config  # noqa: E402
from elmo_tasks.runs.experiment import build, run  # noqa: E402


class EpochTimer(pl.Callback):
    """Seconds and steps of every training epoch (validation runs after the epoch ends)."""

    epochs: ClassVar[list[tuple[float, int]]] = []
    profiler: ClassVar[cProfile.Profile | None] = None  # set to profile the training epochs only

    def on_train_epoch_start(self, trainer, module) -> None:
        if EpochTimer.profiler:
            EpochTimer.profiler.enable()
        self._start, self._steps = time.perf_counter(), 0

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self._steps += 1
        self._end = time.perf_counter()

    def on_train_epoch_end(self, trainer, module) -> None:
        EpochTimer.epochs.append((self._end - self._start, self._steps))
        if EpochTimer.profiler:
            EpochTimer.profiler.disable()


def bare_epoch(
    model, datamodule, optimizer: torch.optim.Optimizer, clip: float | None
) -> tuple[float, int]:
    """Seconds and steps of one epoch: batches from the same data loader, then forward,
    loss, backward, the run's gradient clipping and the optimiser step, nothing else."""
    model.train()
    steps = 0
    start = time.perf_counter()
    for batch in datamodule.train_dataloader():
        batch = model.transfer_batch_to_device(batch, torch.device("cpu"), 0)
        steps += 1
        optimizer.zero_grad(set_to_none=True)
        loss = model.loss(model(batch["tokens"]), batch["label"])
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
    return time.perf_counter() - start, steps


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--sort", default="cumulative", help="cProfile order for --profile: cumulative, tottime"
    )
    parser.add_argument(
        "--callers", help="with --profile: also print the callers of functions matching this"
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        help="extra Hydra overrides for the run, e.g. callbacks.model_checkpoint=null",
    )
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    workdir = Path(tempfile.mkdtemp(prefix="step_overhead_"))
    options, weights = write_random_elmo(workdir / "elmo", args.preset, seed=0)
    import step_overhead  # the module Hydra imports the callback from (this file runs as __main__)

    timer = step_overhead.EpochTimer
    overrides = [
        "experiment=sst2_elmo",
        "head=max",
        "seed=1",
        f"threads={args.threads}",
        f"task.max_train_samples={args.train}",
        "task.max_eval_samples=100",
        f"trainer.max_epochs={args.epochs}",
        "callbacks.rich_progress_bar=null",
        "callbacks.early_stopping=null",
        "trainer.enable_progress_bar=false",
        "+trainer.enable_model_summary=false",
        "logger=csv",
        "test=false",
        f"encoder.options_file={options}",
        f"encoder.weight_file={weights}",
        f"encoder.cache_dir={workdir / 'cache'}",
        "+callbacks.epoch_timer._target_=step_overhead.EpochTimer",
        *args.overrides,
    ]
    run(compose_config(workdir / "first", overrides))  # builds the cache, then trains from it
    timer.epochs.clear()
    cfg = compose_config(workdir / "run", overrides)
    datamodule, model = build(cfg)
    optimizer = model.configure_optimizers()
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer
    optimizer = optimizer[0] if isinstance(optimizer, (list, tuple)) else optimizer
    clip = cfg.trainer.get("gradient_clip_val")
    bare: list[tuple[float, int]] = []
    profiler = None
    for round_index in range(args.rounds):  # interleaved: a Lightning run, then as many bare epochs
        timer.profiler = cProfile.Profile() if args.profile and round_index == 0 else None
        run(cfg)  # cache warm, as in every run of a sweep after the first
        profiler, timer.profiler = profiler or timer.profiler, None
        bare += [bare_epoch(model, datamodule, optimizer, clip) for _ in range(args.epochs)]
    lightning_seconds, steps = min(timer.epochs)
    bare_seconds, bare_steps = min(bare)
    assert bare_steps == steps, (bare_steps, steps)
    step_ms, bare_ms = 1000 * lightning_seconds / steps, 1000 * bare_seconds / steps
    print(
        f"{steps} steps per epoch, '{args.preset}' shape, {args.threads} threads, "
        f"best of {args.rounds} x {args.epochs} epochs"
    )
    print("| loop | ms per step | framework share |")
    print("|---|---:|---:|")
    print(f"| Lightning (train.py) | {step_ms:.2f} | {1 - bare_ms / step_ms:.0%} |")
    print(f"| bare loop, same module | {bare_ms:.2f} | |")
    if profiler:
        stats = pstats.Stats(profiler).sort_stats(args.sort)
        stats.print_stats(45)
        if args.callers:
            stats.print_callers(args.callers)


if __name__ == "__main__":
    main()
