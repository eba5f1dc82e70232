"""A small English sentiment corpus written by this project, for the offline quickstart.

Sentences come from templates and word lists in this file (no third-party data): reviews of
films, books, restaurants, hotels and products with a ``negative`` or ``positive`` label.
Besides plain statements ("The food was really good.") a good share of them only make sense
in context, which a bag of words cannot see:

* negation flips a word's polarity: "The plot was not very clever.", "The film was never
  boring.", "I did not enjoy this album."
* contrast: the clause after "but", or the main clause of "although", decides, so the same
  words in the other order carry the opposite label: "The acting was great, but the plot was
  dull." (negative) / "The plot was dull, but the acting was great." (positive).

:func:`generate` is deterministic for a seed, balanced per split, and never repeats a
sentence across splits. :func:`write_quickstart_data` writes the splits as JSON lines
(``{"text": ..., "label": ...}``) once per parameter set.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from elmo_tasks.core.atomic import atomic_write_text
from elmo_tasks.core.litter import remove_stale_temporaries

# Bump when the templates or word lists change, so cached files are written again.
GENERATOR_VERSION = 1
LABELS = ("negative", "positive")
SPLITS = ("train", "validation", "test")
MANIFEST = "manifest.json"

# What a review is about: a thing ("this ...", first) and its aspects, as (noun phrase, plural).
# Both clauses of a contrast talk about the same domain.
DOMAINS = {
    "film": [
        ("this movie", False),
        ("the film", False),
        ("the plot", False),
        ("the acting", False),
        ("the ending", False),
        ("the dialogue", False),
        ("the music", False),
        ("the characters", True),
    ],
    "book": [
        ("this book", False),
        ("the novel", False),
        ("the story", False),
        ("the writing", False),
        ("the characters", True),
        ("the ending", False),
    ],
    "restaurant": [
        ("this restaurant", False),
        ("the food", False),
        ("the service", False),
        ("the staff", True),
        ("the meal", False),
        ("the dessert", False),
        ("the prices", True),
    ],
    "hotel": [
        ("this hotel", False),
        ("the room", False),
        ("the view", False),
        ("the staff", True),
        ("the breakfast", False),
        ("the location", False),
    ],
    "music": [
        ("this album", False),
        ("the concert", False),
        ("the songs", True),
        ("the singer", False),
        ("the lyrics", True),
    ],
    "product": [
        ("this phone", False),
        ("the camera", False),
        ("the screen", False),
        ("the design", False),
        ("the battery", False),
        ("this game", False),
    ],
}
ADJECTIVES = {
    "positive": [
        "good",
        "great",
        "excellent",
        "wonderful",
        "brilliant",
        "beautiful",
        "enjoyable",
        "impressive",
        "pleasant",
        "fantastic",
        "delightful",
        "charming",
        "clever",
        "superb",
        "lovely",
        "perfect",
        "memorable",
        "nice",
    ],
    "negative": [
        "bad",
        "poor",
        "terrible",
        "awful",
        "boring",
        "dull",
        "disappointing",
        "weak",
        "painful",
        "predictable",
        "bland",
        "messy",
        "forgettable",
        "annoying",
        "horrible",
        "tedious",
        "mediocre",
        "ugly",
    ],
}
# Negative words that read naturally after "never" / "not ... at all" (a clearly positive remark).
NEGATABLE_NEGATIVES = [
    "bad",
    "boring",
    "dull",
    "disappointing",
    "predictable",
    "bland",
    "annoying",
    "tedious",
    "forgettable",
    "awful",
]
INTENSIFIERS = ["", "", "very", "really", "truly", "quite", "extremely", "pretty"]
# What turns "was X" into the opposite of X ("not at all" wraps the adjective).
NEGATORS_OF_POSITIVE = [
    "not",
    "not very",
    "never",
    "hardly",
    "far from",
    "anything but",
    "not at all",
]
VERBS = {"positive": ["love", "enjoy", "like", "adore", "admire"], "negative": ["hate", "dislike"]}
PEOPLE = ["I", "we", "my friends", "my family", "everyone I know"]
RECOMMEND = {
    "positive": [
        "I would recommend {s}.",
        "I would happily recommend {s}.",
        "I can recommend {s}.",
    ],
    "negative": [
        "I would not recommend {s}.",
        "I would never recommend {s}.",
        "I cannot recommend {s}.",
    ],
}


@dataclass(frozen=True)
class Review:
    """What one sentence talks about and in which tense."""

    subjects: list[tuple[str, bool]]
    past: bool

    def be(self, plural: bool) -> str:
        return ("were" if plural else "was") if self.past else ("are" if plural else "is")


def _opposite(label: str) -> str:
    return LABELS[1 - LABELS.index(label)]


def _plain(rng: random.Random, review: Review, subject: tuple[str, bool], label: str) -> str:
    """ "the food was really good" """
    words = [
        subject[0],
        review.be(subject[1]),
        rng.choice(INTENSIFIERS),
        rng.choice(ADJECTIVES[label]),
    ]
    return " ".join(w for w in words if w)


def _negated(rng: random.Random, review: Review, subject: tuple[str, bool], label: str) -> str:
    """A negated adjective: "the plot was not very clever" (negative), "the film was never
    boring" (positive)."""
    start = f"{subject[0]} {review.be(subject[1])}"
    if label == "negative":
        negator, adjective = rng.choice(NEGATORS_OF_POSITIVE), rng.choice(ADJECTIVES["positive"])
    else:
        negator, adjective = rng.choice(["never", "not at all"]), rng.choice(NEGATABLE_NEGATIVES)
    if negator == "not at all":
        return f"{start} not {adjective} at all"
    return f"{start} {negator} {adjective}"


def _verb(rng: random.Random, review: Review, subject: tuple[str, bool], label: str) -> str:
    """ "I loved the film", "everyone I know likes the food", "we did not enjoy the meal" """
    person = rng.choice(PEOPLE)
    singular = person == "everyone I know"
    if label == "negative" and rng.random() < 0.5:
        did = "did" if review.past else ("does" if singular else "do")
        return f"{person} {did} not {rng.choice(['enjoy', 'like', 'love'])} {subject[0]}"
    verb = rng.choice(VERBS[label])
    if review.past:
        verb += "d" if verb.endswith("e") else "ed"
    elif singular:
        verb += "s"
    return f"{person} {verb} {subject[0]}"


CLAUSES: dict[str, Callable[[random.Random, Review, tuple[str, bool], str], str]] = {
    "plain": _plain,
    "negated": _negated,
    "verb": _verb,
}


def _capitalize(text: str) -> str:
    return text[0].upper() + text[1:]


def _sentence(rng: random.Random, label: str) -> str:
    """One review sentence with polarity ``label``."""
    review = Review(rng.choice(list(DOMAINS.values())), past=rng.random() < 0.6)
    kind = rng.choices(
        ["plain", "negated", "verb", "recommend", "contrast"], weights=[3, 3, 2, 1, 4]
    )[0]
    if kind == "recommend":
        return rng.choice(RECOMMEND[label]).format(s=review.subjects[0][0])
    if kind != "contrast":
        return _capitalize(CLAUSES[kind](rng, review, rng.choice(review.subjects), label)) + "."
    # Two aspects of one thing: the deciding clause has the label, the conceded one the opposite.
    first, second = rng.sample(review.subjects, 2)
    concession = CLAUSES[rng.choice(["plain", "plain", "negated", "verb"])](
        rng, review, first, _opposite(label)
    )
    decision = CLAUSES[rng.choice(["plain", "plain", "negated", "verb"])](
        rng, review, second, label
    )
    form = rng.randrange(3)
    if form == 0:
        return f"{_capitalize(concession)}, but {decision}."
    if form == 1:
        return f"Although {concession}, {decision}."
    return f"{_capitalize(decision)}, although {concession}."


def generate(sizes: dict[str, int], seed: int = 0) -> dict[str, list[dict[str, str]]]:
    """Rows ``{"text", "label"}`` per split: each split balanced (the labels alternate, then are
    shuffled), no sentence in two splits or twice in one, the same rows for the same seed."""
    rng = random.Random(seed)
    seen: set[str] = set()
    splits: dict[str, list[dict[str, str]]] = {}
    for split, size in sizes.items():
        labels = [LABELS[i % 2] for i in range(size)]
        rng.shuffle(labels)
        rows = []
        for label in labels:
            for _ in range(1000):
                text = _sentence(rng, label)
                if text not in seen:
                    break
            else:
                raise RuntimeError(
                    f"could not write {size} distinct {split} sentences; ask for fewer"
                )
            seen.add(text)
            rows.append({"text": text, "label": label})
        splits[split] = rows
    return splits


def write_quickstart_data(
    directory: str | os.PathLike,
    n_train: int = 2000,
    n_validation: int = 500,
    n_test: int = 500,
    seed: int = 0,
) -> dict[str, Path]:
    """Write ``train.jsonl``, ``validation.jsonl`` and ``test.jsonl`` into ``directory`` and
    return their paths by split. Files already written with the same generator version and
    parameters (``manifest.json``) are reused; each file is replaced atomically, under a lock."""
    directory = Path(directory).expanduser()
    directory.mkdir(parents=True, exist_ok=True)
    sizes = {"train": n_train, "validation": n_validation, "test": n_test}
    manifest = {"generator": __name__, "version": GENERATOR_VERSION, "seed": seed, "sizes": sizes}
    paths = {split: directory / f"{split}.jsonl" for split in SPLITS}
    manifest_path = directory / MANIFEST
    with FileLock(str(directory / ".lock")):
        try:
            current = json.loads(manifest_path.read_text())
        except (OSError, ValueError):
            current = None
        if current == manifest and all(path.is_file() for path in paths.values()):
            return paths
        manifest_path.unlink(missing_ok=True)
        remove_stale_temporaries(directory)  # of a writer killed before its rename
        for split, rows in generate(sizes, seed).items():
            atomic_write_text(paths[split], "".join(json.dumps(row) + "\n" for row in rows))
        atomic_write_text(manifest_path, json.dumps(manifest, indent=2) + "\n")
    return paths
