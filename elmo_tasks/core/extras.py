"""The package's extras (pyproject.toml's optional dependencies) and what a command does when
the one it needs is not installed.

gensim (extra ``word2vec``) serves ``pretrain-word2vec`` alone, the joblib launcher (``joblib``)
runs a multirun's jobs side by side and the submitit launchers (``slurm``) submit them to
SLURM, so a plain ``pip install elmo-tasks`` leaves them out. A command that needs one checks
before any work and stops with one line that names the extra (exit status 2), instead of
failing deep inside Hydra or at the end of a run. The one exception is a config that picks the
joblib launcher itself (the quickstart): its jobs then run one at a time through Hydra's basic
launcher, with a note, since the results are the same.

Why the command line: without its plugin, a launcher's config (``hydra/launcher/joblib``) does
not exist, so Hydra fails while composing, before any callback or launcher code runs. The
check therefore composes the config the way Hydra will and looks for that failure, and only
when a launcher plugin is missing (a ``find_spec`` per plugin otherwise).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, MissingConfigException

from elmo_tasks.core import config_search
from elmo_tasks.core.config_errors import representative
from elmo_tasks.core.config_search import (
    JOBLIB_PLUGIN,
    LAUNCHER_GROUP,
    is_launcher_choice,
)
from elmo_tasks.core.hydra_argv import HydraCommandLine, parse
from elmo_tasks.core.paths import config_dir


@dataclass(frozen=True)
class Extra:
    """One extra: its name (``pip install 'elmo-tasks[NAME]'``), the distribution it installs
    and the module the package uses from it."""

    name: str
    distribution: str
    module: str

    @property
    def install(self) -> str:
        return f"pip install 'elmo-tasks[{self.name}]'"

    def installed(self) -> bool:
        """Whether the module can be imported (looked up, not imported: gensim takes a second)."""
        try:
            return importlib.util.find_spec(self.module) is not None
        except (ImportError, ValueError):
            return False

    def missing(self, what: str) -> str:
        """``WHAT needs DISTRIBUTION: pip install 'elmo-tasks[NAME]'``."""
        return f"{what} needs {self.distribution}: {self.install}"


WORD2VEC = Extra("word2vec", "gensim", "gensim")
JOBLIB = Extra("joblib", "hydra-joblib-launcher", JOBLIB_PLUGIN)
SLURM = Extra("slurm", "hydra-submitit-launcher", "hydra_plugins.hydra_submitit_launcher")

# The hydra/launcher options that a plugin brings, by the extra that installs it (the
# package's own hydra/launcher=slurm builds on submitit_slurm).
LAUNCHERS = {"joblib": JOBLIB, "submitit_slurm": SLURM, "submitit_local": SLURM}


def stop(message: str) -> None:
    """Print ``error: MESSAGE`` and exit with status 2 (a missing extra is the user's to fix)."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def require(extra: Extra, what: str) -> None:
    """Stop (exit 2, one line naming the extra) unless ``extra`` is installed."""
    if not extra.installed():
        stop(extra.missing(what))


def launcher_argv(argv: Sequence[str], config_name: str = "config") -> list[str]:
    """``argv``, checked for a launcher whose plugin is not installed.

    A launcher chosen on the command line (``hydra/launcher=joblib``, ``=slurm`` ...) without
    its plugin stops the command (exit 2, naming the extra). One that the configs pick (the
    quickstart's joblib) stops it too, except joblib: then ``hydra/launcher=basic`` is added,
    which runs the jobs one at a time, and a note says which extra runs them in parallel
    (``--help`` and the other flags that only print get the same config, without the note).
    """
    argv = list(argv)
    if all(extra.installed() for extra in LAUNCHERS.values()):
        return argv
    line = parse(argv)
    option = missing_launcher(line, config_name)
    if option is None:
        return argv
    extra = LAUNCHERS[option]
    chosen = [arg for arg in line.overrides if is_launcher_choice(arg)]
    if chosen:
        stop(extra.missing(chosen[-1]))
    if extra is not JOBLIB:
        stop(extra.missing(f"the config's launcher ({LAUNCHER_GROUP}={option})"))
    if not line.informational:  # --help shows the config that would run, without the note
        print(
            f"note: the joblib launcher is not installed, so the jobs run one at a time; "
            f"{extra.install} runs them in parallel",
            file=sys.stderr,
        )
    return [*argv, f"{LAUNCHER_GROUP}=basic"]


def missing_launcher(line: HydraCommandLine, config_name: str = "config") -> str | None:
    """The launcher option (``joblib``, ``submitit_slurm`` ...) that ``line``'s config picks
    and whose plugin is not installed, or None (also when the config does not compose for
    another reason: the override checker or Hydra reports that)."""
    try:
        folders = config_search.search_folders(line, config_dir())
        parsed = OverridesParser.create().parse_overrides(
            [arg for arg in line.overrides if not config_search.is_hydra_setting(arg)]
        )
    except (config_search.SearchPathProblem, HydraException):
        return None
    if not folders:
        return None
    config_name = line.config_name or config_name
    launcher = [arg for arg in line.overrides if is_launcher_choice(arg)]
    overrides = config_search.with_searchpath(
        folders, [*representative(parsed), *launcher], config_name
    )
    try:
        with initialize_config_dir(config_dir=str(folders[0].resolve()), version_base="1.3"):
            compose(config_name, overrides=overrides)
    except MissingConfigException as error:
        group, _, option = str(error.missing_cfg_file or "").rpartition("/")
        if group == LAUNCHER_GROUP and option in LAUNCHERS:
            return option
    except Exception:  # noqa: BLE001 - another problem: the override checker or Hydra names it
        return None
    return None
