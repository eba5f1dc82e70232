"""Moved to :mod:`elmo_tasks.runs.model_folder`; run with ``python -m`` it is the command."""

from elmo_tasks.core.moved import moved_module

__getattr__, __dir__ = moved_module(__name__, "elmo_tasks.export")

if __name__ == "__main__":
    from elmo_tasks.cli.export import main

    raise SystemExit(main())
