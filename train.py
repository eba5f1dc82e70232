"""Train and evaluate one experiment: `python train.py experiment=sst2_elmo seed=1`.

The same as `elmo-tasks train ...` (elmo_tasks/cli/train.py): Hydra composes conf/config.yaml with
the chosen groups; see docs/configuration.md. With no arguments it runs the quickstart.
"""

from elmo_tasks.cli.train import main

if __name__ == "__main__":
    main()
