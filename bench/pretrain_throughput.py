"""biLM pretraining throughput: training tokens/s and the fraction of this CPU's matmul peak.

    python bench/pretrain_throughput.py [--models mini small] [--steps 20] [--threads 2] [--device cpu]

Each model preset of conf/pretrain/model/ trains on real WikiText-2 batches
(``$ELMO_TASKS_DATA/wikitext2/train.txt.gz``, 128 streams x 20 steps, both directions,
the preset's softmax) with Adam. The FLOPs of one training step (forward + backward) are
counted by ``torch.utils.flop_counter.FlopCounterMode``: as executed, and nominal (the
character CNN as convolutions over every token up to the batch's longest, as before it was
chunked by token length and turned into table lookups; comparable across releases). The
peak is the best of five 2048x2048 fp32 matmuls with the same number of threads, measured
before and after each row (the higher of the two is used). The table shows the median step.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
from elmo_throughput import matmul_gflops, synchronize  # noqa: E402

from elmo_tasks.elmo import modules  # noqa: E402
from elmo_tasks.pretraining.corpus import LmDataModule  # noqa: E402
from elmo_tasks.pretraining.run import build_pretrainer, compose_pretrain_config  # noqa: E402
from elmo_tasks.pretraining.text import build_vocabulary  # noqa: E402


def batches(
    train_file: Path, vocabulary: list[str], count: int, batch_size: int = 64
) -> list[dict]:
    datamodule = LmDataModule(
        train_files=[str(train_file)],
        validation_files=None,
        vocabulary=vocabulary,
        batch_size=batch_size,
        unroll_steps=20,
    )
    datamodule.setup("fit")
    out = []
    for batch in datamodule.train_dataloader():
        out.append(batch)
        if len(out) == count:
            return out
    raise SystemExit(f"{train_file} gave only {len(out)} batches")


def batched_product_flops(self_shape, a_shape, b_shape, *args, **kwargs) -> int:
    """FLOPs of ``baddbmm_``: (b, m, k) @ (b, k, n), as the counter counts ``baddbmm``."""
    (batch, m, k), n = a_shape, b_shape[2]
    return 2 * batch * m * n * k


def measure(
    model_name: str,
    train_file: Path,
    vocabulary: list[str],
    steps: int,
    batch_size: int = 64,
    device: str = "cpu",
) -> dict[str, float]:
    cfg = compose_pretrain_config("/tmp/pretrain_throughput", [f"model={model_name}"])
    model = build_pretrainer(cfg, vocabulary, corpus={}).to(device)
    optimizer = model.configure_optimizers()
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer
    model.train()
    data = [
        {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        for batch in batches(train_file, vocabulary, steps + 2, batch_size)
    ]

    def step(batch: dict) -> None:
        optimizer.zero_grad(set_to_none=True)
        model._step(batch, "train").backward()
        optimizer.step()

    step(data[0])
    # The recurrence accumulates each step's recurrent product in place (baddbmm_), which
    # the counter's table does not list; it is the same product as baddbmm.
    counted = {torch.ops.aten.baddbmm_: batched_product_flops}
    with FlopCounterMode(display=False, custom_mapping=counted) as counter:
        step(data[1])
    flops = counter.get_total_flops()
    # Nominal work, comparable across releases: the character CNN as convolutions over
    # every token's positions up to the batch's longest token (one chunk), as it ran before
    # it was chunked by token length and computed by table lookups; the executed count
    # above is lower by what those remove (and does not count the lookups' additions).
    chunk, modules.CONV_TOKEN_CHUNK = modules.CONV_TOKEN_CHUNK, 10**12
    table_devices, modules.CHAR_TABLE_DEVICES = modules.CHAR_TABLE_DEVICES, ()
    try:
        with FlopCounterMode(display=False, custom_mapping=counted) as nominal_counter:
            step(data[1])
    finally:
        modules.CONV_TOKEN_CHUNK, modules.CHAR_TABLE_DEVICES = chunk, table_devices
    nominal_flops = nominal_counter.get_total_flops()
    times = []
    for batch in data[2:]:
        synchronize(device)
        start = time.perf_counter()
        step(batch)
        synchronize(device)
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    tokens = int(data[1]["mask"].sum())
    return {
        "params": sum(p.numel() for p in model.bilm.parameters()),
        "tokens_per_s": tokens / seconds,
        "gflop_per_token": flops / tokens / 1e9,
        "gflops": flops / seconds / 1e9,
        "nominal_gflop_per_token": nominal_flops / tokens / 1e9,
        "nominal_gflops": nominal_flops / seconds / 1e9,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["mini", "small"])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--batch-sizes", type=int, nargs="+", default=[128], help="streams per batch"
    )
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    data_dir = Path(
        os.environ.get(
            "ELMO_TASKS_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"
        )
    )
    train_file = data_dir / "wikitext2" / "train.txt.gz"
    if not train_file.is_file():
        sys.exit(f"WikiText-2 not found at {train_file}; set ELMO_TASKS_DATA")
    vocabulary = build_vocabulary([train_file], 1, None, "whitespace", False)
    print(f"threads: {args.threads}, vocabulary: {len(vocabulary)} words\n")
    print(
        "| model | batch | biLM params | train tokens/s | GFLOP/token executed | nominal | matmul GFLOP/s | "
        "of matmul peak, executed | nominal |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.models:
        for batch_size in args.batch_sizes:
            # The machine's rate varies by 10-15% from minute to minute: the best of the
            # measurements before and after this row (the lower, conservative share).
            before = matmul_gflops(device=args.device)
            r = measure(name, train_file, vocabulary, args.steps, batch_size, args.device)
            peak = max(before, matmul_gflops(device=args.device))
            print(
                f"| {name} | {batch_size} | {r['params'] / 1e6:.2f}M | {r['tokens_per_s']:,.0f} "
                f"| {r['gflop_per_token']:.4f} | {r['nominal_gflop_per_token']:.4f} | {peak:.0f} "
                f"| {r['gflops'] / peak:.0%} | {r['nominal_gflops'] / peak:.0%} |"
            )


if __name__ == "__main__":
    main()
