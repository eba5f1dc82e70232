"""Same-corpus static baseline: gensim word2vec on the files a biLM is pretrained on.

    elmo-tasks pretrain-word2vec data.train_files='corpus/*.txt.gz' word2vec.dim=300

reads ``data.*`` and ``word2vec.*`` of conf/pretrain.yaml (same files, tokenizer and
lowercasing as the biLM) and writes ``word2vec.output_file``, a word2vec text file for
``encoder=word_embedding encoder.pretrained_file=<file>``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from elmo_tasks.core.paths import DEFAULT_PROJECT_ROOT
from elmo_tasks.data.tokenize import get_tokenizer
from elmo_tasks.pretraining.text import read_sentences, resolve_files
from elmo_tasks.runs.config import register_resolvers

log = logging.getLogger(__name__)

register_resolvers(DEFAULT_PROJECT_ROOT)


class TokenisedCorpus:
    """Token lists of ``files``, re-read from disk on every pass (gensim makes several)."""

    def __init__(
        self, files: Sequence[Path], tokenizer: str = "whitespace", lowercase: bool = False
    ) -> None:
        self.files, self.tokenizer, self.lowercase = (
            list(files),
            get_tokenizer(tokenizer),
            lowercase,
        )

    def __iter__(self) -> Iterator[list[str]]:
        return read_sentences(self.files, self.tokenizer, self.lowercase)


def train_word2vec(
    files: Sequence[Path],
    output_file: str | Path,
    tokenizer: str = "whitespace",
    lowercase: bool = False,
    dim: int = 300,
    window: int = 5,
    min_count: int = 5,
    sg: int = 1,
    negative: int = 5,
    epochs: int = 5,
    workers: int = 1,
    seed: int = 0,
) -> Path:
    """Train word2vec (skip-gram when ``sg=1``, CBOW when 0) and write the text format."""
    from gensim.models import Word2Vec

    corpus = TokenisedCorpus(files, tokenizer, lowercase)
    model = Word2Vec(
        sentences=corpus,
        vector_size=dim,
        window=window,
        min_count=min_count,
        sg=sg,
        negative=negative,
        epochs=epochs,
        workers=workers,
        seed=seed,
    )
    output_file = Path(output_file).expanduser()
    output_file.parent.mkdir(parents=True, exist_ok=True)
    model.wv.save_word2vec_format(str(output_file), binary=False)
    log.info("word2vec: %d words x %d dims -> %s", len(model.wv), dim, output_file)
    return output_file


def run(cfg: DictConfig) -> Path:
    data, w2v = cfg.data, cfg.word2vec
    spec = data.train_files
    files = resolve_files(
        OmegaConf.to_container(spec) if OmegaConf.is_config(spec) else spec, "data.train_files"
    )
    return train_word2vec(
        files,
        w2v.output_file,
        data.tokenizer,
        data.lowercase,
        dim=w2v.dim,
        window=w2v.window,
        min_count=w2v.min_count,
        sg=w2v.sg,
        negative=w2v.negative,
        epochs=w2v.epochs,
        workers=w2v.workers,
        seed=cfg.seed,
    )
