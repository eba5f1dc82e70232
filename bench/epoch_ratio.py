"""Training-epoch time of a baseline preset against its baseline + ELMo preset, side by side in
one process: the baseline, baseline + ELMo reading the activation cache, and baseline + ELMo
running the biLM at every batch (what the concat encoder did before it read the cache), in
interleaved rounds, best round reported.

    python bench/epoch_ratio.py [--tasks sst2 conll2003] [--train 3200] [--batches 50]
        [--rounds 3] [--elmo mini]

An epoch here is ``--batches`` training batches of the preset's data module (forward, loss,
backward and an Adam step; Lightning's loop left out, so only the models differ), one
thread, on the first ``--train`` training sentences (the activation cache is built for
them before the first round and not timed). Needs ``$ELMO_TASKS_DATA``. Prints a markdown
table.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from elmo_tasks.runs.config import compose_config
from elmo_tasks.runs.experiment import build


def epoch(model, batches, optimizer) -> float:
    model.train()
    start = time.perf_counter()
    for batch in batches:
        optimizer.zero_grad()
        out = model.training_step(batch, 0)
        (out["loss"] if isinstance(out, dict) else out).backward()
        optimizer.step()
    return time.perf_counter() - start


def models(task: str, args: argparse.Namespace, folder: str):
    common = [
        "threads=1",
        f"task.max_train_samples={args.train}",
        "task.max_eval_samples=32",
        f"seed={args.seed}",
    ]
    elmo = [f"encoder.encoders.elmo.options_file={args.elmo}"]
    elmo.append(f"encoder.encoders.elmo.weight_file={args.elmo}")
    data, baseline = build(compose_config(f"{folder}/b", [f"experiment={task}_baseline", *common]))
    _, with_elmo = build(
        compose_config(f"{folder}/e", [f"experiment={task}_baseline_elmo", *common, *elmo])
    )
    loader = data.train_dataloader()
    batches = [batch for _, batch in zip(range(args.batches), loader)]
    return batches, baseline, with_elmo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["sst2", "conll2003"])
    parser.add_argument("--train", type=int, default=3200)
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--elmo", default="mini")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for task in args.tasks:
        with tempfile.TemporaryDirectory() as folder:
            batches, baseline, with_elmo = models(task, args, folder)
            encoder = next(e for e in with_elmo.encoder.inner_encoders() if hasattr(e, "caches"))
            caches = encoder.caches
            optimizers = {
                name: torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=1e-4)
                for name, m in (("baseline", baseline), ("elmo", with_elmo))
            }
            best = {"baseline": float("inf"), "cached": float("inf"), "uncached": float("inf")}
            for _ in range(args.rounds):
                best["baseline"] = min(
                    best["baseline"], epoch(baseline, batches, optimizers["baseline"])
                )
                encoder.caches = caches
                best["cached"] = min(best["cached"], epoch(with_elmo, batches, optimizers["elmo"]))
                encoder.caches = []
                best["uncached"] = min(
                    best["uncached"], epoch(with_elmo, batches, optimizers["elmo"])
                )
            rows.append((task, len(batches), best))
    print(
        "| task | batches | baseline (s) | + ELMo, cache (s) | + ELMo, biLM every batch (s) | "
        "cache / baseline | biLM / baseline |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for task, n, best in rows:
        print(
            f"| {task} | {n} | {best['baseline']:.2f} | {best['cached']:.2f} | "
            f"{best['uncached']:.2f} | {best['cached'] / best['baseline']:.2f}x | "
            f"{best['uncached'] / best['baseline']:.2f}x |"
        )


if __name__ == "__main__":
    main()
