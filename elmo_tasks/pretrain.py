"""``python -m elmo_tasks.pretrain``: the same command as ``elmo-tasks pretrain``.

See :mod:`elmo_tasks.cli.pretrain`.
"""

from elmo_tasks.cli.pretrain import cli

if __name__ == "__main__":
    cli()
