"""Parameters whose in-memory layout differs from what earlier releases saved.

The LSTM weights are kept transposed (``w_in_t``, ``w_rec_t``, ``w_proj_t``: see
``modules.LstmLayer``); earlier releases saved them under ``w_in``, ``w_rec``, ``w_proj`` in
the TensorFlow layout. Their state dicts are converted where a layer loads them; this module
also converts what else a checkpoint keeps per parameter: the optimiser's state (Adam's
moments have the parameter's shape), so that a run saved by an earlier release resumes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import torch

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


def convert_optimizer_states(saved_keys: Iterable[str], ordered_names: Sequence[str], optimizer_states: list[dict]) -> int:
    """Transpose, in place, the per-parameter optimiser state of weights saved in the earlier layout.

    saved_keys: the checkpoint's state-dict keys, with module prefixes (``model.`` etc.) as the
        module's ``named_parameters`` gives them; ordered_names: the parameter names in the
        order the optimiser was given them (its state is indexed by that position).
    Returns how many parameters' states were converted.
    """
    legacy = {current_key(key) for key in saved_keys if current_key(key) != key}
    converted = 0
    for optimizer_state in optimizer_states:
        for index, state in optimizer_state.get("state", {}).items():
            if not (isinstance(index, int) and index < len(ordered_names) and ordered_names[index] in legacy):
                continue
            for name, value in state.items():
                if isinstance(value, torch.Tensor) and value.dim() >= 2:
                    state[name] = value.transpose(-2, -1).contiguous()
            converted += 1
    return converted
