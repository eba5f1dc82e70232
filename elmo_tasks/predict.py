"""``python -m elmo_tasks.predict``: the same command as ``elmo-tasks predict`` (see :mod:`elmo_tasks.cli.predict`)."""

from elmo_tasks.cli.predict import command_line

if __name__ == "__main__":
    command_line()
