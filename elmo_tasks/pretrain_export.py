"""Moved to :mod:`elmo_tasks.pretraining.export`; run with ``python -m`` it is the command."""

from elmo_tasks.core.moved import moved_module

__getattr__, __dir__ = moved_module(__name__, "elmo_tasks.pretrain_export")

if __name__ == "__main__":
    from elmo_tasks.cli.pretrain_export import main

    raise SystemExit(main())
