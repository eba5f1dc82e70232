"""Optimiser set-up shared by the task modules: parameter groups with their own settings and
learning-rate schedules with warm-up.

A frozen-ELMo model trains two very different kinds of parameters: a handful of scalar-mix
weights and a head. A fine-tuned one adds the biLM itself, which wants a far smaller learning
rate than a head trained from scratch. ``optim.param_groups`` sets each group apart:

    optim:
      param_groups:
        bilm: {lr: 1.0e-4}               # a fine-tuned biLM (encoder.requires_grad=true)
        scalar_mix: {weight_decay: 0.0}  # ELMo's layer weights and gamma

Parameters of no named group take the optimiser's own settings.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from elmo_tasks.core.trust import buildable
from elmo_tasks.elmo.model import ElmoBiLm
from elmo_tasks.elmo.scalar_mix import ScalarMix

GROUPS = ("bilm", "scalar_mix")


def _group_of_parameters(module: nn.Module) -> dict[int, str]:
    """id(parameter) -> group name, for the parameters of the named groups."""
    owner: dict[int, str] = {}
    for sub in module.modules():
        group = (
            "bilm"
            if isinstance(sub, ElmoBiLm)
            else "scalar_mix"
            if isinstance(sub, ScalarMix)
            else None
        )
        if group is not None:
            for parameter in sub.parameters():
                owner[id(parameter)] = group
    return owner


def parameter_groups(
    module: nn.Module, settings: Mapping[str, Mapping[str, Any]] | None
) -> list[dict[str, Any]]:
    """The trainable parameters of ``module`` as optimiser groups: one per named group with its
    ``settings`` (``lr``, ``weight_decay``, ...), and the rest with the optimiser's defaults.
    Empty groups are left out."""
    settings = dict(settings or {})
    unknown = sorted(set(settings) - set(GROUPS))
    if unknown:
        raise ValueError(
            f"optim.param_groups: unknown group(s) {unknown}; the groups are {list(GROUPS)}"
        )
    owner = _group_of_parameters(module)
    members: dict[str, list[nn.Parameter]] = {"default": [], **{name: [] for name in GROUPS}}
    for parameter in module.parameters():
        if parameter.requires_grad:
            members[owner.get(id(parameter), "default")].append(parameter)
    groups = []
    for name, params in members.items():
        if params:
            overrides = {k: v for k, v in (settings.get(name) or {}).items() if v is not None}
            groups.append({"params": params, "name": name, **overrides})
    return groups


@buildable  # a config may name it (optim.scheduler), also a folder's
def warmup_linear(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    warmup_steps: int | float = 0.06,
    final_factor: float = 0.0,
) -> LambdaLR:
    """Learning rate rising linearly from 0 over ``warmup_steps`` (a count, or a fraction of
    ``total_steps`` when below 1), then falling linearly to ``final_factor`` times its peak at
    ``total_steps``. Stepped once per optimiser step."""
    warmup = int(warmup_steps * total_steps) if 0 < warmup_steps < 1 else int(warmup_steps)
    if warmup < 0 or total_steps <= 0:
        raise ValueError(
            f"warmup_linear: need warmup_steps >= 0 and total_steps > 0, got {warmup_steps}, {total_steps}"
        )

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        remaining = max(total_steps - warmup, 1)
        return max(final_factor, 1.0 - (1.0 - final_factor) * (step - warmup) / remaining)

    return LambdaLR(optimizer, factor)


@buildable
def warmup_constant(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int | float = 0.06
) -> LambdaLR:
    """Linear warm-up over ``warmup_steps`` (count, or fraction of ``total_steps``), then the
    peak rate to the end: the schedule for runs that early stopping ends."""
    return warmup_linear(optimizer, total_steps, warmup_steps, final_factor=1.0)


def wants_total_steps(factory: Callable[..., Any]) -> bool:
    """Whether a scheduler factory is a per-step schedule that needs the run's step count."""
    target = getattr(factory, "func", factory)
    try:
        return "total_steps" in inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False


def total_training_steps(estimated: float | int) -> int:
    """Lightning's estimate of the run's optimiser steps, as a finite count."""
    if estimated is None or (isinstance(estimated, float) and math.isinf(estimated)):
        raise ValueError(
            "a per-step learning-rate schedule needs a bounded run: set trainer.max_epochs or trainer.max_steps"
        )
    return int(estimated)


def build_optimizer(
    module: nn.Module,
    optimizer: Callable[..., torch.optim.Optimizer],
    scheduler: Callable[..., Any] | None,
    settings: Mapping[str, Mapping[str, Any]] | None,
    total_steps: Callable[[], float | int],
) -> torch.optim.Optimizer | dict[str, Any]:
    """What ``configure_optimizers`` returns: the optimiser over ``parameter_groups`` and, with a
    scheduler, its Lightning config (per step for warm-up schedules, else per epoch)."""
    instance = optimizer(parameter_groups(module, settings))
    if scheduler is None:
        return instance
    if wants_total_steps(scheduler):
        schedule = scheduler(instance, total_steps=total_training_steps(total_steps()))
        return {"optimizer": instance, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
    return {
        "optimizer": instance,
        "lr_scheduler": {"scheduler": scheduler(instance), "interval": "epoch"},
    }
