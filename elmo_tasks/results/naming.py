"""Short, readable names for groups of runs: what a table row, a chart bar and a verdict call a
setting instead of its full overrides (``experiment=quickstart/baseline_elmo, head=max``).

A group whose runs all carry the same ``label`` (the presets set one in their experiment
YAML: "baseline", "baseline + ELMo", "ELMo alone") is named by it when that tells the groups
apart; otherwise its differing overrides are shortened: ``experiment=quickstart/elmo`` ->
``elmo``, ``encoder.encoders.elmo.at_output=true`` -> ``at_output=true``, a path to its file
name. Names that would collide fall back to the full overrides.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

CONFIG_FILES = ("config_resolved.yaml", ".hydra/config.yaml")
_LABEL_LINE = re.compile(r"^label:[ \t]*(.*?)[ \t]*$", re.MULTILINE)


def run_label(run_dir: Path) -> str | None:
    """The top-level ``label`` of a run's config (None when unset or unreadable)."""
    import yaml

    for name in CONFIG_FILES:
        path = run_dir / name
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
            if not _LABEL_LINE.search(text):
                return None
            label = (yaml.safe_load(text) or {}).get("label")
        except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError):
            return None
        return str(label).strip() or None if label is not None else None
    return None


def _short_value(value: str) -> str:
    """A value as a name shows it: a path by its file name, a long float to 4 digits."""
    if "/" in value and not value.startswith("["):
        value = value.rstrip("/").rsplit("/", 1)[-1]
    return re.sub(r"\d+\.\d{5,}(?:e-?\d+)?", lambda m: f"{float(m.group()):.4g}", value)


def short_setting(setting: Mapping[str, str]) -> str:
    """The differing overrides of a group, shortened (see the module docstring)."""
    keys = list(setting)
    last = [key.rsplit(".", 1)[-1] for key in keys]
    parts = []
    for key, tail in zip(keys, last):
        value = _short_value(str(setting[key]))
        if key in ("experiment", "folder", "label"):  # the value alone says what it is
            parts.append(value)
            continue
        shown = tail if last.count(tail) == 1 else key
        parts.append(f"{shown}={value}")
    return ", ".join(parts)


def group_names(groups: Sequence[Any]) -> list[str]:
    """A distinct short name per group (``groups`` have ``label``, ``setting`` and ``runs``
    whose ``label`` is the run's config label)."""
    labels = []
    for group in groups:
        found = {getattr(run, "label", None) for run in group.runs}
        labels.append(found.pop() if len(found) == 1 else None)
    if all(labels) and all("experiment" in group.setting for group in groups):
        extra = [_extra(group.setting) for group in groups]
        named = [label + (f" ({more})" if more else "") for label, more in zip(labels, extra)]
        if len(set(named)) == len(named):
            return named
    names = [short_setting(group.setting) or group.label for group in groups]
    if len(set(names)) != len(names):
        return [group.label for group in groups]
    return names


def _extra(setting: Mapping[str, str]) -> str:
    """The overrides besides ``experiment`` that also differ (a label names the experiment only)."""
    return short_setting({k: v for k, v in setting.items() if k != "experiment"})
