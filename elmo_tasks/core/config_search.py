"""Where a command's configs come from: the package's folder, then the user's own folders.

Hydra looks up config groups along a search path: the app's primary folder (the package's
``conf``, or ``--config-path``), then ``--config-dir DIR`` and the ``hydra.searchpath=[...]``
entries (``file://`` folders, ``pkg://`` packages). :func:`search_folders` lists those folders
for a command line so that the override checker knows the user's groups and options as Hydra
will, and :func:`compose` composes with them.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException

from elmo_tasks.core.hydra_argv import HydraCommandLine

CONFIG_SUFFIXES = (".yaml", ".yml")
SEARCHPATH_KEY = "hydra.searchpath"
LAUNCHER_GROUP = "hydra/launcher"
# The plugin of hydra/launcher=joblib, which the quickstart picks (the joblib extra).
JOBLIB_PLUGIN = "hydra_plugins.hydra_joblib_launcher"


class SearchPathProblem(ValueError):
    """A config folder named on the command line that does not exist."""


def folder_of(entry: str, relative_to: Path | None = None) -> Path | None:
    """The folder a search-path entry names (``file://DIR``, ``pkg://package``, a plain path),
    or None for one that names no folder on this machine (``structured://``, a missing package)."""
    if entry.startswith("pkg://"):
        name = entry[len("pkg://") :].strip("/").replace("/", ".")
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
        locations = list(spec.submodule_search_locations or []) if spec else []
        return Path(locations[0]) if locations else None
    if "://" in entry and not entry.startswith("file://"):
        return None
    path = Path(entry[len("file://") :] if entry.startswith("file://") else entry).expanduser()
    if not path.is_absolute():
        path = (relative_to or Path.cwd()) / path
    return path


def searchpath_entries(overrides: Sequence[str]) -> list[str]:
    """The entries of a ``hydra.searchpath=[...]`` override in ``overrides`` (the last one wins)."""
    entries: list[str] = []
    parser = OverridesParser.create()
    for arg in overrides:
        if arg.lstrip("+~").split("=", 1)[0] != SEARCHPATH_KEY:
            continue
        try:
            value = parser.parse_overrides([arg])[0].value()
        except HydraException:
            continue
        entries = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return entries


def search_folders(line: HydraCommandLine, primary: str | Path) -> list[Path]:
    """The config folders of ``line``, the primary one first (``--config-path`` or ``primary``),
    then ``--config-dir`` and the ``hydra.searchpath`` folders; none for a ``--config-path``
    that is not a folder here. Raises :class:`SearchPathProblem` for a ``--config-dir`` that
    is not a folder."""
    first = Path(primary)
    if line.config_path:
        chosen = folder_of(line.config_path)
        if chosen is None or not chosen.is_dir():
            return []  # Hydra reads a relative --config-path from the app's module: its call
        first = chosen
    folders = [first]
    if line.config_dir is not None:
        if not line.config_dir.is_dir():
            raise SearchPathProblem(
                f"--config-dir {line.values['config_dir']}: no such folder ({line.config_dir}); give "
                "the folder that holds your config groups (e.g. my_configs with my_configs/task/*.yaml)"
            )
        folders.append(line.config_dir)
    for entry in searchpath_entries(line.overrides):
        folder = folder_of(entry)
        if folder is not None and folder.is_dir():
            folders.append(folder)
    unique: list[Path] = []
    for folder in folders:
        if folder.resolve() not in [f.resolve() for f in unique]:
            unique.append(folder)
    return unique


def group_folders(folders: Sequence[Path], group: str, config_name: str = "config") -> list[Path]:
    """The folders that hold options of ``group``: ``<folder>/<config_name>/<group>`` when a
    config keeps its own groups there (pretrain's ``model``), else ``<folder>/<group>``."""
    found = []
    for folder in folders:
        own = folder / config_name / group
        candidate = own if own.is_dir() else folder / group
        if candidate.is_dir():
            found.append(candidate)
    return found


def options_in(folder: Path) -> list[str]:
    """The options a group folder offers: ``name`` for ``name.yaml``, ``sub/name`` for
    ``sub/name.yaml`` (Hydra's nested options, e.g. ``experiment=quickstart/baseline``)."""
    return sorted(
        path.relative_to(folder).with_suffix("").as_posix()
        for path in folder.rglob("*")
        if path.is_file() and path.suffix in CONFIG_SUFFIXES
    )


def group_options(folders: Sequence[Path], group: str, config_name: str = "config") -> list[str]:
    """Every option of ``group`` across ``folders``."""
    options: set[str] = set()
    for folder in group_folders(folders, group, config_name):
        options.update(options_in(folder))
    return sorted(options)


def is_group(folders: Sequence[Path], name: str, config_name: str = "config") -> bool:
    return bool(name) and bool(group_folders(folders, name, config_name))


def top_groups(folders: Sequence[Path]) -> list[str]:
    """The names of the config groups at the top of ``folders``."""
    return sorted({p.name for folder in folders for p in folder.iterdir() if p.is_dir()})


def with_searchpath(
    folders: Sequence[Path], overrides: Sequence[str], config_name: str = "config"
) -> list[str]:
    """``overrides`` without their ``hydra.*`` settings (a launcher choice aside: without its
    plugin a launcher fails the composition, as it will fail Hydra's), plus one
    ``hydra.searchpath`` override naming the primary config's own search path
    (``conf/pretrain.yaml`` has one) and the ``folders`` after the first (the user's), for
    composing as Hydra will."""
    kept = [arg for arg in overrides if not is_hydra_setting(arg) or is_launcher_choice(arg)]
    if len(folders) < 2:
        return kept
    entries = [*own_searchpath(folders[0], config_name)]
    entries += [f"file://{folder.resolve().as_posix()}" for folder in folders[1:]]
    quoted = ",".join(f"'{entry}'" for entry in entries)
    return [*kept, f"{SEARCHPATH_KEY}=[{quoted}]"]


def own_searchpath(folder: Path, config_name: str) -> list[str]:
    """The ``hydra.searchpath`` entries that ``folder/config_name.yaml`` sets itself, resolved."""
    from omegaconf import OmegaConf

    path = next(
        (
            folder / f"{config_name}{s}"
            for s in CONFIG_SUFFIXES
            if (folder / f"{config_name}{s}").is_file()
        ),
        None,
    )
    if path is None:
        return []
    try:
        entries = OmegaConf.select(OmegaConf.load(path), SEARCHPATH_KEY, default=None)
        return [str(entry) for entry in entries or []]
    except Exception:  # noqa: BLE001 - an entry needs a resolver this process lacks
        return []


def composable(overrides: Sequence[str]) -> list[str]:
    """``overrides``, with ``hydra/launcher=basic`` added when the joblib plugin is missing and
    they choose no launcher: a config that picks joblib (the quickstart) then composes, as
    ``train.py`` runs it (:func:`elmo_tasks.core.extras.launcher_argv`)."""
    overrides = list(overrides)
    if any(is_launcher_choice(arg) for arg in overrides):
        return overrides
    try:
        installed = importlib.util.find_spec(JOBLIB_PLUGIN) is not None
    except (ImportError, ValueError):
        installed = False
    return overrides if installed else [*overrides, f"{LAUNCHER_GROUP}=basic"]


def compose(folders: Sequence[Path], config_name: str, overrides: Sequence[str]):
    """The config ``config_name`` composed with ``overrides`` over ``folders``; the caller's
    ``hydra.*`` settings are left out (the search path and the launcher choice aside; Hydra's
    basic launcher where the quickstart's joblib is not installed: :func:`composable`)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    primary = str(Path(folders[0]).resolve())
    with initialize_config_dir(config_dir=primary, version_base="1.3"):
        return hydra_compose(
            config_name, overrides=composable(with_searchpath(folders, overrides, config_name))
        )


def is_hydra_setting(arg: str) -> bool:
    key = arg.lstrip("+~").split("=", 1)[0]
    return key == "hydra" or key.startswith(("hydra.", "hydra/"))


def is_launcher_choice(arg: str) -> bool:
    """``hydra/launcher=NAME`` (or with ``+``, ``++``) on the command line."""
    return arg.lstrip("+~").split("=", 1)[0] == LAUNCHER_GROUP


def shown_folder(folder: Path, package_folder: Path | None = None) -> str:
    """``conf/<rest>`` inside the package's configs, else the path (relative to the current
    folder when it is below it)."""
    if package_folder is not None:
        try:
            return "conf/" + folder.resolve().relative_to(package_folder.resolve()).as_posix()
        except ValueError:
            pass
    try:
        return folder.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return folder.as_posix()
