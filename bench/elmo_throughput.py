"""ELMo biLM throughput on real English sentences: ours vs the reference algorithm.

    python bench/elmo_throughput.py [--models small original] [--rounds 5] [--batches 8]

Random weights in the published shapes (``small``, ``original``) are written to a temp
folder; sentences come from SST-2 dev (``$ELMO_TASKS_DATA/sst2/dev.tsv``), sorted by
length and cut into batches of 32; every k-th batch is used so all lengths are covered.
Each round times every (model, implementation) pair once, interleaved, in inference mode
with 2 threads, together with a 2048x2048 fp32 matmul; the table shows the best round.
"ours" keeps token vectors across the batches of a pass (the frozen-encoder token cache,
emptied before every pass); "ours, no token cache" computes each distinct token once per
batch only. Peak memory is the growth of the process's resident-set high-water mark during a pass
(reset through /proc/self/clear_refs before each pass).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
from reference_style import ReferenceStyleBiLm  # noqa: E402

from elmo_tasks.elmo import ElmoBiLm, batch_to_ids  # noqa: E402
from elmo_tasks.elmo.random_weights import write_random_elmo  # noqa: E402

FLOPS_PER_TOKEN = {"small": 44e6, "original": 204e6}


def synchronize(device: str | torch.device = "cpu") -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def matmul_gflops(size: int = 2048, repeats: int = 5, device: str = "cpu") -> float:
    """The fp32 rate of a size x size matmul, best of ``repeats`` (8192 on a GPU)."""
    size = 8192 if torch.device(device).type == "cuda" else size
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        a @ b
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def timed_pass(run, batches) -> tuple[float, float]:
    """Seconds for one pass over ``batches`` and peak extra resident memory in MiB."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        base = _status_kib("VmRSS:")
    except OSError:
        base = None
    start = time.perf_counter()
    with torch.inference_mode():
        for char_ids in batches:
            run(char_ids)
    synchronize(batches[0].device)
    seconds = time.perf_counter() - start
    peak = (_status_kib("VmHWM:") - base) / 1024 if base is not None else float("nan")
    return seconds, peak


def load_sentences(batch_size: int, n_batches: int) -> list[list[list[str]]]:
    data = Path(
        os.environ.get(
            "ELMO_TASKS_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
        )
    )
    lines = (data / "sst2" / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:]
    sentences = sorted((line.rsplit("\t", 1)[0].split() for line in lines), key=len)
    batches = [sentences[i : i + batch_size] for i in range(0, len(sentences), batch_size)]
    stride = max(1, len(batches) // n_batches)
    return batches[::stride][:n_batches]


def timed_training_pass(run, batches) -> float:
    """Seconds for forward and backward (of the sum of the top layer) over ``batches``."""
    start = time.perf_counter()
    for char_ids in batches:
        run(char_ids)
    synchronize(batches[0].device)
    return time.perf_counter() - start


def ours_backward(elmo: ElmoBiLm):
    def run(char_ids: torch.Tensor) -> None:
        elmo.zero_grad(set_to_none=True)
        elmo(char_ids)["activations"][-1].sum().backward()

    return run


def reference_backward(reference: ReferenceStyleBiLm):
    def run(char_ids: torch.Tensor) -> None:
        reference.zero_grad(set_to_none=True)
        reference(char_ids)[-1].sum().backward()

    return run


def bf16(run):
    def autocast_run(char_ids: torch.Tensor) -> None:
        with torch.autocast(char_ids.device.type, dtype=torch.bfloat16):
            run(char_ids)

    return autocast_run


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=["small", "original"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--batches", type=int, default=8, help="batches of 32 sentences per inference pass"
    )
    parser.add_argument(
        "--batch-sizes",
        type=int,
        nargs="+",
        default=[32, 128],
        help="inference batch sizes; larger batches cover about the same sentences",
    )
    parser.add_argument(
        "--grad-batches", type=int, default=2, help="batches of 32 per fine-tuning pass (0: skip)"
    )
    parser.add_argument(
        "--bf16", action="store_true", help="add ours under bf16 autocast (CPUs with bf16 support)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--device", default="cpu", help="cpu or cuda (peak MiB: the GPU's allocator peak there)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    tmp = tempfile.mkdtemp()
    # (model, mode, batch size) -> (implementation -> (kind, runner)), and the batches they take.
    cases: dict[tuple[str, str, int], dict[str, tuple[str, object]]] = {}
    data: dict[tuple[str, str, int], list[torch.Tensor]] = {}
    tokens: dict[tuple[str, str, int], int] = {}
    for name in args.models:
        options_path, weights_path = write_random_elmo(Path(tmp) / name, name)
        ours = ElmoBiLm(options_path, weights_path).to(device)
        reference = ReferenceStyleBiLm(ours.bilm).to(device)
        for size in args.batch_sizes:
            sentences = load_sentences(size, max(1, args.batches * 32 // size))
            key = (name, "inference", size)
            data[key] = [batch_to_ids(b).to(device) for b in sentences]
            tokens[key] = sum(len(s) for b in sentences for s in b)
            with torch.inference_mode():  # same numbers from both, checked once
                a = ours(data[key][0])["activations"][2][:, 1:-1]
                b = reference(data[key][0])[1][:, 1:-1]
                # float32 sums of up to 4,096 products in another order: about 1e-5 apart.
                assert torch.allclose(a, b, atol=1e-4), float((a - b).abs().max())
            no_cache = ElmoBiLm(options_path, weights_path).to(device)
            no_cache.bilm.token_cache.max_size = 0
            cases[key] = {
                "ours": ("inference", ours),
                "ours, no token cache": ("inference", no_cache),
            }
            if args.bf16:
                cases[key]["ours, bf16 autocast"] = ("inference", bf16(ours))
            cases[key]["reference-style"] = ("inference", reference)
        if args.grad_batches:
            key = (name, "fine-tune", 32)
            sentences = load_sentences(32, args.grad_batches)
            data[key] = [batch_to_ids(b).to(device) for b in sentences]
            tokens[key] = sum(len(s) for b in sentences for s in b)
            trainable = ElmoBiLm(options_path, weights_path, requires_grad=True).to(device)
            reference_trainable = ReferenceStyleBiLm(trainable.bilm, requires_grad=True).to(device)
            cases[key] = {
                "ours": ("training", ours_backward(trainable)),
                "reference-style": ("training", reference_backward(reference_trainable)),
            }

    best: dict[tuple, tuple[float, float, float]] = {}
    for round_index in range(args.rounds):
        for key, impls in cases.items():
            for impl, (kind, run) in impls.items():
                gflops = matmul_gflops(device=args.device)
                if isinstance(run, ElmoBiLm):
                    run.bilm.token_cache.clear()  # every pass starts cold
                if kind == "inference" and device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                    seconds = timed_pass(run, data[key])[0]
                    peak = torch.cuda.max_memory_allocated() / 2**20
                elif kind == "inference":
                    seconds, peak = timed_pass(run, data[key])
                else:
                    seconds, peak = timed_training_pass(run, data[key]), float("nan")
                if (*key, impl) not in best or seconds < best[(*key, impl)][0]:
                    best[(*key, impl)] = (seconds, peak, gflops)
        print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)

    where = (
        f"{args.threads} threads" if device.type == "cpu" else torch.cuda.get_device_name(device)
    )
    print(
        f"SST-2 dev sentences sorted by length, {where}, best of {args.rounds} interleaved rounds"
    )
    print(
        "| model | mode | batch | tokens | implementation | tokens/s | speed-up | peak MiB "
        "| matmul GFLOP/s | % of matmul |"
    )
    print("|---|---|---:|---:|---|---:|---:|---:|---:|---:|")
    for key, impls in cases.items():
        name, mode, size = key
        ref_seconds = best[(*key, "reference-style")][0]
        flops = FLOPS_PER_TOKEN[name] * (
            3 if mode == "fine-tune" else 1
        )  # backward: about twice the forward
        for impl in impls:
            seconds, peak, gflops = best[(*key, impl)]
            rate = tokens[key] / seconds
            fraction = rate * flops / (gflops * 1e9)
            print(
                f"| {name} | {mode} | {size} | {tokens[key]:,} | {impl} | {rate:,.0f} | {ref_seconds / seconds:.2f}x "
                f"| {peak:.0f} | {gflops:.0f} | {fraction:.0%} |"
            )


if __name__ == "__main__":
    main()
