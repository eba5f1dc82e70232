"""Types and ranges of the ``optim`` keys (learning rate, weight decay, betas, eps), declared as
:class:`OptimizerSchema` and checked by the pre-flight step: torch would reject them only when
the optimiser is built, after the caches, with a traceback."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from elmo_tasks.core.schema import check_schema, number


@dataclass
class OptimizerSchema:
    """``optim.optimizer``: the keys torch's optimisers share."""

    lr: float = number(minimum=0.0, strict=True, example="0.001")
    weight_decay: float | None = number(minimum=0.0, example="0.01")
    eps: float | None = number(minimum=0.0, strict=True, example="1e-8")
    momentum: float | None = number(minimum=0.0, example="0.9")
    betas: list[float] | None = number(minimum=0.0, maximum=0.999999, example="[0.9,0.999]")


def check_optim_values(optim: Mapping[str, Any], key: str = "optim") -> list[str]:
    """Problems with ``optim.optimizer`` (an empty list when there is none)."""
    optimizer = optim.get("optimizer")
    if optimizer is None:
        return []
    problems = check_schema(optimizer, OptimizerSchema, f"{key}.optimizer")
    betas = optimizer.get("betas")
    if betas is not None and not isinstance(betas, str) and len(list(betas)) != 2:
        problems.append(
            f"{key}.optimizer.betas={betas}: must be two numbers in [0, 1), e.g. "
            f"{key}.optimizer.betas=[0.9,0.999]"
        )
    return problems
