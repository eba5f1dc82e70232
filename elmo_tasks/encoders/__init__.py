"""Token encoders behind one interface: tokens in, (batch, len, dim) + mask out."""

from .base import TokenEncoder
from .concat import ConcatEncoder
from .elmo import ElmoCharEncoder, ElmoEncoder
from .word_embedding import WordEmbeddingEncoder

__all__ = ["ConcatEncoder", "ElmoCharEncoder", "ElmoEncoder", "TokenEncoder", "WordEmbeddingEncoder"]
