"""Random biLM weights in the published layout: for benchmarks and tests without downloads."""

from __future__ import annotations

from pathlib import Path

import torch

from elmo_tasks.elmo.layout import TRANSPOSED
from elmo_tasks.elmo.modules import BiLm
from elmo_tasks.elmo.options import ElmoOptions
from elmo_tasks.elmo.weights import save_elmo

_PUBLISHED_FILTERS = [[1, 32], [2, 32], [3, 64], [4, 128], [5, 256], [6, 512], [7, 1024]]

# Architectures of the published models (their options.json), by preset name.
PUBLISHED_SHAPES: dict[str, dict] = {
    "small": {"dim": 1024, "projection_dim": 128, "n_highway": 1},
    "medium": {"dim": 2048, "projection_dim": 256, "n_highway": 1},
    "original": {"dim": 4096, "projection_dim": 512, "n_highway": 2},
    "original_5.5B": {"dim": 4096, "projection_dim": 512, "n_highway": 2},
}


def published_options(name: str) -> ElmoOptions:
    """The ``ElmoOptions`` of a published preset (``small``, ``medium``, ``original``...)."""
    if name not in PUBLISHED_SHAPES:
        raise KeyError(f"unknown preset {name!r}; choose one of {sorted(PUBLISHED_SHAPES)}")
    shape = PUBLISHED_SHAPES[name]
    return ElmoOptions.from_dict(
        {
            "lstm": {
                "dim": shape["dim"],
                "projection_dim": shape["projection_dim"],
                "n_layers": 2,
                "cell_clip": 3,
                "proj_clip": 3,
                "use_skip_connections": True,
            },
            "char_cnn": {
                "embedding": {"dim": 16},
                "filters": _PUBLISHED_FILTERS,
                "n_highway": shape["n_highway"],
                "n_characters": 262,
                "max_characters_per_token": 50,
                "activation": "relu",
            },
        }
    )


def random_bilm(options: ElmoOptions, seed: int = 0, scale: float = 0.1) -> BiLm:
    """A ``BiLm`` with seeded uniform(-scale, scale) weights (padding row of chars stays zero)."""
    bilm = BiLm(options)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in bilm.named_parameters():
            # Drawn in the published (TensorFlow) layout, so a seed always gives the same file.
            if name.endswith(tuple(TRANSPOSED.values())):
                parameter = parameter.transpose(1, 2)
            parameter.copy_((torch.rand(parameter.shape, generator=generator) * 2 - 1) * scale)
        bilm.char_encoder.char_embedding.weight[0].zero_()
    return bilm


def write_random_elmo(
    directory: str | Path, options: ElmoOptions | str, seed: int = 0
) -> tuple[Path, Path]:
    """Write ``options.json`` + ``weights.hdf5`` of a random biLM; returns both paths."""
    if isinstance(options, str):
        options = published_options(options)
    directory = Path(directory)
    options_path, weights_path = directory / "options.json", directory / "weights.hdf5"
    save_elmo(random_bilm(options, seed), options_path, weights_path)
    return options_path, weights_path
