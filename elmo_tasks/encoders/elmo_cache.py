"""An hdf5 cache of ELMo activations, so a frozen biLM runs once per data set, not per epoch.

A cache file holds one dataset per distinct sentence, named by the SHA-1 of its tokens (a
stable sentence id), shaped (layers, n_tokens + 2, dim) with the sentence boundaries kept,
so a trainable scalar mix (with or without layer norm) sees exactly what the biLM gives.
Its attributes are a manifest: the SHA-256 of options.json and weights.hdf5, the layer
selection, dtype and sentence count.

The file name is derived from the manifest and the sentences, so changed weights or a
changed tokenizer (different tokens) simply name another file. Files are written under a
temporary name and renamed when complete; a ``.sha256`` beside each file is checked when
it is opened, so a partial or corrupted cache is detected and rebuilt, never used. A file
lock lets concurrent sweep jobs share one build. A full disk stops a build with one message
(``elmo_tasks.core.disk``); temporaries of killed builds are removed when the folder is next used.

Reads go through a process-wide in-memory LRU (``ELMO_TASKS_CACHE_MEMORY_MB``, default 2048;
0 turns it off), keyed by the file's checksum and the sentence id: after the first epoch a
run reads no hdf5 at all, and the runs of a sweep that Hydra's basic launcher executes in
one process share it.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from filelock import FileLock

from elmo_tasks.core import integrity
from elmo_tasks.core.disk import check_free_space, hdf5_writer
from elmo_tasks.core.litter import remove_stale_temporaries, temporary_name
from elmo_tasks.elmo.batching import batches_by_tokens
from elmo_tasks.elmo.characters import batch_to_ids

log = logging.getLogger(__name__)

CACHE_FORMAT_VERSION = 1
LAYER_CHOICES = ("all", "top", "average")
DTYPES = {"float32": np.float32, "float16": np.float16}
INDEX = "sentence_ids"


class CacheError(RuntimeError):
    """A cache file is incomplete, corrupted or was made for other weights."""


def sentence_id(tokens: Sequence[str]) -> str:
    """Stable id of a tokenised sentence: SHA-1 of its tokens joined by U+001F."""
    return hashlib.sha1("\x1f".join(tokens).encode("utf-8")).hexdigest()


def file_checksum(path: str | os.PathLike) -> str:
    """SHA-256 of a file (weights, options, cache files), remembered per (path, size, mtime)
    within the process (shared with the checks of ``elmo_tasks.core.integrity``)."""
    return integrity.file_sha256(path)


def bilm_checksums(bilm: torch.nn.Module) -> dict[str, str]:
    """SHA-256 of the options and weight files an ``ElmoBiLm`` was read from: what names its
    activations (cache manifests, checkpoints that leave frozen weights out)."""
    return {
        "options_sha256": file_checksum(bilm.options_path),
        "weights_sha256": file_checksum(bilm.weights_path),
    }


def select_layers(activations: list[torch.Tensor], layers: str) -> torch.Tensor:
    """(n_layers, ...) stack of all layers, the top one, or their average."""
    stacked = torch.stack(activations)
    if layers == "all":
        return stacked
    if layers == "top":
        return stacked[-1:]
    if layers == "average":
        return stacked.mean(dim=0, keepdim=True)
    raise ValueError(f"layers must be one of {LAYER_CHOICES}, got {layers!r}")


class MemoryCache:
    """A least-recently-used store of arrays with a byte budget."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self.bytes = 0
        self._arrays: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()

    def get(self, key: tuple[str, str]) -> np.ndarray | None:
        array = self._arrays.get(key)
        if array is not None:
            self._arrays.move_to_end(key)
        return array

    def put(self, key: tuple[str, str], array: np.ndarray) -> None:
        if array.nbytes > self.budget_bytes or key in self._arrays:
            return
        self._arrays[key] = array
        self.bytes += array.nbytes
        while self.bytes > self.budget_bytes:
            _, evicted = self._arrays.popitem(last=False)
            self.bytes -= evicted.nbytes


MEMORY = MemoryCache(int(float(os.environ.get("ELMO_TASKS_CACHE_MEMORY_MB", "2048")) * 2**20))


def write_activations(
    bilm: torch.nn.Module,
    sentences: Iterable[Sequence[str]],
    path: str | os.PathLike,
    manifest: dict,
    layers: str = "all",
    dtype: str = "float32",
    max_tokens: int = 4096,
    progress: bool = True,
    write_index: bool = False,
    keep_in_memory: bool = False,
    fix: str = "free space there, or point encoder.cache_dir= at a disk with room (encoder.cache_dir=null computes "
    "the activations at every epoch instead)",
) -> Path:
    """Run ``bilm`` (an ``ElmoBiLm``) over the distinct ``sentences`` and write them to ``path``
    atomically, with a ``.sha256`` beside it. ``write_index`` adds ``sentence_ids``: the id of
    input sentence k at row k. ``keep_in_memory`` also puts the activations into the in-memory
    cache (as far as its budget allows), so training right after a build reads no hdf5.
    A full disk raises one :class:`~elmo_tasks.core.disk.DiskFullError` (the space needed and
    ``fix``) and leaves no partial file. Returns ``path``."""
    from tqdm.auto import tqdm

    sentences = list(sentences)

    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    unique = {sentence_id(s): list(s) for s in sentences}
    ids, todo = list(unique), list(unique.values())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    device = next(bilm.parameters()).device
    batches = batches_by_tokens([len(s) for s in todo], max_tokens)
    written: dict[str, np.ndarray] = {}
    written_bytes = 0
    needed = estimated_bytes(
        [len(s) for s in todo], _n_layers(bilm, layers), bilm.get_output_dim(), dtype
    )
    check_free_space(path, needed, fix)
    with hdf5_writer(tmp, path, needed, fix) as (handle, guard), torch.inference_mode():
        for batch in tqdm(
            batches,
            desc=f"caching ELMo activations -> {path.name}",
            disable=not progress,
            leave=False,
        ):
            guard.check()  # stop at the first failed write (a full disk)
            out = bilm(batch_to_ids([todo[i] for i in batch]).to(device))
            chosen = select_layers(out["activations"], layers)
            for row, index in enumerate(batch):
                n = len(todo[index]) + 2
                array = chosen[:, row, :n].cpu().numpy().astype(DTYPES[dtype])
                handle.create_dataset(ids[index], data=array, fletcher32=True)
                if keep_in_memory and written_bytes + array.nbytes <= MEMORY.budget_bytes:
                    written[ids[index]] = array
                    written_bytes += array.nbytes
        guard.check()
        if write_index:
            handle.create_dataset(
                INDEX, data=[sentence_id(s) for s in sentences], dtype=h5py.string_dtype()
            )
        handle.attrs.update(
            {
                **manifest,
                "layers": layers,
                "dtype": dtype,
                "n_sentences": len(ids),
                "format_version": CACHE_FORMAT_VERSION,
            }
        )
    try:
        checksum = integrity.replace_with_sidecar(tmp, path)  # NAME.sha256, in sha256sum format
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    for sid, array in written.items():
        array.setflags(write=False)
        MEMORY.put((checksum, sid), array)
    return path


def _n_layers(bilm: torch.nn.Module, layers: str) -> int:
    return bilm.num_layers if layers == "all" else 1


def estimated_bytes(lengths: Sequence[int], n_layers: int, dim: int, dtype: str) -> int:
    """About the size of a cache file of sentences of these lengths (data plus hdf5 overhead)."""
    itemsize = np.dtype(DTYPES[dtype]).itemsize
    return sum(n_layers * (n + 2) * dim * itemsize + 1024 for n in lengths) + 64 * 1024


class ActivationCache:
    """Read side of a cache file; ``ActivationCache(path)`` raises ``CacheError`` unless the
    file is complete and intact."""

    def __init__(self, path: str | os.PathLike, expected: dict | None = None) -> None:
        self.path = Path(path)
        listed = integrity.read_sidecar(self.path)
        if not self.path.is_file() or not listed:
            raise CacheError(f"{self.path}: no complete cache file (missing file or checksum)")
        self.sha256 = file_checksum(self.path)  # hashed once per process and file version
        if self.sha256 not in listed:
            raise CacheError(
                f"{self.path}: contents do not match their checksum (corrupted or partial)"
            )
        try:
            self.handle = h5py.File(self.path, "r")
        except OSError as error:
            raise CacheError(f"{self.path}: not a readable hdf5 file ({error})") from None
        attrs = dict(self.handle.attrs)
        self._ids = set(self.handle) - {INDEX}  # membership without an hdf5 lookup per sentence
        n_stored = len(self._ids)
        if (
            attrs.get("format_version") != CACHE_FORMAT_VERSION
            or attrs.get("n_sentences") != n_stored
        ):
            raise CacheError(f"{self.path}: incomplete or from another version of this package")
        for key, value in (expected or {}).items():
            if attrs.get(key) != value:
                raise CacheError(
                    f"{self.path}: made with {key}={attrs.get(key)!r}, expected {value!r}"
                )
        self.manifest = attrs

    def __contains__(self, tokens: Sequence[str]) -> bool:
        return sentence_id(tokens) in self._ids

    def get(self, tokens: Sequence[str]) -> np.ndarray:
        """(layers, n_tokens + 2, dim) activations of one sentence; KeyError if not cached."""
        array = self.lookup(tokens)
        if array is None:
            raise KeyError(f"{self.path}: no activations for {' '.join(tokens)[:80]!r}")
        return array

    def lookup(self, tokens: Sequence[str]) -> np.ndarray | None:
        """The activations of one sentence, or None when this file does not hold it."""
        sid = sentence_id(tokens)
        key = (self.sha256, sid)
        if sid not in self._ids:
            return None
        array = MEMORY.get(key)
        if array is None:
            array = self.handle[sid][...]
            array.setflags(write=False)  # shared by every reader of the memory cache
            MEMORY.put(key, array)
        return array

    def close(self) -> None:
        self.handle.close()


def cache_path(
    cache_dir: str | os.PathLike,
    manifest: dict,
    sentences: Iterable[Sequence[str]],
    layers: str,
    dtype: str,
) -> Path:
    """Where the cache of these sentences under this manifest lives."""
    digest = hashlib.sha256()
    for key in sorted(manifest):
        digest.update(f"{key}={manifest[key]}\n".encode())
    digest.update(f"layers={layers}\ndtype={dtype}\nversion={CACHE_FORMAT_VERSION}\n".encode())
    for sid in sorted({sentence_id(s) for s in sentences}):
        digest.update(sid.encode())
    return Path(cache_dir).expanduser() / f"elmo-{digest.hexdigest()[:24]}.h5"


def check_cache_dir(cache_dir: Any, key: str = "encoder.cache_dir") -> str | None:
    """Why ``cache_dir`` cannot hold caches (not a folder, not writable), or None: for the
    pre-flight step, so that a build does not fail after minutes of work."""
    from elmo_tasks.core.config_values import writable_folder

    return writable_folder(cache_dir, key) if cache_dir else None


def ensure_cache(
    bilm: torch.nn.Module,
    manifest: dict,
    sentences: Sequence[Sequence[str]],
    cache_dir: str | os.PathLike,
    layers: str = "all",
    dtype: str = "float32",
) -> ActivationCache:
    """Open the cache of ``sentences``, building (or rebuilding a broken one) under a file lock."""
    path = cache_path(cache_dir, manifest, sentences, layers, dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)  # left by builds that were killed or ran out of space
    with FileLock(str(path) + ".lock"):
        if path.exists():
            try:
                cache = ActivationCache(path, expected=manifest)
                log.info("ELMo activation cache hit: %s", path)
                return cache
            except CacheError as error:
                log.warning("rebuilding ELMo activation cache: %s", error)
                path.unlink(missing_ok=True)
        log.info("building ELMo activation cache %s (%d sentences)", path, len(sentences))
        write_activations(bilm, sentences, path, manifest, layers, dtype, keep_in_memory=True)
        return ActivationCache(path, expected=manifest)
