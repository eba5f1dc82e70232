"""Friendly messages for command-line overrides that Hydra cannot compose.

A misspelt group option (``encoder=elmo_chr``) or key (``trainer.max_epoch=3``) makes Hydra
fail before ``main()`` runs. :func:`check_overrides` composes the overrides first and, when
that fails, names the offending override and the nearest valid option or key, so that
``train.py`` can print one short line and exit with status 2 instead of a traceback.

The user's config folders count as Hydra counts them (``--config-dir DIR``,
``hydra.searchpath=[file://DIR]``, see :mod:`elmo_tasks.core.config_search`), and the checks
hold whatever flags are on the line: with ``-m`` each value of a sweep is checked.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import (
    ConfigCompositionException,
    HydraException,
    MissingConfigException,
)
from omegaconf import OmegaConf

from elmo_tasks.core import config_search
from elmo_tasks.core.config_search import CONFIG_SUFFIXES, SearchPathProblem, is_hydra_setting
from elmo_tasks.core.hydra_argv import parse

__all__ = [
    "CONFIG_SUFFIXES",
    "check_added_keys",
    "check_overrides",
    "explain",
    "group_folder",
    "group_options",
    "representative",
    "stop_on_bad_overrides",
    "syntax_problem",
]

Folders = str | Path | Sequence[Path]


def _folders(conf_dir: Folders) -> list[Path]:
    return [Path(conf_dir)] if isinstance(conf_dir, (str, Path)) else [Path(f) for f in conf_dir]


def check_overrides(
    argv: Sequence[str], conf_dir: Folders, config_name: str = "config"
) -> str | None:
    """Help text for the first overrides in ``argv`` that do not compose, else None.

    ``argv`` is the command line after the script name, flags included: ``--config-dir`` and
    ``hydra.searchpath`` add the user's folders, ``--config-name`` and ``--config-path``
    choose the config, and with ``-m`` every value of a sweep is checked. Flags after which
    Hydra runs nothing (``--help``, ``--info``, shell completion) leave everything to Hydra, and
    so do failures this cannot explain; an override that does not parse is named with its fix.
    ``hydra.*`` overrides are not checked.
    """
    line = parse(argv)
    if line.informational:
        return None
    try:
        folders = config_search.search_folders(line, _folders(conf_dir)[0])
    except SearchPathProblem as problem:
        return str(problem)
    if not folders:
        return None
    folders += [f for f in _folders(conf_dir)[1:] if f not in folders]
    config_name = line.config_name or config_name
    syntax = syntax_problem(line.overrides)
    if syntax:
        return syntax
    overrides = [arg for arg in line.overrides if not is_hydra_setting(arg)]
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException:
        return None
    # the launcher chosen (hydra/launcher=basic where the joblib plugin is missing) is composed
    # too: a config that picks a launcher whose plugin is missing composes only with it
    launcher = [arg for arg in line.overrides if config_search.is_launcher_choice(arg)]
    try:
        composed = config_search.compose(folders, config_name, [*representative(parsed), *launcher])
    except (ConfigCompositionException, MissingConfigException):
        pass
    except Exception:  # noqa: BLE001 - not a naming problem; the real Hydra call reports it
        return None
    else:
        problems = explain(parsed, folders, config_name, groups_only=True)
        if problems:
            return "\n".join(problems)
        return check_added_keys(overrides, composed, folders, config_name)
    problems = explain(parsed, folders, config_name, launcher=launcher)
    return "\n".join(problems) if problems else None


def representative(overrides: Sequence[Override]) -> list[str]:
    """``overrides`` with each sweep replaced by its first value (a glob left out): the config
    of one job of the sweep, for checking names."""
    kept = []
    for override in overrides:
        if not override.is_sweep_override():
            kept.append(override.input_line)
            continue
        try:
            first = next(iter(override.sweep_string_iterator()))
        except Exception:  # noqa: BLE001 - a glob (needs Hydra's config loader) or an empty sweep
            continue
        prefix = override.input_line[
            : len(override.input_line) - len(override.input_line.lstrip("+~"))
        ]
        kept.append(f"{prefix}{override.key_or_group}={first}")
    return kept


def syntax_problem(argv: Sequence[str]) -> str | None:
    """The first argument of ``argv`` that Hydra's override grammar cannot parse, what is wrong
    and how to write it, or None."""
    parser = OverridesParser.create()
    for arg in argv:
        try:
            parser.parse_overrides([arg])
        except HydraException as error:
            reason = str(error).splitlines()[0]
            return (
                f"{arg}: not a valid override ({reason}); write key=value, and quote a value with "
                "brackets, braces, commas, spaces or = in it, e.g. 'key=\"a, b\"' (the grammar: "
                "https://hydra.cc/docs/advanced/override_grammar/basic/)"
            )
    return None


def explain(
    overrides: Sequence[Override],
    conf_dir: Folders,
    config_name: str = "config",
    groups_only: bool = False,
    launcher: Sequence[str] = (),
) -> list[str]:
    """One message per override naming an unknown group option or key, with a suggestion
    (``groups_only``: the group options alone; ``launcher``: the command's
    ``hydra/launcher=`` choice, composed with the group options to find the keys)."""
    folders = _folders(conf_dir)
    problems: list[str] = []
    good_groups: list[str] = []
    keys: list[Override] = []
    for override in overrides:
        if config_search.is_group(folders, override.key_or_group, config_name):
            problem = _check_group_option(override, folders, config_name)
            if problem:
                problems.append(problem)
            else:
                good_groups.extend(representative([override]))
        elif not (override.is_add() or override.is_force_add() or override.is_delete()):
            keys.append(override)
    if not keys or groups_only:
        return problems
    try:
        base = OmegaConf.to_container(
            config_search.compose(folders, config_name, [*good_groups, *launcher]), resolve=False
        )
    except Exception:  # noqa: BLE001 - the group choices alone do not compose: nothing to compare keys with
        return problems
    groups = config_search.top_groups(folders)
    for override in keys:
        problem = _check_key(override, base, groups)
        if problem:
            problems.append(problem)
    return problems


def check_added_keys(
    overrides: Sequence[str],
    config: Any,
    conf_dir: Folders | None = None,
    config_name: str = "config",
) -> str | None:
    """Help text for ``+`` / ``++`` overrides that add an argument the object being built does
    not take (``+trainer.max_epoch=3`` would reach ``Trainer(max_epoch=3)``), else None.

    Only keys directly under a node with a ``_target_`` are checked, against the signature of
    that class or function (which is imported); targets that take ``**kwargs`` accept anything.
    """
    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException:
        return None
    folders = _folders(conf_dir) if conf_dir is not None else []
    container = None
    problems = []
    for override in parsed:
        if not (override.is_add() or override.is_force_add()) or override.is_sweep_override():
            continue
        parts = override.key_or_group.split(".")
        if len(parts) < 2 or config_search.is_group(folders, override.key_or_group, config_name):
            continue
        if container is None:
            container = OmegaConf.to_container(config, resolve=False)
        parent = _walk(container, parts[:-1])
        target = parent.get("_target_") if isinstance(parent, dict) else None
        if not isinstance(target, str) or "${" in target:
            continue
        accepted = _arguments(target)
        if accepted is None or parts[-1] in accepted:
            continue
        problems.append(_added_key_problem(override, parts, target, accepted, parent))
    return "\n".join(problems) if problems else None


def _walk(node: Any, parts: Sequence[str]) -> Any:
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _arguments(target: str) -> list[str] | None:
    """The keyword arguments ``target`` takes, or None when it takes any (or cannot be inspected)."""
    import inspect

    from hydra.utils import get_object

    try:
        signature = inspect.signature(get_object(target))
    except Exception:  # noqa: BLE001 - not importable or no signature: let the real run report it
        return None
    params = signature.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return [
        p.name
        for p in params
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"
    ]


def _added_key_problem(
    override: Override, parts: list[str], target: str, accepted: list[str], parent: dict
) -> str:
    name, where = parts[-1], ".".join(parts[:-1])
    problem = f"{override.input_line}: {target} (built from {where}) takes no argument '{name}'"
    nearest = _nearest(name, accepted)
    if nearest is None:
        shown = ", ".join(accepted[:20]) + (", ..." if len(accepted) > 20 else "")
        return f"{problem}; it takes: {shown}"
    value = override.input_line.split("=", 1)[1]
    plus = "" if nearest in parent else "+"
    return f"{problem}; did you mean {plus}{where}.{nearest}={value}?"


def group_folder(conf_dir: str | Path, group: str, config_name: str = "config") -> Path:
    """Where the options of ``group`` are: ``conf/<config_name>/<group>`` when the config keeps
    its own groups there (pretrain's ``model``), else ``conf/<group>``."""
    own = Path(conf_dir) / config_name / group
    return own if own.is_dir() else Path(conf_dir) / group


def group_options(conf_dir: Folders, group: str, config_name: str = "config") -> list[str]:
    """The options of config group ``group``: ``conf/<group>/*.yaml`` (nested ones as
    ``sub/name``) in each config folder."""
    return config_search.group_options(_folders(conf_dir), group, config_name)


def _nearest(word: str, candidates: Sequence[str]) -> str | None:
    matches = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return matches[0] if matches else None


def _check_group_option(
    override: Override, folders: Sequence[Path], config_name: str = "config"
) -> str | None:
    """``experiment=sst2_elmoo: ...; did you mean experiment=sst2_elmo?`` or None if valid."""
    group = override.key_or_group
    if override.is_sweep_override():
        try:
            chosen: list[Any] = list(override.sweep_string_iterator())
        except Exception:  # noqa: BLE001 - a glob: it picks from the options that exist
            return None
        value: Any = chosen
    else:
        value = override.value()
        chosen = value if isinstance(value, list) else [value]
    options = config_search.group_options(folders, group, config_name)
    for option in chosen:
        if option is None or str(option) in options:
            continue
        places = " or ".join(
            f"{config_search.shown_folder(folder, folders[0])}/*.yaml"
            for folder in config_search.group_folders(folders, group, config_name)
        )
        where = f"'{option}' is not an option of {group} ({places})"
        nearest = _nearest(str(option), options)
        if nearest is None:
            return f"{override.input_line}: {where}; options: {', '.join(options)}"
        if isinstance(value, list):
            return f"{override.input_line}: {where}; did you mean '{nearest}'?"
        head = override.input_line.split("=", 1)[0]
        return f"{override.input_line}: {where}; did you mean {head}={nearest}?"
    return None


def _check_key(override: Override, config: Any, groups: Sequence[str]) -> str | None:
    """``trainer.max_epoch=3: ...; did you mean trainer.max_epochs=3?`` or None when the key
    exists (or is out of reach, e.g. behind an interpolation)."""
    parts = override.key_or_group.split(".")
    node, fixed = config, []
    for depth, part in enumerate(parts):
        if isinstance(node, list):
            if not (part.isdigit() and int(part) < len(node)):
                return None
            fixed.append(part)
            node = node[int(part)]
            continue
        if not isinstance(node, dict):
            return None
        if part in node:
            fixed.append(part)
            node = node[part]
            continue
        keys = [str(k) for k in node]
        candidates = sorted(set(keys) | set(groups)) if depth == 0 else keys
        nearest = _nearest(part, candidates)
        if fixed:
            where = f"{'.'.join(fixed)} has no key '{part}'"
        else:
            where = f"'{part}' is not a config group or a top-level key"
        if nearest is None:
            shown = ", ".join(keys[:15]) + (", ..." if len(keys) > 15 else "")
            return (
                f"{override.input_line}: {where}; keys there: {shown} (prefix + to add a new key)"
            )
        fixed.append(nearest)
        node = node.get(nearest) if nearest in node else None
        rest = parts[depth + 1 :]
        value = override.input_line.split("=", 1)[1]
        suggestion = ".".join(fixed + _fix_rest(rest, node)) + "=" + value
        return f"{override.input_line}: {where}; did you mean {suggestion}? (prefix + to add a new key)"
    return None


def _fix_rest(parts: Sequence[str], node: Any) -> list[str]:
    """``parts`` below ``node`` with each missing key replaced by its nearest sibling, if any."""
    fixed = []
    for part in parts:
        if isinstance(node, dict) and part not in node:
            part = _nearest(part, [str(k) for k in node]) or part
        fixed.append(part)
        node = node.get(part) if isinstance(node, dict) else None
    return fixed


def stop_on_bad_overrides(
    argv: Sequence[str], config_name: str = "config", extra: str | None = None
) -> None:
    """Before a Hydra app starts: print the help for ``argv``'s first override that does not
    compose against the package's ``config_name``.yaml and the user's config folders (or
    ``extra``, another command-line problem) and exit with status 2."""
    from elmo_tasks.core.paths import config_dir

    problem = check_overrides(argv, config_dir(), config_name) or extra
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
