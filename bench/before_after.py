"""Two checkouts side by side: the quickstart's wall time (alone and with a second job on the
cores) and the per-epoch training time of baseline and baseline + ELMo presets on full data,
each measurement run for the earlier checkout and then for this one, alternately.

    python bench/before_after.py --before /tmp/before [--after .] [--rounds 1]
        [--parts quickstart epochs] [--epochs 2] [--limit-train-batches 100] [--side-by-side]

The quickstart is ``python train.py`` run from each checkout's root with its outputs, its
corpus and its activation cache in a fresh temporary folder (what a first run on a fresh
install does). "With a second job" runs a two-thread torch matrix-product loop beside it.
The epoch runs train each preset (``--presets``) with ``threads=1``, the package's ``mini``
biLM (the published weights need the network), ``trainer.limit_train_batches`` batches of
the full training data per epoch (a random subset in each epoch; the activation cache still
covers the whole split; ``--max-train-samples N`` keeps only the first N sentences, which
shortens the cache build but not the epochs), validation on ``--limit-val-batches``
batches, and time each
training epoch (``bench/epoch_timer.py``); "setup" is the time from the start of the process
to the first epoch (reading the data, building the model and any activation cache). The
machine load (``os.getloadavg``) is printed with each row. Needs the data sets of
``$ELMO_TASKS_DATA``. Prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
BUSY = (
    "import torch\ntorch.set_num_threads(2)\na = torch.randn(1024, 1024)\n"
    "while True:\n    b = a @ a\n"
)
PRESETS = ["sst2_baseline", "sst2_baseline_elmo", "conll2003_baseline", "conll2003_baseline_elmo"]


def environment(tree: Path, scratch: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": f"{tree}{os.pathsep}{BENCH}",
        "ELMO_TASKS_CACHE": str(scratch / "elmo_tasks_cache"),
    }
    env.pop("OMP_NUM_THREADS", None)  # as a user runs it
    return env


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def cpu_seconds() -> float:
    """User + system CPU time of this process's finished children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(tree: Path, args: list[str], scratch: Path, log: Path) -> tuple[float, float]:
    """Wall time and CPU time (all its processes) of ``python train.py ARGS`` in ``tree``;
    stops the benchmark if it fails."""
    cpu = cpu_seconds()
    start = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(
            [sys.executable, "train.py", *args],
            cwd=tree,
            env=environment(tree, scratch),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if done.returncode != 0:
        raise SystemExit(f"{tree}: train.py {' '.join(args)} failed, see {log}")
    return time.perf_counter() - start, cpu_seconds() - cpu


def quickstart(tree: Path, busy: bool, scratch: Path) -> tuple[tuple[float, float], str]:
    other = subprocess.Popen([sys.executable, "-c", BUSY]) if busy else None
    try:
        before = load()
        seconds = run(
            tree,
            [f"paths.log_dir={scratch}/logs", f"hydra.sweep.dir={scratch}/sweep"],
            scratch,
            scratch / "quickstart.log",
        )
    finally:
        if other is not None:
            other.kill()
            other.wait()
    return seconds, before


def epochs(tree: Path, preset: str, args: argparse.Namespace, scratch: Path) -> dict:
    times = scratch / "epochs.jsonl"
    elmo = "encoder.encoders.elmo" if preset.endswith("baseline_elmo") else None
    overrides = [
        f"experiment={preset}",
        f"paths.log_dir={scratch}/logs",
        f"hydra.run.dir={scratch}/run",
        "threads=1",
        f"trainer.max_epochs={args.epochs}",
        f"+trainer.limit_train_batches={args.limit_train_batches}",
        f"+trainer.limit_val_batches={args.limit_val_batches}",
        "callbacks.early_stopping=null",
        "callbacks.rich_progress_bar=null",
        "trainer.enable_progress_bar=false",
        "test=false",
        *(
            f"task.{k}={v}"
            for k, v in (
                ("max_train_samples", args.max_train_samples),
                ("max_eval_samples", args.max_eval_samples),
            )
            if v
        ),
        f"+callbacks.epoch_timer={{_target_:epoch_timer.EpochTimer,path:'{times}'}}",
    ]
    if elmo:
        overrides += [f"{elmo}.options_file={args.elmo}", f"{elmo}.weight_file={args.elmo}"]
    started = time.time()
    before = load()
    wall, _ = run(tree, overrides, scratch, scratch / "train.log")
    records = [json.loads(line) for line in times.read_text().splitlines()]
    fit_start = next(r["fit_start_unix"] for r in records if "fit_start_unix" in r)
    return {
        "setup": fit_start - started,
        "epochs": [r["train_s"] for r in records if "train_s" in r],
        "batches": next(r["batches"] for r in records if "batches" in r),
        "wall": wall,
        "load": before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="the earlier checkout")
    parser.add_argument("--after", type=Path, default=ROOT)
    parser.add_argument("--parts", nargs="+", default=["quickstart", "epochs"])
    parser.add_argument("--rounds", type=int, default=1, help="quickstart rounds")
    parser.add_argument("--presets", nargs="+", default=PRESETS)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit-train-batches", type=int, default=100)
    parser.add_argument("--limit-val-batches", type=int, default=10)
    parser.add_argument(
        "--max-train-samples", type=int, default=None, help="the first N training sentences"
    )
    parser.add_argument("--max-eval-samples", type=int, default=None)
    parser.add_argument("--elmo", default="mini", help="biLM of the baseline + ELMo presets")
    parser.add_argument(
        "--side-by-side",
        action="store_true",
        help="train each preset of both checkouts at the same time (one thread each), so that "
        "other load on the machine slows both alike",
    )
    args = parser.parse_args()
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    print(f"# before: {trees['before']}  after: {trees['after']}  cores: {os.cpu_count()}\n")

    if "quickstart" in args.parts:
        rows = []
        for round_ in range(args.rounds):
            for busy in (False, True):
                for name, tree in trees.items():
                    with tempfile.TemporaryDirectory() as folder:
                        seconds, before = quickstart(tree, busy, Path(folder))
                    rows.append(
                        (round_, "with a second job" if busy else "alone", name, seconds, before)
                    )
                    print(f"quickstart {rows[-1]}", file=sys.stderr, flush=True)
        print(
            "| round | quickstart | checkout | wall time (s) | CPU time (s) | "
            "load at start (1/5/15 min) |"
        )
        print("|---:|---|---|---:|---:|---|")
        for round_, what, name, (seconds, cpu), before in rows:
            print(f"| {round_ + 1} | {what} | {name} | {seconds:.1f} | {cpu:.1f} | {before} |")
        print()

    if "epochs" in args.parts:
        rows = []
        for preset in args.presets:
            if args.side_by_side:  # both checkouts at once: each sees the same machine
                with ThreadPoolExecutor(len(trees)) as pool, ExitStack() as folders:
                    futures = {
                        name: pool.submit(
                            epochs,
                            tree,
                            preset,
                            args,
                            Path(folders.enter_context(tempfile.TemporaryDirectory())),
                        )
                        for name, tree in trees.items()
                    }
                    measured_by_name = {name: future.result() for name, future in futures.items()}
            else:
                measured_by_name = {}
                for name, tree in trees.items():
                    with tempfile.TemporaryDirectory() as folder:
                        measured_by_name[name] = epochs(tree, preset, args, Path(folder))
            for name, measured in measured_by_name.items():
                rows.append((preset, name, measured))
                print(f"epochs {preset} {name} {measured}", file=sys.stderr, flush=True)
        first_after = {p: m["epochs"] for p, n, m in rows if n == "after"}
        print(
            "| preset | checkout | setup (s) | epoch 1 (s) | later epochs (s) | "
            "batches/epoch | load at start |"
        )
        print("|---|---|---:|---:|---:|---:|---|")
        for preset, name, m in rows:
            later = m["epochs"][1:]
            later_text = ", ".join(f"{t:.1f}" for t in later) or "–"
            print(
                f"| {preset} | {name} | {m['setup']:.1f} | {m['epochs'][0]:.1f} | {later_text} | "
                f"{m['batches']} | {m['load']} |"
            )
        print()
        for preset in args.presets:
            if preset.endswith("_baseline_elmo"):
                base = preset.removesuffix("_elmo")
                if base in first_after and len(first_after[base]) > 1:
                    ratio = (sum(first_after[preset][1:]) / len(first_after[preset][1:])) / (
                        sum(first_after[base][1:]) / len(first_after[base][1:])
                    )
                    print(f"- after: {preset} epochs after the first = {ratio:.2f} x {base}'s")


if __name__ == "__main__":
    main()
