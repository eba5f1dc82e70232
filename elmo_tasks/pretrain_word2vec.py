"""Moved to :mod:`elmo_tasks.pretraining.word2vec`; run with ``python -m`` it is the command."""

from elmo_tasks.core.moved import moved_module

__getattr__, __dir__ = moved_module(__name__, "elmo_tasks.pretrain_word2vec")

if __name__ == "__main__":
    from elmo_tasks.cli.pretrain_word2vec import cli

    cli()
