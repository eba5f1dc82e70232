"""Several encoders side by side, e.g. word embeddings + ELMo as in the ELMo paper."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from elmo_tasks.core.checks import Problem, component_problems, target_class
from elmo_tasks.encoders.base import TokenEncoder, Tokens


class ConcatEncoder(TokenEncoder):
    """Concatenates the vectors of its encoders along the feature axis.

    encoders: encoder constructors (Hydra ``_partial_: true`` configs), a list or a mapping
    of names to them (``encoder.encoders.elmo.dropout=...`` on the command line); each is
    called with ``vocabulary``. The encoders' pass-through features (ELMo at the output)
    come last, after all main features, so a head can split them off. An encoder inside
    that caches (a frozen ELMo with ``cache_dir``) gets the data's sentences through
    :meth:`TokenEncoder.prepare_cache`, as it would on its own.
    """

    def __init__(
        self,
        encoders: Sequence[Callable[..., TokenEncoder]] | Mapping[str, Callable[..., TokenEncoder]],
        vocabulary: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        makers = list(encoders.values()) if isinstance(encoders, Mapping) else list(encoders)
        if not makers:
            raise ValueError("ConcatEncoder needs at least one encoder")
        self.encoders = nn.ModuleList([make(vocabulary=vocabulary) for make in makers])
        self.output_dim = sum(e.output_dim for e in self.encoders)
        self.passthrough_dim = sum(e.passthrough_dim for e in self.encoders)

    @classmethod
    def check_config(cls, config: Any, key: str = "encoder", root: Any = None) -> list[Problem]:
        """The problems each inner encoder finds with its own config."""
        inner = config.get("encoders") or []
        pairs = inner.items() if isinstance(inner, Mapping) else enumerate(inner)
        return [
            problem
            for name, sub in pairs
            for problem in component_problems(sub, f"{key}.encoders.{name}", root)
        ]

    @classmethod
    def passes_through(cls, config: Any) -> bool:
        """When one of its encoders does (ELMo with ``at_output: true``)."""
        inner = config.get("encoders") or []
        subs = inner.values() if isinstance(inner, Mapping) else inner
        return any(
            bool(getattr(target_class(sub), "passes_through", lambda _: False)(sub)) for sub in subs
        )

    def regularization_loss(self) -> torch.Tensor | None:
        losses = [loss for e in self.encoders if (loss := e.regularization_loss()) is not None]
        return sum(losses) if losses else None

    def forward(self, tokens: Tokens) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = [encoder(tokens) for encoder in self.encoders]
        main = [
            vectors[..., : e.output_dim - e.passthrough_dim]
            for e, (vectors, _) in zip(self.encoders, outputs)
        ]
        passthrough = [
            vectors[..., e.output_dim - e.passthrough_dim :]
            for e, (vectors, _) in zip(self.encoders, outputs)
            if e.passthrough_dim
        ]
        return torch.cat(main + passthrough, dim=-1), outputs[0][1]
