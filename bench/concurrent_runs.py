"""Two runs on one machine: one after the other, then both at once (threads=null, so each run
takes its share of the cores), as two `python train.py` processes.

    python bench/concurrent_runs.py [--rounds 2] [overrides ...]

Default overrides: the quickstart baseline on its 400 training sentences for 3 epochs. Prints
the wall time of each arrangement (best of ``--rounds``) and the threads each run used
(``results.json: threads``). Two concurrent runs should take no longer than the same two in
sequence.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = [
    "experiment=quickstart/baseline",
    "trainer.max_epochs=3",
    "callbacks.early_stopping=null",
]


def command(run_dir: Path, seed: int, overrides: list[str]) -> list[str]:
    return [
        sys.executable,
        "train.py",
        *overrides,
        f"seed={seed}",
        f"hydra.run.dir={run_dir}",
        "callbacks.rich_progress_bar=null",
        "trainer.enable_progress_bar=false",
    ]


def launch(run_dir: Path, seed: int, overrides: list[str]) -> subprocess.Popen:
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    env.pop("OMP_NUM_THREADS", None)  # the run chooses its own share
    return subprocess.Popen(
        command(run_dir, seed, overrides),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen) -> None:
    _, err = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"a run failed:\n{err[-2000:]}")


def threads(run_dir: Path) -> str:
    return str(json.loads((run_dir / "results.json").read_text()).get("threads"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("overrides", nargs="*", default=DEFAULT)
    args = parser.parse_args()
    best = {"one after the other": float("inf"), "both at once": float("inf")}
    used = {}
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(args.rounds):
            base = Path(folder) / f"round{round_}"
            start = time.perf_counter()
            for seed in (1, 2):
                finish(launch(base / f"seq{seed}", seed, args.overrides))
            best["one after the other"] = min(
                best["one after the other"], time.perf_counter() - start
            )
            used["one after the other"] = ", ".join(threads(base / f"seq{seed}") for seed in (1, 2))
            start = time.perf_counter()
            processes = [launch(base / f"par{seed}", seed, args.overrides) for seed in (1, 2)]
            for process in processes:
                finish(process)
            best["both at once"] = min(best["both at once"], time.perf_counter() - start)
            used["both at once"] = ", ".join(threads(base / f"par{seed}") for seed in (1, 2))
    print(f"cores: {os.cpu_count()}, overrides: {' '.join(args.overrides)}\n")
    print("| two runs | wall time (best of rounds) | threads per run |\n|---|---:|---|")
    for name, seconds in best.items():
        print(f"| {name} | {seconds:.1f} s | {used[name]} |")
    print(
        f"\nboth at once / one after the other: {best['both at once'] / best['one after the other']:.2f}"
    )


if __name__ == "__main__":
    main()
