"""Types and ranges of the ``optim`` keys (learning rate, weight decay, betas, eps), checked by
the pre-flight step: torch would reject them only when the optimiser is built, after the
caches, with a traceback."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from elmo_tasks.core.config_values import real_number


def check_optim_values(optim: Mapping[str, Any], key: str = "optim") -> list[str]:
    """Problems with ``optim.optimizer`` (an empty list when there is none)."""
    optimizer = optim.get("optimizer")
    if optimizer is None:
        return []
    prefix = f"{key}.optimizer"
    problems = [
        real_number(optimizer.get("lr"), f"{prefix}.lr", minimum=0.0, strict=True, example="0.001"),
        real_number(
            optimizer.get("weight_decay"), f"{prefix}.weight_decay", minimum=0.0, example="0.01"
        ),
        real_number(
            optimizer.get("eps"), f"{prefix}.eps", minimum=0.0, strict=True, example="1e-8"
        ),
        real_number(optimizer.get("momentum"), f"{prefix}.momentum", minimum=0.0, example="0.9"),
    ]
    betas = optimizer.get("betas")
    if betas is not None:
        items = list(betas) if hasattr(betas, "__iter__") and not isinstance(betas, str) else None
        if items is None or len(items) != 2:
            problems.append(
                f"{prefix}.betas={betas}: must be two numbers in [0, 1), e.g. {prefix}.betas=[0.9,0.999]"
            )
        else:
            for index, beta in enumerate(items):
                problems.append(
                    real_number(beta, f"{prefix}.betas.{index}", minimum=0.0, maximum=0.999999)
                )
    return [p for p in problems if p]
