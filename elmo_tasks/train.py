"""``python -m elmo_tasks.train``: the same command as ``elmo-tasks train`` and ``python train.py``
(see :mod:`elmo_tasks.cli.train`)."""

from elmo_tasks.cli.train import cli

if __name__ == "__main__":
    cli()
