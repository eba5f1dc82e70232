"""Hyperparameter search on Optuna: the ``hydra/sweeper=optuna`` sweeper, its search space,
shared-study bookkeeping (budget, heartbeats), pruning and what a search leaves (docs/sweeps.md)."""
