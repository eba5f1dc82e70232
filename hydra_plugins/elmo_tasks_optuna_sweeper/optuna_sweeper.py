"""``hydra/sweeper=optuna``: the class Hydra instantiates; the work is in
:mod:`elmo_tasks.search.sweeper`.

Hydra imports every plugin module when any command starts, so this one stays light: Optuna and
the search code are imported only when a search is made.
"""

from __future__ import annotations

from typing import Any

from hydra.plugins.sweeper import Sweeper


class OptunaSweeper(Sweeper):
    """Hyperparameter search with Optuna (keys: conf/hydra/sweeper/optuna.yaml, docs/sweeps.md)."""

    def __init__(self, **config: Any) -> None:
        from elmo_tasks.search.sweeper import OptunaSearch

        self.search = OptunaSearch(**config)

    def setup(self, **kwargs: Any) -> None:
        self.search.setup(**kwargs)

    def sweep(self, arguments: list[str]) -> Any:
        return self.search.sweep(arguments)
