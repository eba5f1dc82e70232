"""``python -m elmo_tasks COMMAND ...``: the ``elmo-tasks`` command (see :mod:`elmo_tasks.cli`)."""

from elmo_tasks.cli import main

if __name__ == "__main__":
    main()
