"""What the median pruner saves on a real search: ``hparams_search=sst2_mini_optuna`` (SST-2, the
package's ``mini`` biLM, TPE) with and without pruning, the same sampler seed, run side by side
(each on one thread, so that both see the same machine), after one warm-up run that builds the
activation cache both read.

    python bench/optuna_pruning.py [--trials 20] [--max-train-samples 5000] [--epochs 6]
        [--out logs/optuna_pruning]

Prints a markdown table: wall time, trials complete / pruned, epochs trained, and the best
validation accuracy of each search. Needs the SST-2 data of ``$ELMO_TASKS_DATA``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

ROOT = Path(__file__).resolve().parents[1]


def train(*args: str, log: Path) -> subprocess.Popen:
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    with log.open("w") as handle:
        return subprocess.Popen(
            [sys.executable, "train.py", *args],
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--max-train-samples", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--out", type=Path, default=ROOT / "logs" / "optuna_pruning")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    common = [
        f"task.max_train_samples={args.max_train_samples}",
        f"trainer.max_epochs={args.epochs}",
        "threads=1",
        f"paths.log_dir={out}",
        f"encoder.cache_dir={out}/elmo_cache",
        "callbacks.rich_progress_bar=null",
        "trainer.enable_progress_bar=false",
    ]
    warm = train(
        "experiment=sst2_elmo",
        "encoder.options_file=mini",
        "encoder.weight_file=mini",
        "trainer.max_epochs=1",
        "test=false",
        f"hydra.run.dir={out}/warm_up",
        *common[:1],
        *common[2:],
        log=out / "warm_up.log",
    )
    if warm.wait() != 0:
        sys.exit(f"the warm-up run failed: see {out / 'warm_up.log'}")
    searches = {}
    for pruner in ("none", "median"):
        started = time.perf_counter()
        process = train(
            "hparams_search=sst2_mini_optuna",
            f"hydra/sweeper/pruner={pruner}",
            f"hydra.sweeper.n_trials={args.trials}",
            "hydra.sweeper.sampler.seed=1",
            f"hydra.sweeper.study_name=pruner_{pruner}",
            f"hydra.sweep.dir={out}/{pruner}",
            *common,
            log=out / f"{pruner}.log",
        )
        searches[pruner] = (process, started)
        print(
            f"started the search with pruner={pruner} (log: {out / f'{pruner}.log'})",
            file=sys.stderr,
        )
    ended: dict[str, float] = {}
    while len(ended) < len(searches):  # each search's own end, not when it is waited for
        for pruner, (process, _) in searches.items():
            if pruner not in ended and process.poll() is not None:
                ended[pruner] = time.perf_counter()
                if process.returncode != 0:
                    sys.exit(f"the search with pruner={pruner} failed: see {out / f'{pruner}.log'}")
        time.sleep(1)
    rows = []
    for pruner, (_, started) in searches.items():
        wall = ended[pruner] - started
        storage = optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(out / pruner / "optuna.journal"))
        )
        trials = optuna.load_study(study_name=f"pruner_{pruner}", storage=storage).trials
        done = [t for t in trials if t.state == TrialState.COMPLETE]
        rows.append(
            (
                pruner,
                wall,
                len(done),
                sum(t.state == TrialState.PRUNED for t in trials),
                sum(len(t.intermediate_values) for t in trials),
                max(t.value for t in done),
            )
        )
    print(
        f"SST-2 (first {args.max_train_samples} training sentences), mini biLM, {args.trials} trials"
    )
    print(
        f"of at most {args.epochs} epochs, TPE seed 1, both searches side by side, one thread each\n"
    )
    print("| pruner | wall time (s) | complete | pruned | epochs trained | best val accuracy |")
    print("|---|---:|---:|---:|---:|---:|")
    for pruner, wall, complete, pruned, epochs, best in rows:
        print(f"| {pruner} | {wall:.0f} | {complete} | {pruned} | {epochs} | {best:.4f} |")


if __name__ == "__main__":
    main()
