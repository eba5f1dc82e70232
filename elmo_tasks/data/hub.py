"""Hugging Face hub datasets: reading one, and failing at once with a pointer to local files
when the hub cannot be reached (offline mode, no network) and the dataset is not cached.
Used by the classification and tagging data modules and by the pre-flight check."""

from __future__ import annotations

import os
import urllib.parse
import urllib.request
from collections.abc import Sequence

import datasets
import numpy as np

from elmo_tasks.core.errors import (
    DATA_ENV,
    DataFormatError,
    HubUnavailableError,
    data_env_value,
    reachable,
    train_command,
)
from elmo_tasks.data.labelled import (
    LabelledSplit,
    build_split,
    is_empty_text,
    to_split,
    warn_skipped,
)
from elmo_tasks.data.tables import require_columns, str_or_none

PathLike = str | os.PathLike[str]
_HUB_PROBE_TIMEOUT_S = 3.0


def read_hub(
    name: str,
    config: str | None = None,
    split: str = "train",
    text_column: str = "text",
    label_column: str = "label",
    *,
    labels: Sequence[str] | None = None,
    cache_dir: PathLike | None = None,
    revision: str | None = None,
) -> LabelledSplit:
    """Load ``split`` of the hub dataset ``name`` (``config``), using its ClassLabel names when it has them.

    ``revision`` pins the dataset repository to a branch, tag or commit (None: the default branch).
    ``line`` is the 0-based row index. Offline (``HF_HUB_OFFLINE``/``HF_DATASETS_OFFLINE``) or
    without a connection, a dataset that is not cached raises :class:`HubUnavailableError` at once.
    """
    source = hub_source(name, config, split, revision)
    check_hub_reachable(source)
    try:
        raw = datasets.load_dataset(
            name, config, split=split, cache_dir=str_or_none(cache_dir), revision=revision
        )
    except (ConnectionError, FileNotFoundError) as error:
        if not hub_offline():
            if isinstance(error, FileNotFoundError):
                raise
            raise HubUnavailableError(
                hub_message(source, f"the hub could not be reached ({error})")
            ) from error
        reason = f"offline mode is on (HF_HUB_OFFLINE/HF_DATASETS_OFFLINE) and it is not in the local cache ({error})"
        raise HubUnavailableError(hub_message(source, reason)) from error
    return split_from_hub_dataset(raw, text_column, label_column, labels=labels, source=source)


def hub_source(name: str, config: str | None, split: str, revision: str | None = None) -> str:
    """How messages name a hub split: ``name/config@revision [split]``."""
    return (
        f"{name}"
        + (f"/{config}" if config else "")
        + (f"@{revision}" if revision else "")
        + f" [{split}]"
    )


def split_from_hub_dataset(
    raw: datasets.Dataset,
    text_column: str = "text",
    label_column: str = "label",
    *,
    labels: Sequence[str] | None = None,
    source: str = "dataset",
) -> LabelledSplit:
    """A :class:`LabelledSplit` from an in-memory or hub ``datasets.Dataset`` (``line`` = row index)."""
    require_columns(raw.column_names, (text_column, label_column), source)
    rows = list(range(len(raw)))
    feature = raw.features[label_column]
    if not isinstance(feature, datasets.ClassLabel):
        return to_split(raw, text_column, label_column, rows, labels, source, "row")
    names = list(feature.names)
    if labels is not None and [str(label) for label in labels] != names:
        raise DataFormatError(
            f"{source}: the dataset's labels {names} differ from the given {list(labels)}"
        )
    ids = np.asarray(raw[label_column][:], dtype=np.int64)
    bad = np.flatnonzero((ids < 0) | (ids >= len(names)))
    if bad.size:
        row = int(bad[0])
        raise DataFormatError(
            f"{source}, row {row}: label {int(ids[row])} is not one of 0..{len(names) - 1} "
            f"({', '.join(names)}); -1 marks an unlabelled row (as in GLUE test splits)"
        )
    texts = raw[text_column][:]
    empty = [
        row
        for row, text in enumerate(texts)
        if is_empty_text(text, source, "row", row, text_column)
    ]
    keep = np.ones(len(raw), dtype=bool)
    keep[empty] = False
    warn_skipped(source, "row", empty)
    return build_split(raw, text_column, ids, rows, keep, names, source)


def hub_offline() -> bool:
    flags = (os.environ.get(variable, "") for variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
    return bool(datasets.config.HF_HUB_OFFLINE) or any(
        flag.upper() in {"1", "ON", "YES", "TRUE"} for flag in flags
    )


def check_hub_reachable(source: str, tagging: bool = False) -> None:
    """Raise HubUnavailableError before ``load_dataset`` would wait on retries that cannot succeed:
    a TCP probe of ``$HF_ENDPOINT`` (default huggingface.co) that gives up after a few seconds."""
    if hub_offline():
        if not datasets.config.HF_HUB_OFFLINE:
            reason = (
                "HF_HUB_OFFLINE/HF_DATASETS_OFFLINE was set after `datasets` was imported, so `datasets` would "
                "still go online; set it before starting Python to load a cached copy"
            )
            raise HubUnavailableError(hub_message(source, reason, tagging))
        return  # ``datasets`` itself is offline: it loads from the cache or fails at once
    endpoint = urllib.parse.urlsplit(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host = endpoint.hostname or "huggingface.co"
    if urllib.request.getproxies().get(endpoint.scheme) and not urllib.request.proxy_bypass(host):
        return  # a proxy is in the way: let ``datasets`` try
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    problem = reachable(host, port, _HUB_PROBE_TIMEOUT_S)
    if problem:
        reason = (
            f"this machine is offline or the hub is unreachable: {problem}; with HF_HUB_OFFLINE=1 a copy in "
            "the local cache would be used"
        )
        raise HubUnavailableError(hub_message(source, reason, tagging))


def hub_message(source: str, reason: str, tagging: bool = False) -> str:
    """Why ``source`` cannot be loaded, and the overrides that train on local files instead."""
    from elmo_tasks.core.paths import DEFAULT_PROJECT_ROOT

    data = os.environ.get(DATA_ENV) or str(
        (DEFAULT_PROJECT_ROOT.parent / "shared" / "data").resolve()
    )
    if tagging:
        local = (
            f"  {train_command('task=conll2003 head=tagger_crf')}   (reads {data}/conll2003/)\n"
            f"  {train_command('task=token_classification head=tagger_crf task.train_file=/path/to/train.conll')} "
            "task.test_file=/path/to/test.conll"
        )
    else:
        local = (
            f"  {train_command('task=text_classification task.train_file=/path/to/train.csv')} "
            "task.validation_file=/path/to/dev.csv task.text_column=text task.label_column=label\n"
            f"  {train_command('task=sst2')}   (or task=tweet_sentiment, sst5, sst3: files under {data})\n"
            f"  from Python: read_table('{data}/sst2/train.tsv', text_column='sentence'), "
            f"read_table('{data}/tweet_sentiment_extraction/train.jsonl'), read_sst_trees('{data}/sst5/train.txt') "
            f"or read_tweeteval('{data}/tweeteval_sentiment', 'val')"
        )
    return (
        f"cannot load hub dataset {source}: {reason}.\n"
        f"Use local files instead ({data_env_value()}):\n{local}"
    )
