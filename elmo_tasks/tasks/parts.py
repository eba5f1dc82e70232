"""A task's encoder, head, optimiser and scheduler given as built objects or as Hydra configs.

``experiment.build`` passes the configs (plain dicts with ``_target_``), so that the task's
``save_hyperparameters()`` records everything needed to build it again and
``TaskClass.load_from_checkpoint(path)`` works alone. Built objects are accepted too (tests,
notebooks); they are left out of the saved hyperparameters, since they cannot be serialised.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from elmo_tasks.core.targets import ConstructorMismatchError
from elmo_tasks.encoders import TokenEncoder

Config = Mapping[str, Any]
"""A Hydra config of a part: a mapping with ``_target_`` (a ``_partial_`` factory)."""


def plain_config(config: Any) -> dict[str, Any]:
    """``config`` (an OmegaConf node or a mapping) as plain, resolved Python containers."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(config, DictConfig):
        return OmegaConf.to_container(config, resolve=True)  # type: ignore[return-value]
    return {key: value for key, value in config.items()}


def plain_parts(*parts: Any) -> tuple[Any, ...]:
    """Each part given as a config (OmegaConf node or mapping) as a plain dict; others unchanged."""
    return tuple(plain_config(part) if is_config(part) else part for part in parts)


def is_config(value: Any) -> bool:
    """True for a Hydra config of a part (a mapping), False for a built object or factory."""
    return isinstance(value, Mapping)


def _factory(config: Config, what: str) -> Callable[..., Any]:
    """The callable a part config describes (always as a partial: arguments come later)."""
    import hydra

    if "_target_" not in config:
        raise ValueError(
            f"{what}: a config needs a '_target_' naming the class to build, got keys {sorted(config)}"
        )
    return hydra.utils.instantiate(dict(config), _partial_=True)


@dataclass
class TaskParts:
    """What ``EncoderHeadTask`` and its subclasses are made of, built."""

    encoder: TokenEncoder
    head: Callable[..., nn.Module]
    optimizer: Callable[..., torch.optim.Optimizer]
    scheduler: Callable[..., object] | None
    unsaved: list[str]
    """Names of the arguments given as objects: ``save_hyperparameters`` must ignore them."""

    @classmethod
    def build(
        cls,
        encoder: TokenEncoder | Config,
        head: Callable[..., nn.Module] | Config,
        optimizer: Callable[..., torch.optim.Optimizer] | Config,
        scheduler: Callable[..., object] | Config | None,
        vocabulary: Sequence[str] | None,
    ) -> TaskParts:
        """Instantiate the parts given as configs; the encoder gets ``vocabulary``."""
        given = {"encoder": encoder, "head": head, "optimizer": optimizer, "scheduler": scheduler}
        unsaved = [
            name for name, value in given.items() if value is not None and not is_config(value)
        ]
        if is_config(encoder):
            encoder = _factory(encoder, "encoder")(
                vocabulary=list(vocabulary) if vocabulary is not None else None
            )
        if not isinstance(encoder, TokenEncoder):
            raise TypeError(
                f"encoder must be a TokenEncoder or its config, got {type(encoder).__name__}"
            )
        if not isinstance(getattr(encoder, "output_dim", None), int):
            raise ConstructorMismatchError(
                f"encoder {type(encoder).__qualname__} did not set output_dim: a TokenEncoder's "
                "constructor sets self.output_dim to the width of the vectors it returns "
                "(see elmo_tasks.encoders.TokenEncoder)"
            )
        return cls(
            encoder=encoder,
            head=_factory(head, "head") if is_config(head) else head,
            optimizer=_factory(optimizer, "optimizer") if is_config(optimizer) else optimizer,
            scheduler=_factory(scheduler, "scheduler") if is_config(scheduler) else scheduler,
            unsaved=unsaved,
        )


def batch_tokens(
    batch: Mapping[str, Any] | Sequence[str | Sequence[str]],
    tokenize: Callable[[str], list[str]] | None = None,
) -> list[list[str]]:
    """The tokenised texts of a prediction batch (``predict_step``): a data module batch (its
    ``tokens``), or a list whose items are token lists or texts (strings, split by
    ``tokenize``: how the model's training texts were tokenised)."""
    tokens = batch["tokens"] if isinstance(batch, Mapping) else batch
    problem = (
        "a prediction batch is a list of non-empty token lists or of texts (strings), or a "
        "dict with 'tokens'"
    )
    if isinstance(tokens, str) or not isinstance(tokens, Sequence):
        raise TypeError(f"{problem}; got {type(tokens).__name__}")
    sentences = []
    for i, item in enumerate(tokens):
        if isinstance(item, str) and tokenize is not None:
            sentence = tokenize(item)
        elif isinstance(item, (list, tuple)) and all(isinstance(t, str) for t in item):
            sentence = list(item)
        else:
            raise TypeError(f"{problem}; item {i} is {item!r:.60}")
        if not sentence:
            raise ValueError(f"prediction batch item {i} has no tokens: {item!r:.60}")
        sentences.append(sentence)
    return sentences


def with_index(batch: Any, records: list[dict]) -> list[dict]:
    """``records`` with the ``index`` of each row when ``batch`` is a data module batch (its
    row's place in the split), so predictions can be matched to their input."""
    index = batch.get("index") if isinstance(batch, Mapping) else None
    if index is None:
        return records
    return [{"index": int(i), **record} for i, record in zip(index.tolist(), records)]
