"""Entity tag schemes (IOB1, BIO, BIOES): detection, conversion, spans and CRF constraints.

Models train on one scheme (BIO or BIOES) whatever the input file uses, and predictions are
written back in the input's scheme, so conversions must be lossless for well-formed input.
Spans are read with the conlleval chunk rules (via seqeval's port of them), which accept all
three schemes, so ``to_bio`` and friends agree with what the scorer counts as an entity.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Literal

from seqeval.metrics.sequence_labeling import get_entities

from elmo_tasks.core.errors import DataFormatError

Scheme = Literal["IOB1", "BIO", "BIOES"]
Span = tuple[str, int, int]
"""An entity as ``(type, start, end_exclusive)``."""

SCHEMES: tuple[str, ...] = ("IOB1", "BIO", "BIOES")
_PREFIXES: dict[str, frozenset[str]] = {
    "IOB1": frozenset("BI"),
    "BIO": frozenset("BI"),
    "BIOES": frozenset("BIES"),
}
# The prefixes of each scheme, in the order tag_set lists them.
SCHEME_PREFIXES = {"IOB1": "BI", "BIO": "BI", "BIOES": "BIES"}
_ALIASES = {"IOB2": "BIO", "IOBES": "BIOES"}


def check_scheme(scheme: str) -> Scheme:
    """Return the canonical name of ``scheme`` (``IOB2`` is accepted for ``BIO``), else ValueError."""
    name = _ALIASES.get(scheme.upper(), scheme.upper()) if isinstance(scheme, str) else scheme
    if name not in SCHEMES:
        raise ValueError(
            f"unknown tag scheme {scheme!r}; expected one of {', '.join(SCHEMES)} (or IOB2)"
        )
    return name  # type: ignore[return-value]


def split_tag(tag: str, where: str = "tag") -> tuple[str, str]:
    """Split ``B-PER`` into ``("B", "PER")`` and ``O`` into ``("O", "")``.

    ``where`` says where the tag came from, for the error raised on a malformed tag.
    """
    if tag == "O":
        return "O", ""
    if not isinstance(tag, str) or len(tag) < 3 or tag[1] != "-" or tag[0] not in "BIES":
        raise DataFormatError(
            f"{where}: {tag!r} is not an entity tag (expected 'O' or B-/I-/E-/S- followed by a type)"
        )
    return tag[0], tag[2:]


def _check_tags(tags: Sequence[str], scheme: Scheme, what: str = "tags") -> None:
    """Raise ValueError if a tag is malformed or uses a prefix that ``scheme`` does not have."""
    if isinstance(tags, str):
        raise TypeError(f"{what} must be a sequence of tags, got a single string {tags!r}")
    allowed = _PREFIXES[scheme]
    for i, tag in enumerate(tags):
        prefix, _ = split_tag(tag, f"{what}, position {i}")
        if prefix != "O" and prefix not in allowed:
            raise ValueError(
                f"{what}, position {i}: tag {tag!r} is not valid in the {scheme} scheme"
            )


def detect_scheme(sequences: Iterable[Sequence[str]]) -> Scheme:
    """Guess the scheme of a corpus of tag sequences.

    * ``BIOES`` if any tag has an ``E-`` or ``S-`` prefix;
    * else ``IOB1`` if some chunk starts with ``I-``: an ``I-X`` at the start of a sentence, or
      after ``O``, or after a tag of another type;
    * else ``BIO`` (every chunk starts with ``B-``; an all-``O`` corpus is also ``BIO``).
    """
    iob1 = False
    for s, tags in enumerate(sequences):
        if isinstance(tags, str):
            raise TypeError(
                "detect_scheme expects a list of tag sequences, got a single string; wrap it in a list"
            )
        prev_type = ""
        for i, tag in enumerate(tags):
            prefix, type_ = split_tag(tag, f"sentence {s}, position {i}")
            if prefix in ("E", "S"):
                return "BIOES"
            if prefix == "I" and type_ != prev_type:
                iob1 = True
            prev_type = type_
    return "IOB1" if iob1 else "BIO"


def bio_spans(tags: Sequence[str]) -> list[Span]:
    """Entities of one sentence as ``(type, start, end_exclusive)``, in order.

    Chunks are read as conlleval reads them (seqeval's ``get_entities`` is a port of its
    ``startOfChunk``/``endOfChunk``), so this works for BIO, IOB1 and BIOES input alike and an
    ill-formed ``I-`` after ``O`` starts a new entity rather than being dropped.
    """
    _check_tags(tags, "BIOES")
    return [(type_, start, end + 1) for type_, start, end in get_entities(list(tags))]


def _render_bio(spans: Iterable[Span], length: int) -> list[str]:
    out = ["O"] * length
    for type_, start, end in spans:
        out[start] = f"B-{type_}"
        for i in range(start + 1, end):
            out[i] = f"I-{type_}"
    return out


def _render_bioes(spans: Iterable[Span], length: int) -> list[str]:
    out = ["O"] * length
    for type_, start, end in spans:
        if end - start == 1:
            out[start] = f"S-{type_}"
            continue
        out[start] = f"B-{type_}"
        for i in range(start + 1, end - 1):
            out[i] = f"I-{type_}"
        out[end - 1] = f"E-{type_}"
    return out


def _render_iob1(spans: Iterable[Span], length: int) -> list[str]:
    out = ["O"] * length
    previous_end, previous_type = -1, ""
    for type_, start, end in spans:
        follows_same_type = start == previous_end and type_ == previous_type
        out[start] = f"{'B' if follows_same_type else 'I'}-{type_}"
        for i in range(start + 1, end):
            out[i] = f"I-{type_}"
        previous_end, previous_type = end, type_
    return out


def to_bio(tags: Sequence[str], scheme: str) -> list[str]:
    """Convert one sentence from ``scheme`` to BIO, where every entity starts with ``B-``.

    BIO input comes back normalised: an ill-formed ``I-`` start becomes ``B-`` (as conlleval
    reads it).
    """
    scheme = check_scheme(scheme)
    _check_tags(tags, scheme)
    return _render_bio(bio_spans(tags), len(tags))


def to_bioes(bio_tags: Sequence[str]) -> list[str]:
    """Convert one BIO sentence to BIOES (single-token entities ``S-``, last tokens ``E-``)."""
    _check_tags(bio_tags, "BIO", "bio_tags")
    return _render_bioes(bio_spans(bio_tags), len(bio_tags))


def from_bio(bio_tags: Sequence[str], scheme: str) -> list[str]:
    """Convert one BIO sentence to ``scheme``, to write predictions in the input's scheme.

    For IOB1, an entity starts with ``B-`` only when it directly follows an entity of the
    same type; otherwise it starts with ``I-``.
    """
    scheme = check_scheme(scheme)
    _check_tags(bio_tags, "BIO", "bio_tags")
    spans = bio_spans(bio_tags)
    render = {"BIO": _render_bio, "BIOES": _render_bioes, "IOB1": _render_iob1}[scheme]
    return render(spans, len(bio_tags))


def _parsed_labels(labels: Sequence[str], scheme: Scheme) -> list[tuple[str, str]]:
    if isinstance(labels, str):
        raise TypeError(f"labels must be a sequence of tags, got a single string {labels!r}")
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):
        if label in seen:
            raise ValueError(f"labels, position {i}: {label!r} repeats position {seen[label]}")
        seen[label] = i
    _check_tags(labels, scheme, "labels")
    return [split_tag(label) for label in labels]


def _transition_ok(prev: tuple[str, str], cur: tuple[str, str], scheme: Scheme) -> bool:
    (p, p_type), (c, c_type) = prev, cur
    if scheme == "BIO":
        return c != "I" or (p in "BI" and p_type == c_type)
    if scheme == "IOB1":
        return c != "B" or (p in "BI" and p_type == c_type)
    # BIOES: inside an entity only I-X/E-X of the same type may follow; outside, I-/E- may not.
    if p in "BI":
        return c in "IE" and p_type == c_type
    return c in "OBS"


def allowed_transitions(labels: Sequence[str], scheme: str) -> list[tuple[int, int]]:
    """All ``(from_index, to_index)`` label pairs that a well-formed ``scheme`` sequence may contain.

    BIO: ``I-X`` only after ``B-X`` or ``I-X``. IOB1: ``B-X`` only after ``B-X`` or ``I-X``.
    BIOES: after ``B-X``/``I-X`` only ``I-X``/``E-X``; after ``O``/``E-``/``S-`` only ``O``/``B-``/``S-``.
    """
    scheme = check_scheme(scheme)
    parsed = _parsed_labels(labels, scheme)
    return [
        (i, j)
        for i, prev in enumerate(parsed)
        for j, cur in enumerate(parsed)
        if _transition_ok(prev, cur, scheme)
    ]


def allowed_starts(labels: Sequence[str], scheme: str) -> list[int]:
    """Indices of labels a sentence may start with (no ``I-`` in BIO, no ``B-`` in IOB1, no ``I-``/``E-`` in BIOES)."""
    scheme = check_scheme(scheme)
    parsed = _parsed_labels(labels, scheme)
    banned = {"BIO": "I", "IOB1": "B", "BIOES": "IE"}[scheme]
    return [i for i, (prefix, _) in enumerate(parsed) if prefix not in banned]


def allowed_ends(labels: Sequence[str], scheme: str) -> list[int]:
    """Indices of labels a sentence may end with (in BIOES not ``B-``/``I-``; anything otherwise)."""
    scheme = check_scheme(scheme)
    parsed = _parsed_labels(labels, scheme)
    banned = "BI" if scheme == "BIOES" else ""
    return [i for i, (prefix, _) in enumerate(parsed) if prefix not in banned]


def crf_constraints(labels: Sequence[str], scheme: str) -> dict[str, list]:
    """Keyword arguments for ``ConditionalRandomField``: allowed transitions, starts and ends."""
    return {
        "allowed_transitions": allowed_transitions(labels, scheme),
        "start_allowed": allowed_starts(labels, scheme),
        "end_allowed": allowed_ends(labels, scheme),
    }


# --------------------------------------------------------------------------- tag sets and chunks


def tag_set(types: Iterable[str], scheme: str) -> list[str]:
    """``O`` then every prefix of ``scheme`` for each entity type, types sorted: the tags a model
    can emit, whether or not the training data happens to use each of them."""
    prefixes = SCHEME_PREFIXES[check_scheme(scheme)]
    return ["O"] + [f"{prefix}-{type_}" for type_ in sorted(set(types)) for prefix in prefixes]


def _renormalised(tags: list[str], scheme: str) -> list[str]:
    """A chunk's tags made well-formed again (an entity cut in two becomes two entities); a no-op
    for a chunk that was cut between entities."""
    bio = to_bio(tags, scheme)
    return bio if scheme == "BIO" else to_bioes(bio)


def chunk_sentence(
    tags: Sequence[str], max_length: int, scheme: str, where: str = "sentence"
) -> list[tuple[int, list[str]]]:
    """Cut a sentence's (BIO or BIOES) tags into ``(offset, tags)`` chunks of at most ``max_length``.

    Each cut is at the last entity boundary that fits, so no entity is split and every chunk is
    well-formed as it is; only an entity longer than ``max_length`` is cut, with a warning, and
    its chunks are renormalised (``I-X`` at the start of a chunk becomes ``B-X``). ``where``
    names the sentence in that warning.
    """
    continuation = ("I-",) if scheme == "BIO" else ("I-", "E-")
    chunks, start = [], 0
    while start < len(tags):
        end = min(start + max_length, len(tags))
        if end < len(tags):
            cut = next(
                (c for c in range(end, start, -1) if not tags[c].startswith(continuation)), None
            )
            if cut is None:
                message = (
                    f"{where}: an entity longer than max_length={max_length} is cut at token {end}"
                )
                warnings.warn(message, UserWarning, stacklevel=2)
            else:
                end = cut
        chunks.append((start, _renormalised(list(tags[start:end]), scheme)))
        start = end
    return chunks
