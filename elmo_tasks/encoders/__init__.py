"""Token encoders behind one interface: tokens in, (batch, len, dim) + mask out."""

from elmo_tasks.encoders.base import TokenEncoder
from elmo_tasks.encoders.concat import ConcatEncoder
from elmo_tasks.encoders.elmo import ElmoCharEncoder, ElmoEncoder
from elmo_tasks.encoders.word_embedding import WordEmbeddingEncoder

__all__ = [
    "ConcatEncoder",
    "ElmoCharEncoder",
    "ElmoEncoder",
    "TokenEncoder",
    "WordEmbeddingEncoder",
]
