"""ELMo vectors in the hdf5 layout of ``allennlp elmo``, so scripts written for it keep working.

The layout of ``allennlp elmo INPUT OUTPUT --all|--top|--average``: one float32 dataset per
input line, named by the line's 0-based index as a string (``"0"``, ``"1"`` ...), shaped
``(3, n_tokens, dim)`` for ``all`` and ``(n_tokens, dim)`` for ``top`` and ``average`` (no
sentence boundaries); and unless ``forget_sentences``, a dataset ``sentence_to_index`` of one
variable-length string: the JSON object mapping each line (stripped) to its key. Read it as
AllenNLP users do::

    with h5py.File("elmo.hdf5", "r") as f:
        index = json.loads(f["sentence_to_index"][0])
        vectors = f[index["I saw a film ."]][...]        # or f["0"][...]

Written under a temporary name and renamed when complete, with ``OUTPUT.sha256`` beside it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from elmo_tasks.core import integrity
from elmo_tasks.core.disk import check_free_space, hdf5_writer
from elmo_tasks.core.litter import temporary_name

LAYOUTS = ("all", "top", "average")
SENTENCE_TO_INDEX = "sentence_to_index"
CHUNK = 1024  # sentences embedded per step (their vectors are in memory at once)


def select(layers: np.ndarray, layout: str) -> np.ndarray:
    """``(3, T, dim)`` as ``allennlp elmo`` stores it: all layers, the top one, or their mean."""
    if layout == "all":
        return layers
    if layout == "top":
        return layers[-1]
    if layout == "average":
        return np.average(layers, axis=0)
    raise ValueError(f"layers must be one of {LAYOUTS}, got {layout!r}")


def write_allennlp_layout(
    embedder,
    lines: Sequence[str],
    sentences: Sequence[Sequence[str]],
    output: str | os.PathLike,
    layers: str = "all",
    dtype: str = "float32",
    forget_sentences: bool = False,
    progress: bool = True,
    fix: str = "free space there, or give output= a file on a disk with room",
) -> Path:
    """Embed ``sentences`` (the tokens of ``lines``) with ``embedder`` (an
    :class:`~elmo_tasks.elmo.embedder.ElmoEmbedder`) into ``output``. Returns its path."""
    from tqdm.auto import tqdm

    if layers not in LAYOUTS:
        raise ValueError(f"layers must be one of {LAYOUTS}, got {layers!r}")
    if len(lines) != len(sentences):
        raise ValueError(f"{len(lines)} lines but {len(sentences)} tokenised sentences")
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    n_layers = embedder.bilm.num_layers if layers == "all" else 1
    itemsize = np.dtype(dtype).itemsize
    needed = sum(len(s) for s in sentences) * n_layers * embedder.output_dim * itemsize
    needed += 4096 * len(sentences) + 1_000_000  # hdf5's per-dataset overhead, the index
    check_free_space(path, needed, fix)
    tmp = temporary_name(path)
    with hdf5_writer(tmp, path, needed, fix) as (handle, guard):
        starts = range(0, len(sentences), CHUNK)
        for start in tqdm(starts, desc=f"ELMo -> {path.name}", disable=not progress, leave=False):
            guard.check()
            chunk = embedder.embed_sentences(sentences[start : start + CHUNK])
            for offset, vectors in enumerate(chunk):
                data = select(vectors, layers).astype(dtype)
                handle.create_dataset(str(start + offset), data.shape, dtype=dtype, data=data)
        guard.check()
        if not forget_sentences:
            index = {line.strip(): str(i) for i, line in enumerate(lines)}
            import h5py

            dataset = handle.create_dataset(
                SENTENCE_TO_INDEX, (1,), dtype=h5py.special_dtype(vlen=str)
            )
            dataset[0] = json.dumps(index)
    integrity.replace_with_sidecar(tmp, path)
    return path
