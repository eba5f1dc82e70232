"""Task heads that sit on top of ELMo representations."""

from .crf import ConditionalRandomField  # noqa: F401
