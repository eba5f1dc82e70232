"""A sweep of frozen-ELMo runs with and without the activation cache, side by side.

    python bench/sweep_cache.py [--train 1000] [--eval 300] [--epochs 3] [--preset original] [--threads 1]

Six runs (seeds 1-3 x heads max/attention) of `experiment=sst2_elmo` on the first
``--train`` SST-2 training sentences, validated and tested on the first ``--eval`` dev/test
sentences, each ``--epochs`` epochs, with random weights in a published shape
(``--preset``). The sweep runs twice, each time in a fresh process as ``python train.py -m``
would run it: first with ``encoder.cache_dir=null``, then with a fresh cache folder (its
one-time build counted in the cached total). Prints the wall time of every run, the totals
and their ratio, and checks that each pair of runs reached the same metrics. The defaults
take about 30 minutes on 2 CPU cores; ``--preset small --train 3000 --eval 872`` about 7.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

import torch

from elmo_tasks.elmo.random_weights import write_random_elmo
from elmo_tasks.runs.config import compose_config
from elmo_tasks.runs.experiment import run

RUNS = [(seed, head) for seed in (1, 2, 3) for head in ("max", "attention")]


def sweep(
    workdir: Path, options: Path, weights: Path, cache_dir: str, args
) -> list[tuple[float, dict]]:
    """The six runs, one after the other (as Hydra's basic launcher runs them)."""
    torch.set_num_threads(args.threads)
    logging.disable(logging.WARNING)
    outcomes = []
    for seed, head in RUNS:
        out = workdir / f"seed{seed}-{head}"
        cfg = compose_config(
            out,
            [
                "experiment=sst2_elmo",
                f"head={head}",
                f"seed={seed}",
                f"task.max_train_samples={args.train}",
                f"task.max_eval_samples={args.eval}",
                f"trainer.max_epochs={args.epochs}",
                "callbacks.rich_progress_bar=null",
                "callbacks.early_stopping=null",
                "trainer.enable_progress_bar=false",
                "+trainer.enable_model_summary=false",
                "logger=csv",
                f"encoder.options_file={options}",
                f"encoder.weight_file={weights}",
                f"encoder.cache_dir={cache_dir}",
            ],
        )
        start = time.perf_counter()
        run(cfg)
        outcomes.append(
            (time.perf_counter() - start, json.loads((out / "results.json").read_text()))
        )
        print(
            f"  {'cached' if cache_dir != 'null' else 'direct'} seed={seed} head={head}: {outcomes[-1][0]:.1f} s",
            file=sys.stderr,
        )
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train", type=int, default=1000)
    parser.add_argument("--eval", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "--preset",
        default="original",
        help="the biLM shape: original (what sst2_elmo uses), small, ...",
    )
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="sweep_cache_"))
    options, weights = write_random_elmo(workdir / "elmo", args.preset, seed=0)
    spawn = multiprocessing.get_context("spawn")
    with spawn.Pool(1, maxtasksperchild=1) as pool:  # a fresh interpreter for each sweep
        direct = pool.apply(sweep, (workdir / "direct", options, weights, "null", args))
        cached = pool.apply(
            sweep, (workdir / "cached", options, weights, str(workdir / "cache"), args)
        )

    total_direct, total_cached = sum(t for t, _ in direct), sum(t for t, _ in cached)
    print(
        f"6 runs x {args.epochs} epochs, SST-2 first {args.train} train / {args.eval} dev+test sentences, "
        f"ELMo '{args.preset}' shape (random weights), {args.threads} threads"
    )
    print(f"{'run':22} {'no cache s':>10} {'cache s':>8} {'val acc (no cache / cache)':>28}")
    worst = 0.0
    for (seed, head), (t_direct, r_direct), (t_cached, r_cached) in zip(RUNS, direct, cached):
        a, b = r_direct["val"]["accuracy"], r_cached["val"]["accuracy"]
        worst = max(
            worst,
            *(abs(r_direct[s][m] - r_cached[s][m]) for s in ("val", "test") for m in r_direct[s]),
        )
        print(f"seed={seed} head={head:9} {t_direct:10.1f} {t_cached:8.1f} {a:13.4f} / {b:.4f}")
    print(
        f"{'total':22} {total_direct:10.1f} {total_cached:8.1f}   speed-up {total_direct / total_cached:.1f}x"
    )
    print(f"largest metric difference between paired runs: {worst:.2e}")


if __name__ == "__main__":
    main()
