"""Moved to :mod:`elmo_tasks.data.tags` (this path warns; see :mod:`elmo_tasks.core.moved`)."""

from elmo_tasks.core.moved import moved_module

__getattr__, __dir__ = moved_module(__name__, "elmo_tasks.tags")
