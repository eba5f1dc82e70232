"""Pretraining text on disk: which files (globs, data-folder defaults), their sentences read
lazily line by line (.gz allowed), and the output vocabulary built from them."""

import glob
import gzip
import io
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from omegaconf import ListConfig, OmegaConf
from tqdm.auto import tqdm

from elmo_tasks.core.errors import (
    DataNotFoundError,
    data_dir_note,
    data_env_value,
    shown_path,
)
from elmo_tasks.data.sources import data_dir_from_env, relative_to
from elmo_tasks.data.tokenize import Tokenizer, get_tokenizer
from elmo_tasks.elmo.characters import (
    BOS_TOKEN,
    EOS_TOKEN,
)

log = logging.getLogger(__name__)

UNK_TOKEN = "<UNK>"
SPECIAL_TOKENS = (BOS_TOKEN, EOS_TOKEN, UNK_TOKEN)


# ---------------------------------------------------------------------------------------
# Files and lines


def resolve_files(
    spec: str | Path | Sequence[str | Path] | None, key: str = "data.train_files"
) -> list[Path]:
    """Files named by a path, a glob, or a list of either; sorted within each glob.

    Raises ``DataNotFoundError`` (a ``FileNotFoundError``) naming ``key`` when an entry matches nothing.
    """
    if spec is None:
        return []
    entries = [spec] if isinstance(spec, (str, Path)) else list(spec)
    files: list[Path] = []
    for entry in entries:
        entry = str(Path(str(entry)).expanduser())
        matches = (
            sorted(glob.glob(entry))
            if glob.has_magic(entry)
            else ([entry] if Path(entry).is_file() else [])
        )
        if not matches:
            raise DataNotFoundError(
                f"{key}: no file matches {entry!r} ({data_env_value()}). Give a path, a glob or a list of them, "
                f"e.g. {key}='corpus/*.txt.gz', or set ELMO_TASKS_DATA to the folder that holds the default corpus"
            )
        files.extend(Path(m) for m in matches if Path(m).is_file())
    return files


def open_text(path: str | Path) -> io.TextIOBase:
    """A text handle on ``path`` (gzip when it ends in ``.gz``), UTF-8 with bad bytes replaced."""
    path = Path(path)
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def read_sentences(
    files: Sequence[Path],
    tokenizer: Tokenizer,
    lowercase: bool = False,
    shard: int = 0,
    n_shards: int = 1,
) -> Iterator[list[str]]:
    """Token lists of the non-empty lines of ``files``, streamed, restricted to one shard.

    With at least as many files as shards a shard reads whole files (``files[shard::n]``);
    otherwise every shard reads all files and keeps every ``n``-th non-empty line.
    """
    by_file = len(files) >= n_shards
    mine = files[shard::n_shards] if by_file else files
    index = 0
    for path in mine:
        with open_text(path) as handle:
            for line in handle:
                if not line.strip():
                    continue
                index += 1
                if not by_file and (index - 1) % n_shards != shard:
                    continue
                tokens = tokenizer(line.lower() if lowercase else line)
                if tokens:
                    yield tokens


# ---------------------------------------------------------------------------------------
# Vocabulary


def build_vocabulary(
    files: Sequence[str | Path],
    min_count: int = 1,
    max_size: int | None = None,
    tokenizer: Tokenizer | str = "whitespace",
    lowercase: bool = False,
) -> list[str]:
    """``<S>``, ``</S>``, ``<UNK>``, then the words of ``files`` seen at least ``min_count``
    times, most frequent first (ties alphabetical). ``max_size`` caps the total length,
    special tokens included (it is the size of the output softmax)."""
    if isinstance(tokenizer, str):
        tokenizer = get_tokenizer(tokenizer)
    if max_size is not None and max_size <= len(SPECIAL_TOKENS):
        raise ValueError(
            f"max_vocab_size must exceed {len(SPECIAL_TOKENS)} (the special tokens), got {max_size}"
        )
    counts: Counter[str] = Counter()
    paths = [Path(f) for f in files]
    with tqdm(desc="building vocabulary", unit=" lines", mininterval=1.0) as progress:
        for sentence in read_sentences(paths, tokenizer, lowercase):
            counts.update(sentence)
            progress.update()
    for special in SPECIAL_TOKENS:
        counts.pop(special, None)
    words = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
    if max_size is not None:
        words = words[: max_size - len(SPECIAL_TOKENS)]
    return [*SPECIAL_TOKENS, *words]


def write_vocabulary(words: Sequence[str], path: str | Path) -> None:
    """One token per line, as bilm-tf's ``vocab.txt``."""
    from elmo_tasks.core.atomic import atomic_write_text

    atomic_write_text(path, "".join(f"{w}\n" for w in words))


def read_vocabulary(path: str | Path) -> list[str]:
    """A vocabulary file (one token per line); checks for duplicates and the special tokens."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"vocabulary file not found: {path}")
    words: list[str] = []
    seen: dict[str, int] = {}
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            word = line.rstrip("\n").rstrip("\r")
            if not word.strip() or len(word.split()) != 1:
                raise ValueError(f"{path}, line {number}: expected one token, got {word!r}")
            if word in seen:
                raise ValueError(f"{path}, line {number}: {word!r} already on line {seen[word]}")
            seen[word] = number
            words.append(word)
    missing = [t for t in SPECIAL_TOKENS if t not in seen]
    if missing:
        raise ValueError(f"{path}: the vocabulary must contain {', '.join(missing)}")
    return words


class Vocabulary:
    """Word <-> id of the output softmax; unknown words map to ``<UNK>``."""

    def __init__(self, words: Sequence[str]) -> None:
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        missing = [t for t in SPECIAL_TOKENS if t not in self.index]
        if missing:
            raise ValueError(f"vocabulary lacks {', '.join(missing)}")
        self.bos, self.eos, self.unk = (self.index[t] for t in SPECIAL_TOKENS)

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        unk = self.unk
        return [self.index.get(t, unk) for t in tokens]


def pretrain_data_problem(cfg: Any) -> DataNotFoundError | None:
    """A :class:`DataNotFoundError` for ``data.train_files`` / ``data.validation_files`` entries
    that match no file, and for a missing ``data.vocab_file`` (checked before any reading)."""
    data = cfg.data
    missing: list[tuple[str, str]] = []
    for key in [
        k for k in data if str(k).endswith("_files")
    ]:  # train_files, validation_files, test_files
        value = data.get(key)
        if value is None:
            continue
        entries = list(value) if isinstance(value, (ListConfig, list, tuple)) else [value]
        for entry in entries:
            entry = str(Path(str(entry)).expanduser())
            matches = (
                glob.glob(entry)
                if glob.has_magic(entry)
                else ([entry] if Path(entry).is_file() else [])
            )
            if not any(Path(m).is_file() for m in matches):
                missing.append((f"data.{key}", entry))
    vocab = data.get("vocab_file")
    if vocab and not Path(str(vocab)).expanduser().is_file():
        missing.append(("data.vocab_file", str(vocab)))
    if not missing:
        return None
    raw = OmegaConf.to_container(data, resolve=False)
    from_data_dir = any(
        "paths.data_dir" in str(raw.get(key.split(".")[1], "")) for key, _ in missing
    )
    data_dir = Path(str(cfg.paths.data_dir)).expanduser() if cfg.get("paths") else None
    lines = ["pretraining data not found; looked for:"]
    lines += [f"  {shown_path(entry)}   <- {key}" for key, entry in missing]
    if from_data_dir:
        lines.append(data_dir_note(data_dir, data_dir_from_env(cfg)))
    else:
        lines.append(
            f"({data_env_value()}; it only moves the paths built from ${{paths.data_dir}}.)"
        )
    lines.append("To fix it, do one of:")
    if from_data_dir:
        inside = relative_to(Path(missing[0][1]), data_dir)
        lines.append(f"  - export ELMO_TASKS_DATA=/path/to/data, the folder that holds {inside}")
    optional = sorted(
        {key for key, _ in missing if key not in ("data.train_files", "data.vocab_file")}
    )
    lines.append(
        "  - give your corpus: python -m elmo_tasks.pretrain data.train_files='corpus/*.txt.gz' "
        "data.validation_files=corpus/heldout.txt (each a path, a glob or a list)"
        + (f"; or {' '.join(f'{key}=null' for key in optional)} to do without" if optional else "")
    )
    if any(key == "data.vocab_file" for key, _ in missing):
        lines.append("  - data.vocab_file=null builds the vocabulary from data.train_files")
    return DataNotFoundError("\n".join(lines))
