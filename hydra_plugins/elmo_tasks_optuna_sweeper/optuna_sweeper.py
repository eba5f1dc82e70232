"""``hydra/sweeper=optuna``: the class Hydra instantiates; the work is in
:mod:`elmo_tasks.search.sweeper`."""

from elmo_tasks.search.sweeper import OptunaSearch


class OptunaSweeper(OptunaSearch):
    """Hyperparameter search with Optuna (keys: conf/hydra/sweeper/optuna.yaml, docs/sweeps.md)."""
