"""Tagged sentences from a HuggingFace hub dataset with a token list and a tag list column."""

from __future__ import annotations

import warnings

import datasets

from elmo_tasks.core.errors import DataFormatError, HubUnavailableError
from elmo_tasks.data.conll import Sentence, TaggedSplit
from elmo_tasks.data.hub import check_hub_reachable, hub_message, hub_offline, hub_source


def sentences_from_hub_dataset(
    raw: datasets.Dataset, source: str, token_column: str = "tokens", tag_column: str = "ner_tags"
) -> TaggedSplit:
    """Sentences of a hub dataset with a token list column and a tag list column (ClassLabel ids or
    strings); ``line`` is the 0-based row. Rows without tokens are skipped with a warning."""
    missing = [c for c in (token_column, tag_column) if c not in raw.column_names]
    if missing:
        raise DataFormatError(
            f"{source}: no column {', '.join(map(repr, missing))}; available: {raw.column_names} "
            "(set task.tokens_column and task.tags_column)"
        )
    feature = getattr(raw.features[tag_column], "feature", None)
    names = list(feature.names) if isinstance(feature, datasets.ClassLabel) else None
    sentences, empty = [], []
    for row, (tokens, tags) in enumerate(zip(raw[token_column], raw[tag_column])):
        if not tokens:
            empty.append(row)
            continue
        if names is not None:
            bad = [t for t in tags if not 0 <= t < len(names)]
            if bad:
                raise DataFormatError(
                    f"{source}, row {row}: tag id {bad[0]} is not one of 0..{len(names) - 1}"
                )
            tags = [names[t] for t in tags]
        try:
            sentences.append(Sentence(list(tokens), list(tags), row))
        except ValueError as error:
            raise DataFormatError(
                f"{source}, row {row}: {len(tokens)} tokens but {len(tags)} tags"
            ) from error
    if empty:
        warnings.warn(
            f"{source}: skipped {len(empty)} row(s) without tokens: {empty[:50]}",
            UserWarning,
            stacklevel=2,
        )
    if not sentences:
        raise DataFormatError(f"{source}: no sentences")
    return TaggedSplit(sentences, source, unit="row")


def read_hub_tagging(
    name: str,
    config: str | None,
    split: str,
    tokens_column: str = "tokens",
    tags_column: str = "ner_tags",
    revision: str | None = None,
) -> TaggedSplit:
    """``split`` of hub dataset ``name`` (``config``, at ``revision``: a branch, tag or commit;
    None for the default branch) with a token list column and a tag list column (tag names
    from the dataset's ClassLabel feature, or the strings themselves).

    Offline or unreachable and not cached: :class:`HubUnavailableError` at once.
    """
    source = hub_source(name, config, split, revision)
    check_hub_reachable(source, tagging=True)
    try:
        raw = datasets.load_dataset(name, config, split=split, revision=revision)
    except (ConnectionError, FileNotFoundError) as error:
        if isinstance(error, FileNotFoundError) and not hub_offline():
            raise
        reason = (
            "offline mode is on (HF_HUB_OFFLINE/HF_DATASETS_OFFLINE) and it is not in the local cache"
            if hub_offline()
            else f"the hub could not be reached ({type(error).__name__})"
        )
        raise HubUnavailableError(hub_message(source, reason, tagging=True)) from error
    return sentences_from_hub_dataset(raw, source, tokens_column, tags_column)
