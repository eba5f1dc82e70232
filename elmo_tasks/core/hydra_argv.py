"""A Hydra app's command line split into its flags and its overrides.

Hydra's parser takes the overrides as one run of positional arguments, so
``train.py task=x --config-dir d seed=1`` fails with "unrecognized arguments" there.
:func:`parse` finds the flags wherever they are (``--config-dir DIR``, ``-cd DIR``,
``--config-dir=DIR``, ``-m`` ...) and :meth:`HydraCommandLine.argv` puts them first, so every
order works; the override checker reads the user's config folders and the multirun flag from
the same parse.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Hydra's flags (hydra/_internal/utils.py: get_args_parser) that take a value.
VALUE_FLAGS = {
    "--config-path": "config_path",
    "-cp": "config_path",
    "--config-name": "config_name",
    "-cn": "config_name",
    "--config-dir": "config_dir",
    "-cd": "config_dir",
    "--cfg": "cfg",
    "-c": "cfg",
    "--package": "package",
    "-p": "package",
    "--experimental-rerun": "rerun",
}
# ``--info`` takes a value only when one of these follows it.
INFO_FLAGS = ("--info", "-i")
INFO_CHOICES = ("all", "config", "defaults", "defaults-tree", "plugins", "searchpath")
MULTIRUN_FLAGS = ("-m", "--multirun")
# Flags after which Hydra prints something instead of running: the checker leaves them alone.
INFORMATION_FLAGS = (
    "-h",
    "--help",
    "--hydra-help",
    "--version",
    "-sc",
    "--shell-completion",
    *INFO_FLAGS,
    "--experimental-rerun",
)


@dataclass
class HydraCommandLine:
    """``flags`` (each with its value, as given) and ``overrides`` (``key=value``) of a command."""

    flags: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)
    """The value of each flag that takes one, by name (``config_dir``, ``config_name`` ...)."""

    @property
    def multirun(self) -> bool:
        return any(flag in MULTIRUN_FLAGS for flag in self.flags)

    @property
    def informational(self) -> bool:
        """Hydra prints help, its version, completion or information and runs nothing."""
        return any(flag.split("=", 1)[0] in INFORMATION_FLAGS for flag in self.flags)

    @property
    def config_dir(self) -> Path | None:
        """The folder ``--config-dir`` adds to the config search path, made absolute."""
        value = self.values.get("config_dir")
        return Path(os.path.abspath(os.path.expanduser(value))) if value else None

    @property
    def config_name(self) -> str | None:
        return self.values.get("config_name")

    @property
    def config_path(self) -> str | None:
        return self.values.get("config_path")

    def argv(self) -> list[str]:
        """The command line with its flags first and the overrides after them: an order
        Hydra's parser accepts."""
        return [*self.flags, *self.overrides]


def parse(argv: Sequence[str]) -> HydraCommandLine:
    """Split ``argv`` (the arguments after the program's name) into flags and overrides."""
    line = HydraCommandLine()
    args = list(argv)
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if not arg.startswith("-") or arg in ("-", "--"):
            line.overrides.append(arg)
            continue
        name, equals, inline = arg.partition("=")
        if name in VALUE_FLAGS:
            if equals:
                line.flags.append(arg)
                line.values[VALUE_FLAGS[name]] = inline
            elif index < len(args):
                line.flags += [arg, args[index]]
                line.values[VALUE_FLAGS[name]] = args[index]
                index += 1
            else:
                line.flags.append(arg)  # Hydra's parser says what is missing
            continue
        if name in INFO_FLAGS and not equals and index < len(args) and args[index] in INFO_CHOICES:
            line.flags += [arg, args[index]]
            index += 1
            continue
        line.flags.append(arg)
    return line
