"""Moved to :mod:`elmo_tasks.pretraining.task_corpus`; run with ``python -m`` it is the command."""

from elmo_tasks.core.moved import moved_module

__getattr__, __dir__ = moved_module(__name__, "elmo_tasks.task_corpus")

if __name__ == "__main__":
    from elmo_tasks.cli.task_corpus import main

    raise SystemExit(main())
