"""elmo-tasks' Optuna sweeper as a Hydra plugin (Hydra loads sweepers from ``hydra_plugins``)."""
