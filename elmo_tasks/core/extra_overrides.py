"""``ELMO_TASKS_EXTRA_OVERRIDES``: Hydra overrides that every Hydra command appends.

``train``, ``pretrain`` and ``pretrain-word2vec`` append the variable's whitespace-separated
``key=value`` overrides (shell quoting allowed) after their own command line, so a CI job or a
test can run any documented command at small sizes without editing it, e.g.
``ELMO_TASKS_EXTRA_OVERRIDES="trainer.max_epochs=1 task.max_train_samples=32"``.

* They come last, so they win over the command's own values. In a sweep (``-m``) they apply to
  every job; a key the command line sweeps over takes the variable's single value.
* One variable serves all three commands: an override is appended only where the command's
  config has its key (or config group), judged on the config the command line composes (a
  swept key at its first value). The others are left out, and a note on stderr names both.
* Shell completion and ``--help`` get nothing appended.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ENV = "ELMO_TASKS_EXTRA_OVERRIDES"
# Hydra flags that take a value (the next argument), and --info's optional values.
VALUE_FLAGS = {
    "--config-path",
    "-cp",
    "--config-name",
    "-cn",
    "--config-dir",
    "-cd",
    "--cfg",
    "-c",
    "--package",
    "-p",
    "--shell-completion",
    "-sc",
    "--experimental-rerun",
}
INFO_FLAGS = {"--info", "-i"}
INFO_VALUES = {"all", "config", "defaults", "defaults-tree", "plugins", "searchpath"}
NO_EXTRAS_FLAGS = {"--shell-completion", "-sc", "--help", "-h", "--hydra-help", "--version"}


def requested() -> list[str]:
    """The variable's overrides, split as a shell would split them (empty when unset)."""
    text = os.environ.get(ENV, "").strip()
    if not text:
        return []
    try:
        return shlex.split(text)
    except ValueError as error:
        print(f"error: {ENV}={text!r} does not split into words: {error}", file=sys.stderr)
        sys.exit(2)


def split_argv(argv: Sequence[str]) -> tuple[list[str], list[int]]:
    """The overrides of a Hydra command line and their positions (flags and their values
    left out)."""
    overrides, positions = [], []
    skip_next = False
    for index, arg in enumerate(argv):
        if skip_next:
            skip_next = False
            continue
        if arg.startswith("-"):
            name = arg.split("=", 1)[0]
            skip_next = ("=" not in arg and name in VALUE_FLAGS) or (
                name in INFO_FLAGS and index + 1 < len(argv) and argv[index + 1] in INFO_VALUES
            )
            continue
        overrides.append(arg)
        positions.append(index)
    return overrides, positions


def with_extra_overrides(argv: Sequence[str], config_name: str) -> list[str]:
    """``argv`` (a Hydra command line without the program) with the variable's overrides that
    apply to ``config_name`` inserted right after its last override (Hydra's parser takes the
    overrides as one run of arguments), and a note on stderr saying what was done."""
    argv = list(argv)
    extra = requested()
    if not extra or any(arg.split("=", 1)[0] in NO_EXTRAS_FLAGS for arg in argv):
        return argv
    overrides, positions = split_argv(argv)
    applied, left_out = applicable(extra, overrides, _config_dir_arg(argv), config_name)
    if left_out:
        print(
            f"note: {ENV}: left out (not in this command's config): {' '.join(left_out)}",
            file=sys.stderr,
        )
    if applied:
        print(f"note: {ENV}: appended {' '.join(applied)}", file=sys.stderr)
    at = positions[-1] + 1 if positions else len(argv)
    return argv[:at] + applied + argv[at:]


def applicable(
    extra: Sequence[str], overrides: Sequence[str], config_dir: str | None, config_name: str
) -> tuple[list[str], list[str]]:
    """``extra`` split into the overrides whose key or group the composed config has, and the
    others. ``+key``/``++key`` overrides always apply. When the command line does not compose
    (it will fail on its own), the config of no overrides is the judge."""
    config = _composed(overrides, config_dir, config_name)
    if config is None:
        return list(extra), []
    applied, left_out = [], []
    for override in extra:
        key = override.split("=", 1)[0]
        if key.startswith("+") or _has(config, key.lstrip("~")):
            applied.append(override)
        else:
            left_out.append(override)
    return applied, left_out


def _has(config: dict[str, Any], key: str) -> bool:
    from elmo_tasks.core.config_errors import _walk

    if "@" in key:  # group@package
        key = key.split("@", 1)[0]
    choices = config.get("hydra", {}).get("runtime", {}).get("choices", {})
    if key in choices:
        return True
    parts = key.split(".")
    parent = _walk(config, parts[:-1])
    return isinstance(parent, dict) and parts[-1] in parent


def _composed(
    overrides: Sequence[str], config_dir: str | None, config_name: str
) -> dict[str, Any] | None:
    """The config (hydra node included, unresolved, as plain containers) of ``overrides`` with
    each sweep at its first value; with no overrides when those do not compose."""
    from omegaconf import OmegaConf

    from elmo_tasks.core.paths import config_dir as package_config_dir

    first = _first_values(overrides)
    search = []
    if config_dir:  # what --config-dir does: one more folder on the config's search path
        primary = OmegaConf.load(package_config_dir() / f"{config_name}.yaml")
        paths = [f"file://{Path(config_dir).resolve()}"]
        paths += list(OmegaConf.select(primary, "hydra.searchpath", default=None) or [])
        search = [f"hydra.searchpath=[{','.join(paths)}]"]
    for attempt in ([*first, *search], []):
        try:
            config = _compose(package_config_dir(), config_name, attempt)
        except Exception:  # noqa: BLE001, S112 - does not compose: try the next, then give up
            continue
        return OmegaConf.to_container(config, resolve=False)
    return None


def _compose(conf_dir: Path, config_name: str, overrides: Sequence[str]) -> Any:
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        return compose(config_name, overrides=list(overrides), return_hydra_config=True)


def _first_values(overrides: Sequence[str]) -> list[str]:
    """``overrides`` with every sweep (``a=1,2``, ``range(...)``) at its first value; sweeps
    without one (``interval(...)``) and overrides that do not parse are dropped."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser, first = OverridesParser.create(), []
    for text in overrides:
        try:
            (override,) = parser.parse_overrides([text])
            if not override.is_sweep_override():
                first.append(text)
                continue
            value = next(override.sweep_string_iterator())
        except Exception:  # noqa: BLE001, S112 - not composable here: leave it out of the judge
            continue
        first.append(f"{override.get_key_element()}={value}")
    return first


def _config_dir_arg(argv: Sequence[str]) -> str | None:
    for index, arg in enumerate(argv):
        name, _, value = arg.partition("=")
        if name in ("--config-dir", "-cd"):
            return value or (argv[index + 1] if index + 1 < len(argv) else None)
    return None
