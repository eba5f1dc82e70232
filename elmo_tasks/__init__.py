"""elmo-tasks: ELMo for text classification and sequence labelling experiments.

The public Python API (imported on first use, so ``import elmo_tasks`` stays light)::

    from elmo_tasks import Elmo, ElmoEmbedder, embed_sentences, batch_to_ids, ElmoBiLm, ScalarMix
    from elmo_tasks import load_run, conll_scores

``Elmo`` / ``batch_to_ids`` / ``ElmoBiLm`` / ``ScalarMix`` take AllenNLP's arguments;
``ElmoEmbedder("mini").embed_sentence("Hello world .")`` gives a sentence's three layers
(deterministic: eval mode, no dropout); ``embed_sentences(module, sentences)`` runs a module
over any number of sentences in token-bounded batches;
``load_run(run_dir, device="cpu")`` loads a trained run (or an exported model folder) for
``.predict(texts)``; ``conll_scores(gold, pred)`` scores tag sequences as conlleval does.
See docs/api.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS = {
    "Elmo": "elmo_tasks.elmo",
    "ElmoBiLm": "elmo_tasks.elmo",
    "ElmoEmbedder": "elmo_tasks.elmo",
    "embed_sentences": "elmo_tasks.elmo",
    "ScalarMix": "elmo_tasks.elmo",
    "batch_to_ids": "elmo_tasks.elmo",
    "load_run": "elmo_tasks.runs.trained",
    "TrainedRun": "elmo_tasks.runs.trained",
    "conll_scores": "elmo_tasks.tasks.metrics",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:  # pragma: no cover
    from elmo_tasks.elmo import (  # noqa: F401
        Elmo,
        ElmoBiLm,
        ElmoEmbedder,
        ScalarMix,
        batch_to_ids,
        embed_sentences,
    )
    from elmo_tasks.runs.trained import TrainedRun, load_run  # noqa: F401
    from elmo_tasks.tasks.metrics import conll_scores  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'elmo_tasks' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
