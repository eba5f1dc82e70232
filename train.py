"""Train and evaluate one experiment: `python train.py experiment=sst2_elmo seed=1`.

Hydra composes conf/config.yaml with the chosen groups; see docs/configuration.md. With no
arguments it runs the quickstart (conf/experiment/quickstart.yaml): ELMo against a baseline on
data the package writes itself, offline, ending with a comparison table; `experiment=none`
composes groups by hand.
Returns the main validation metric, so Hydra sweepers can optimise it.
A misspelt group option or key, a value of the wrong type or range, or a folder that cannot be
written stops the run with a one-line suggestion (exit status 2);
missing data or weights, an unreachable hub dataset or absent CUDA stop it with one message
that says how to fix it (exit status 1; see elmo_tasks/preflight.py).
"""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from elmo_tasks.config import register_resolvers
from elmo_tasks.config_errors import check_overrides
from elmo_tasks.config_values import run_folder_problem
from elmo_tasks.errors import readable_errors
from elmo_tasks.quickstart import hand_picked_note

PROJECT_ROOT = Path(__file__).resolve().parent
register_resolvers(PROJECT_ROOT)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    from elmo_tasks.experiment import run

    with readable_errors():  # missing data/weights, hub offline, no CUDA: the message alone, exit status 1
        return run(cfg)


if __name__ == "__main__":
    problem = check_overrides(sys.argv[1:], PROJECT_ROOT / "conf") or run_folder_problem(
        sys.argv[1:], PROJECT_ROOT / "outputs"
    )
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
    note = hand_picked_note(sys.argv[1:])
    if note:
        print(f"note: {note}", file=sys.stderr)
    main()
