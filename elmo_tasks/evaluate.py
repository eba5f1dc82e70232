"""``python -m elmo_tasks.evaluate``: the same command as ``elmo-tasks evaluate``
(see :mod:`elmo_tasks.cli.evaluate`)."""

from elmo_tasks.cli.evaluate import command_line

if __name__ == "__main__":
    command_line()
