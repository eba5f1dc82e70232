"""How fast this CPU multiplies a weight matrix by a few dozen columns, by weight size.

    python bench/weight_stream.py [--columns 32] [--threads 1] [--repeats 10]

Each step of an LSTM multiplies its whole recurrent (and projection) weight by the batch's
states, so at small batch sizes the step time is the time to stream the weights through the
core. This prints the rate of ``W @ h`` (fp32, W of 512 columns, h of ``--columns`` columns)
for weights of 2 MB to 128 MB next to the 2048x2048 matmul rate: the rate falls once the
weight no longer fits in the cache, which bounds what any implementation of the `original`
biLM (32 MB recurrent and 8 MB projection weight per direction and layer) can reach.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).resolve().parent)]
from elmo_throughput import matmul_gflops  # noqa: E402


def best_seconds(run, repeats: int) -> float:
    run()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            run()
        best = min(best, (time.perf_counter() - start) / repeats)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--columns", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    peak = matmul_gflops()
    print(
        f"{args.threads} thread(s), {args.columns} columns, 2048x2048 fp32 matmul: {peak:.0f} GFLOP/s\n"
    )
    print("| weight | MB | GFLOP/s | of matmul | GB/s of weight read |")
    print("|---|---:|---:|---:|---:|")
    for rows in (1024, 4096, 8192, 16384, 20480, 32768, 65536):
        weight, states = torch.randn(rows, 512), torch.randn(512, args.columns)
        seconds = best_seconds(lambda weight=weight, states=states: weight @ states, args.repeats)
        megabytes = weight.numel() * 4 / 2**20
        gflops = 2 * rows * 512 * args.columns / seconds / 1e9
        print(
            f"| {rows} x 512 | {megabytes:.0f} | {gflops:.0f} | {gflops / peak:.0%} "
            f"| {weight.numel() * 4 / seconds / 1e9:.1f} |"
        )


if __name__ == "__main__":
    main()
