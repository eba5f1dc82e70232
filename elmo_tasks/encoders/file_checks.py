"""Checks of the files an encoder config names, before anything is loaded: ELMo options and
weights (local paths, presets, URLs) and word-vector files. The encoders call these from their
``check_config`` (see :mod:`elmo_tasks.core.checks`); pretraining's ``model.init_from`` too."""

from __future__ import annotations

import difflib
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from elmo_tasks.core.errors import WeightsNotFoundError, reachable, shown_path


def word_vectors_problem(path: Any, key: str) -> WeightsNotFoundError | None:
    """A :class:`WeightsNotFoundError` when the word-vector file ``path`` is not there."""
    if not path or Path(str(path)).expanduser().is_file():
        return None
    return WeightsNotFoundError(word_vectors_message(path, key))


def word_vectors_message(path: Any, key: str = "encoder.pretrained_file") -> str:
    return (
        f"pretrained word vectors not found: {shown_path(path)}   <- {key}\n"
        f"{key} takes a GloVe, word2vec or fastText text file (one `word v1 v2 ...` line per word, .gz allowed), "
        f"e.g. {key}=/path/to/glove.6B.300d.txt; or {key}=null to learn the embeddings from a random start."
    )


def elmo_files_problem(encoder: Mapping[str, Any], key: str) -> WeightsNotFoundError | None:
    """A :class:`WeightsNotFoundError` naming both ELMo files' problems, if any: a local file
    that is not there, a preset or URL not downloaded yet whose server cannot be reached, a
    packaged preset that is not installed."""
    from elmo_tasks.elmo import hub

    problems: list[str] = []
    unreachable: dict[str, list[tuple[str, str, str]]] = {}
    for field, kind in (("options_file", "options"), ("weight_file", "weights")):
        value = encoder.get(field)
        full_key = f"{key}.{field}"
        if value is None or str(value) == "":
            problems.append(f"{full_key} is not set")
            continue
        text = str(value)
        if text in hub.PACKAGED:
            problem = hub.packaged_file_missing(text, kind)
            if problem:
                problems.append(f"{problem}   <- {full_key}")
            continue
        if text in hub.PRESETS or text.startswith(("http://", "https://")):
            url = hub.PRESETS[text].url(kind) if text in hub.PRESETS else text
            if hub.is_downloaded(url):
                continue
            why = _url_unreachable(url)
            if why:
                unreachable.setdefault(why, []).append((full_key, text, url.split("#", 1)[0]))
            continue
        if not Path(text).expanduser().exists():
            problems.append(
                f"ELMo {kind} file not found: {shown_path(text)}   <- {full_key}"
                + _preset_hint(text, hub)
            )
    if not problems and not unreachable:
        return None
    lines = list(problems)
    for why, items in unreachable.items():
        names = sorted({text for _, text, _ in items})
        what = (
            f"ELMo preset {names[0]!r} is"
            if len(names) == 1 and names[0] in hub.PRESETS
            else (
                f"the ELMo file{'s' if len(names) > 1 else ''} {', '.join(names)} {'are' if len(names) > 1 else 'is'}"
            )
        )
        lines.append(
            f"{what} not in the download cache {hub.cache_dir()} ({', '.join(k for k, _, _ in items)}) "
            f"and cannot be downloaded: {why}. Download on a machine with network access:"
        )
        lines += [f"    {url}" for _, _, url in items]
        lines.append(
            "  and pass the local files' paths (or copy that machine's cache folder and set ELMO_TASKS_CACHE to it)."
        )
        packaged = [name for name in hub.PACKAGED if hub.packaged_available(name)]
        if packaged:
            lines.append(
                f"  Or use the biLM shipped with the package, no download: {key}.options_file={packaged[0]} "
                f"{key}.weight_file={packaged[0]}."
            )
    presets = ", ".join([*hub.PACKAGED, *hub.PRESETS])
    lines.append(
        f"{key}.options_file and {key}.weight_file take a local path, an http(s) URL or a preset name ({presets}); "
        f"e.g. {key}.options_file=/path/to/options.json {key}.weight_file=/path/to/weights.hdf5 "
        "(python -m elmo_tasks.pretrain writes both into <run>/export/)."
    )
    return WeightsNotFoundError("\n".join(lines))


def _preset_hint(text: str, hub: Any) -> str:
    names = [*hub.PACKAGED, *hub.PRESETS]
    nearest = difflib.get_close_matches(text, names, n=1, cutoff=0.6)
    return f" (did you mean the preset {nearest[0]!r}?)" if nearest else ""


def _url_unreachable(url: str) -> str | None:
    """Why ``url``'s server cannot be reached, or None (also when a proxy is configured: the
    download itself will tell)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname
    if not host:
        return f"{url} has no host"
    if urllib.request.getproxies().get(parts.scheme) and not urllib.request.proxy_bypass(host):
        return None
    return reachable(host, parts.port or (443 if parts.scheme == "https" else 80))
