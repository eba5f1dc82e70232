"""elmo-tasks: ELMo for text classification and sequence labelling experiments."""

__version__ = "0.1.0"
