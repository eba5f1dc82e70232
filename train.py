"""Train and evaluate one experiment: `python train.py experiment=sst2_elmo seed=1`.

Hydra composes conf/config.yaml with the chosen groups; see docs/configuration.md.
Returns the main validation metric, so Hydra sweepers can optimise it.
A misspelt group option or key stops the run with a one-line suggestion (exit status 2).
"""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from elmo_tasks.config import register_resolvers
from elmo_tasks.config_errors import check_overrides

PROJECT_ROOT = Path(__file__).resolve().parent
register_resolvers(PROJECT_ROOT)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    from elmo_tasks.experiment import run

    return run(cfg)


if __name__ == "__main__":
    problem = check_overrides(sys.argv[1:], PROJECT_ROOT / "conf")
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
    main()
