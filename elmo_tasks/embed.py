"""``python -m elmo_tasks.embed``: the same command as ``elmo-tasks embed`` (see :mod:`elmo_tasks.cli.embed`)."""

from elmo_tasks.cli.embed import main

if __name__ == "__main__":
    raise SystemExit(main())
