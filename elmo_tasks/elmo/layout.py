"""Parameters whose in-memory layout differs from what earlier releases saved.

The LSTM weights are kept transposed (``w_in_t``, ``w_rec_t``, ``w_proj_t``: see
``modules.LstmLayer``); earlier releases saved them under ``w_in``, ``w_rec``, ``w_proj`` in
the TensorFlow layout. Their state dicts are converted where a layer loads them; this module
also converts what else a checkpoint keeps per parameter: the optimiser's state (Adam's
moments have the parameter's shape), so that a run saved by an earlier release resumes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import torch
from torch import nn

# Name in earlier releases -> current name; the current tensor is the old one with its
# last two dimensions swapped.
TRANSPOSED = {"w_in": "w_in_t", "w_rec": "w_rec_t", "w_proj": "w_proj_t"}


def current_key(key: str) -> str:
    """The current name of a state-dict key (unchanged unless it names a transposed LSTM weight;
    the character encoder's ``w_proj`` keeps its name and layout)."""
    prefix, _, last = key.rpartition(".")
    if last in TRANSPOSED and re.search(r"(^|\.)lstm\.layers\.\d+$", prefix):
        return f"{prefix}.{TRANSPOSED[last]}"
    return key


def convert_optimizer_states(
    checkpoint: dict, module: nn.Module, optimized: Iterable[torch.Tensor]
) -> int:
    """Transpose, in place, the optimiser state that ``checkpoint`` keeps for weights it saved
    in the earlier layout.

    module: the module the checkpoint is loaded into (its ``state_dict`` keys and the
        checkpoint's share their prefixes); optimized: its parameters in the order the
        optimiser was given them (the optimiser's state is indexed by that position).
    Returns how many parameters' states were converted.
    """
    legacy = {new for key in checkpoint["state_dict"] if (new := current_key(key)) != key}
    if not legacy:
        return 0
    names = {id(parameter): name for name, parameter in module.named_parameters()}
    ordered = [names.get(id(parameter)) for parameter in optimized]
    converted = 0
    for optimizer_state in checkpoint.get("optimizer_states", []):
        for index, state in optimizer_state.get("state", {}).items():
            if not (isinstance(index, int) and index < len(ordered) and ordered[index] in legacy):
                continue
            for name, value in state.items():
                if isinstance(value, torch.Tensor) and value.dim() >= 2:
                    state[name] = value.transpose(-2, -1).contiguous()
            converted += 1
    return converted
