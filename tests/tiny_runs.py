"""Tiny trained runs for the API, export and logger tests: data written here, one short epoch.

The classification data: a text's label is the sentiment word in it; the tagging data: a
token's tag is a function of the token (``paris`` is a LOC, ``new york`` a two-token LOC).
No shared data folder and no network are needed.
"""

from __future__ import annotations

import random
from pathlib import Path

from elmo_tasks.elmo.random_weights import write_random_elmo
from elmo_tasks.runs.experiment import run
from tests.compose import compose_config

QUIET = [
    "trainer.enable_progress_bar=false",
    "logger=[]",
    "threads=1",
]
SENTIMENT = {"good": "pos", "great": "pos", "bad": "neg", "awful": "neg"}
FILLER = ["the", "film", "was", "very", "a", "plot", "and"]
ENTITIES = {("paris",): "LOC", ("new", "york"): "LOC", ("john",): "PER", ("acme",): "ORG"}


def write_classification(folder: Path, count: int = 80, seed: int = 0) -> dict[str, Path]:
    """train.csv and dev.csv with ``text,label`` rows."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for split, n in (("train", count), ("dev", count // 4)):
        rows = ["text,label"]
        for _ in range(n):
            word = rng.choice(list(SENTIMENT))
            tokens = [rng.choice(FILLER) for _ in range(rng.randint(2, 5))] + [word]
            rng.shuffle(tokens)
            rows.append(f"{' '.join(tokens)},{SENTIMENT[word]}")
        files[split] = folder / f"{split}.csv"
        files[split].write_text("\n".join(rows) + "\n", encoding="utf-8")
    return files


def write_tagging(folder: Path, count: int = 80, seed: int = 0) -> dict[str, Path]:
    """train.conll and dev.conll, BIO tags."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for split, n in (("train", count), ("dev", count // 4)):
        lines = []
        for _ in range(n):
            pieces: list[tuple[str, str]] = []
            for _ in range(rng.randint(2, 6)):
                if rng.random() < 0.4:
                    entity = rng.choice(list(ENTITIES))
                    type_ = ENTITIES[entity]
                    pieces += [
                        (tok, f"{'B' if i == 0 else 'I'}-{type_}") for i, tok in enumerate(entity)
                    ]
                else:
                    pieces.append((rng.choice(FILLER), "O"))
            lines += [f"{token} {tag}" for token, tag in pieces] + [""]
        files[split] = folder / f"{split}.conll"
        files[split].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return files


def tiny_elmo(folder: Path) -> list[str]:
    """Overrides for an ELMo encoder over a seeded random tiny biLM written to ``folder``."""
    from tests.conftest import tiny_options

    options_file, weight_file = write_random_elmo(folder, tiny_options(), seed=0)
    return [
        "encoder=elmo",
        f"encoder.options_file={options_file}",
        f"encoder.weight_file={weight_file}",
        f"encoder.cache_dir={folder / 'cache'}",
        "encoder.dropout=0.0",
    ]


def train_classifier(root: Path, *extra: str, epochs: int = 2) -> Path:
    """A trained classification run folder (word embeddings + max pooling unless ``extra`` says)."""
    files = write_classification(root / "data")
    run_dir = root / "run"
    run(
        compose_config(
            run_dir,
            [
                "experiment=none",
                "task=text_classification",
                f"task.train_file={files['train']}",
                f"task.validation_file={files['dev']}",
                f"task.test_file={files['dev']}",
                "encoder=word_embedding",
                "encoder.dim=8",
                "head=max",
                f"trainer.max_epochs={epochs}",
                "optim.optimizer.lr=0.05",
                *QUIET,
                *extra,
            ],
        )
    )
    return run_dir


WORD_EMBEDDING = ("encoder=word_embedding", "encoder.dim=8")


def train_tagger(
    root: Path,
    *extra: str,
    head: str = "tagger_crf",
    epochs: int = 2,
    encoder: tuple[str, ...] | list[str] = WORD_EMBEDDING,
    files: dict[str, Path] | None = None,
    run_dir: Path | None = None,
) -> Path:
    """A trained tagging run folder (``encoder`` + ``head`` without a contextualizer), on the
    data of ``write_tagging`` unless ``files`` (``train`` and ``dev``) are given."""
    files = files or write_tagging(root / "data")
    run_dir = run_dir or root / "run"
    run(
        compose_config(
            run_dir,
            [
                "experiment=none",
                "task=token_classification",
                f"task.train_file={files['train']}",
                f"task.validation_file={files['dev']}",
                f"task.test_file={files['dev']}",
                *encoder,
                f"head={head}",
                "head.contextualizer=none",
                "head.dropout=0.0",
                f"trainer.max_epochs={epochs}",
                "optim.optimizer.lr=0.05",
                *QUIET,
                *extra,
            ],
        )
    )
    return run_dir
