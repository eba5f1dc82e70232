"""Read and write biLM weights in the published hdf5 layout (bilm-tf / AllenNLP).

    char_embed                                   (261, char_dim)   row k = character id k + 1
    CNN/W_cnn_{i}, CNN/b_cnn_{i}                 (1, width, char_dim, n), (n,)
    CNN_high_{k}/{W_transform,b_transform,W_carry,b_carry}
    CNN_proj/{W_proj,b_proj}                     (n_filters, P), (P,)
    RNN_{d}/RNN/MultiRNNCell/Cell{l}/LSTMCell/   d = 0 forward, 1 backward
        W_0 (input + P, 4C)  B (4C,)  W_P_0 (C, P)   gates: input, candidate, forget, output

The modules store these arrays as they are, so a load followed by a save is bit-exact.
Loaded arrays are checked for NaN and infinity; :func:`save_elmo` writes both files atomically
with a ``.sha256`` beside each (``elmo_tasks.core.integrity``), and a full disk ends in one message.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import torch

from elmo_tasks.core.disk import hdf5_writer
from elmo_tasks.core.errors import ElmoTasksError
from elmo_tasks.core.integrity import replace_with_sidecar
from elmo_tasks.elmo.modules import BiLm
from elmo_tasks.elmo.options import ElmoOptions, write_options

EXPORT_FIX = "free space there, or export to a folder on a disk with room"


class ElmoWeightsError(ElmoTasksError, ValueError):
    """A weight file is unreadable or does not match its options."""


def _lstm_cell(direction: int, layer: int) -> str:
    return f"RNN_{direction}/RNN/MultiRNNCell/Cell{layer}/LSTMCell"


def _tensor_map(bilm: BiLm) -> Iterator[tuple[str, torch.Tensor, slice | None]]:
    """(dataset name, parameter tensor, row slice of the dataset) for every stored array."""
    enc = bilm.char_encoder
    yield "char_embed", enc.char_embedding.weight[1:], None
    for i, (w, b) in enumerate(zip(enc.conv_weights, enc.conv_biases)):
        yield f"CNN/W_cnn_{i}", w, None
        yield f"CNN/b_cnn_{i}", b, None
    hw = enc.highway
    for k, (weight, bias) in enumerate(zip(hw.weights, hw.biases)):
        yield f"CNN_high_{k}/W_transform", weight[:, : hw.dim], None
        yield f"CNN_high_{k}/b_transform", bias[: hw.dim], None
        yield f"CNN_high_{k}/W_carry", weight[:, hw.dim :], None
        yield f"CNN_high_{k}/b_carry", bias[hw.dim :], None
    yield "CNN_proj/W_proj", enc.w_proj, None
    yield "CNN_proj/b_proj", enc.b_proj, None
    for layer_index, layer in enumerate(bilm.lstm.layers):
        input_dim = layer.w_in.size(1)
        for d in (0, 1):
            cell = _lstm_cell(d, layer_index)
            yield f"{cell}/W_0", layer.w_in[d], slice(0, input_dim)
            yield f"{cell}/W_0", layer.w_rec[d], slice(input_dim, None)
            yield f"{cell}/B", layer.bias[d], None
            yield f"{cell}/W_P_0", layer.w_proj[d], None


def _check_no_extra_layers(handle: h5py.File, options: ElmoOptions, path: Path) -> None:
    extra_highway = f"CNN_high_{options.n_highway}"
    if extra_highway in handle:
        raise ElmoWeightsError(
            f"{path}: has group '{extra_highway}' but the options say n_highway={options.n_highway}; "
            "the options file does not describe these weights"
        )
    extra_layer = _lstm_cell(0, options.n_layers)
    if extra_layer in handle:
        raise ElmoWeightsError(
            f"{path}: has '{extra_layer}' but the options say n_layers={options.n_layers}; "
            "the options file does not describe these weights"
        )
    extra_filter = f"CNN/W_cnn_{len(options.filters)}"
    if extra_filter in handle:
        raise ElmoWeightsError(
            f"{path}: has '{extra_filter}' but the options list {len(options.filters)} filters"
        )


def load_weights(bilm: BiLm, weight_file: str | Path) -> None:
    """Copy every array of ``weight_file`` into ``bilm``, checking names and shapes."""
    path = Path(weight_file).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"ELMo weight file not found: {path}")
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise ElmoWeightsError(f"{path}: not a readable hdf5 file ({error})") from None
    with handle, torch.no_grad():
        _check_no_extra_layers(handle, bilm.options, path)
        for name, tensor, rows in _tensor_map(bilm):
            if name not in handle:
                raise ElmoWeightsError(
                    f"{path}: missing dataset '{name}' (expected for the architecture in options.json)"
                )
            array = np.asarray(handle[name][...], dtype=np.float32)
            if rows is not None:
                array = array[rows]
            if not np.isfinite(array).all():
                raise ElmoWeightsError(
                    f"{path}: dataset '{name}' holds NaN or infinite values; the file is damaged (use another copy) "
                    "or comes from a training run that diverged"
                )
            if tuple(array.shape) != tuple(tensor.shape):
                raise ElmoWeightsError(
                    f"{path}: dataset '{name}' has shape {tuple(handle[name].shape)}, but options.json implies "
                    f"{_expected_shape(name, tensor, rows, bilm)}; options and weights do not match"
                )
            tensor.copy_(torch.from_numpy(array))


def _expected_shape(
    name: str, tensor: torch.Tensor, rows: slice | None, bilm: BiLm
) -> tuple[int, ...]:
    if name.endswith("/W_0"):
        layer = bilm.lstm.layers[int(name.split("/Cell")[1].split("/")[0])]
        return (layer.w_in.size(1) + layer.w_rec.size(1), tensor.size(1))
    return tuple(tensor.shape)


def save_weights(bilm: BiLm, weight_file: str | Path, target: str | Path | None = None) -> None:
    """Write ``bilm`` in the published hdf5 layout (float32). ``target``: the file that
    ``weight_file`` (a temporary) will become, for the message of a full disk."""
    arrays: dict[str, list[np.ndarray]] = {}
    for name, tensor, _ in _tensor_map(bilm):
        arrays.setdefault(name, []).append(tensor.detach().float().cpu().numpy())
    needed = sum(part.nbytes for parts in arrays.values() for part in parts) + 64 * 1024
    weight_file = Path(weight_file).expanduser()
    with hdf5_writer(weight_file, target or weight_file, needed, EXPORT_FIX) as (handle, guard):
        for name, parts in arrays.items():
            guard.check()
            handle.create_dataset(
                name, data=np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
            )


def save_elmo(bilm: torch.nn.Module, options_path: str | Path, weight_path: str | Path) -> None:
    """Write ``options.json`` and ``weights.hdf5`` that this package and AllenNLP can load.

    ``bilm`` is an ``ElmoBiLm``, an ``Elmo`` or a bare ``BiLm``. Files are written to a
    temporary name first and renamed with its ``.sha256``, so an interrupted save never leaves
    a valid-looking file.
    """
    from elmo_tasks.core.disk import disk_full_error, is_disk_full
    from elmo_tasks.core.litter import temporary_name

    core = _core_bilm(bilm)
    for path, write in (
        (Path(weight_path), lambda tmp, target: save_weights(core, tmp, target)),
        (Path(options_path), lambda tmp, target: write_options(core.options, tmp)),
    ):
        path = path.expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_name(path)
        try:
            write(tmp, path)
            replace_with_sidecar(tmp, path)
        except BaseException as error:
            tmp.unlink(missing_ok=True)
            if is_disk_full(error) and not isinstance(error, ElmoTasksError):
                raise disk_full_error(path, None, EXPORT_FIX, error) from None
            raise


def _core_bilm(module: torch.nn.Module) -> BiLm:
    if isinstance(module, BiLm):
        return module
    for child in module.modules():
        if isinstance(child, BiLm):
            return child
    raise TypeError(f"save_elmo needs an ElmoBiLm, Elmo or BiLm, got {type(module).__name__}")
