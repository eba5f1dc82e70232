"""``python -m elmo_tasks.compare``: the same command as ``elmo-tasks compare`` (see :mod:`elmo_tasks.cli.compare`)."""

from elmo_tasks.cli.compare import main

if __name__ == "__main__":
    raise SystemExit(main())
