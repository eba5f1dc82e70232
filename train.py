"""Train and evaluate one experiment: `python train.py experiment=sst2_elmo seed=1`.

Hydra composes conf/config.yaml with the chosen groups; see docs/configuration.md.
Returns the main validation metric, so Hydra sweepers can optimise it.
"""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from elmo_tasks.config import register_resolvers

register_resolvers(Path(__file__).resolve().parent)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    from elmo_tasks.experiment import run

    return run(cfg)


if __name__ == "__main__":
    main()
