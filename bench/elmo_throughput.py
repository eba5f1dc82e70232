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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_style import ReferenceStyleBiLm  # noqa: E402

from elmo_tasks.elmo import ElmoBiLm, batch_to_ids  # noqa: E402
from elmo_tasks.elmo.random_weights import write_random_elmo  # noqa: E402

FLOPS_PER_TOKEN = {"small": 44e6, "original": 204e6}


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
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
    seconds = time.perf_counter() - start
    peak = (_status_kib("VmHWM:") - base) / 1024 if base is not None else float("nan")
    return seconds, peak


def load_sentences(batch_size: int, n_batches: int) -> list[list[list[str]]]:
    data = Path(os.environ.get("ELMO_TASKS_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
    lines = (data / "sst2" / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:]
    sentences = sorted((line.rsplit("\t", 1)[0].split() for line in lines), key=len)
    batches = [sentences[i : i + batch_size] for i in range(0, len(sentences), batch_size)]
    stride = max(1, len(batches) // n_batches)
    return batches[::stride][:n_batches]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["small", "original"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batches", type=int, default=8, help="number of batches of 32 sentences per pass")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    sentences = load_sentences(32, args.batches)
    batches = [batch_to_ids(b) for b in sentences]
    n_tokens = sum(len(s) for b in sentences for s in b)
    tmp = tempfile.mkdtemp()
    runners = {}
    for name in args.models:
        options_path, weights_path = write_random_elmo(Path(tmp) / name, name)
        ours = ElmoBiLm(options_path, weights_path)
        reference = ReferenceStyleBiLm(ours.bilm)
        with torch.inference_mode():  # same numbers from both, checked once
            a = ours(batches[0])["activations"][2][:, 1:-1]
            b = reference(batches[0])[1][:, 1:-1]
            assert torch.allclose(a, b, atol=1e-5), float((a - b).abs().max())
        no_cache = ElmoBiLm(options_path, weights_path)
        no_cache.bilm.token_cache.max_size = 0
        runners[name] = {
            "ours": ours,
            "ours, no token cache": no_cache,
            "reference-style": reference,
        }

    best: dict[tuple[str, str], tuple[float, float, float]] = {}
    for round_index in range(args.rounds):
        for name, impls in runners.items():
            for impl, run in impls.items():
                gflops = matmul_gflops()
                if isinstance(run, ElmoBiLm):
                    run.bilm.token_cache.clear()  # every pass starts cold
                seconds, peak = timed_pass(run, batches)
                key = (name, impl)
                if key not in best or seconds < best[key][0]:
                    best[key] = (seconds, peak, gflops)
        print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)

    print(f"{len(sentences)} batches of 32 SST-2 dev sentences, {n_tokens} tokens, {args.threads} threads, best of {args.rounds} rounds")
    print(f"{'model':10} {'implementation':22} {'tokens/s':>9} {'speed-up':>8} {'peak MiB':>9} {'matmul GFLOP/s':>15} {'% of matmul':>11}")
    for name in runners:
        ref_seconds = best[(name, "reference-style")][0]
        for impl in runners[name]:
            seconds, peak, gflops = best[(name, impl)]
            rate = n_tokens / seconds
            fraction = rate * FLOPS_PER_TOKEN[name] / (gflops * 1e9)
            print(f"{name:10} {impl:22} {rate:9.0f} {ref_seconds / seconds:7.2f}x {peak:9.0f} {gflops:15.0f} {fraction:10.0%}")


if __name__ == "__main__":
    main()
