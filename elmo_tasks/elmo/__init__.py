"""ELMo (Peters et al., 2018) in plain PyTorch, reading and writing the published format.

from elmo_tasks.elmo import Elmo, batch_to_ids
elmo = Elmo("small", "small", num_output_representations=1)
out = elmo(batch_to_ids([["Hello", "world", "."]]))
"""

from elmo_tasks.elmo.batching import batches_by_tokens, embed_sentences
from elmo_tasks.elmo.characters import batch_to_ids
from elmo_tasks.elmo.embedder import ElmoEmbedder
from elmo_tasks.elmo.model import (
    Elmo,
    ElmoBiLm,
    ElmoInputError,
    remove_sentence_boundaries,
)
from elmo_tasks.elmo.modules import BiLm
from elmo_tasks.elmo.options import ElmoOptions, ElmoOptionsError, load_options
from elmo_tasks.elmo.scalar_mix import ScalarMix
from elmo_tasks.elmo.weights import ElmoWeightsError, load_weights, save_elmo

__all__ = [
    "BiLm",
    "Elmo",
    "ElmoBiLm",
    "ElmoEmbedder",
    "ElmoInputError",
    "ElmoOptions",
    "ElmoOptionsError",
    "ElmoWeightsError",
    "ScalarMix",
    "batch_to_ids",
    "batches_by_tokens",
    "embed_sentences",
    "load_options",
    "load_weights",
    "remove_sentence_boundaries",
    "save_elmo",
]
