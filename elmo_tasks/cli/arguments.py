"""One command-line style for the tools that are not Hydra apps (predict, export, embed,
pretrain-export): Hydra-style ``key=value`` arguments that behave as Hydra's do.

* ``key=value`` (``+key=value`` too); ``null`` is None, ``true``/``false`` are booleans;
* ``--help`` prints the tool's help (exit 0), ``--cfg`` the parsed arguments (exit 0);
* an unknown key is answered with the nearest one, and every usage error exits with 2;
* an error the user can fix (a missing or malformed file ...) is one message, exit status 1
  (no traceback unless ``HYDRA_FULL_ERROR=1``);
* old spellings (``--key value``, ``--key=value``, ``--dashed-key``, ``--no-flag``, positional arguments)
  keep working for one release, each with a deprecation note on stderr.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Any

from elmo_tasks.core.reporting import full_traceback_wanted, user_error

REQUIRED = object()


class UsageError(ValueError):
    """A bad command line (exit status 2)."""


@dataclass(frozen=True)
class Option:
    """One ``key=value`` argument."""

    name: str
    help: str
    default: Any = REQUIRED
    type: Callable[[str], Any] = str
    choices: tuple[str, ...] | None = None
    nullable: bool = False
    positional: bool = False
    """An old positional spelling exists (positional arguments fill these options in order)."""

    def convert(self, text: str) -> Any:
        if self.nullable and text in ("null", "None", ""):
            return None
        if self.choices is not None and text not in self.choices:
            raise UsageError(f"{self.name} must be one of {', '.join(self.choices)}, got {text!r}")
        if self.type is bool:
            if text.lower() not in ("true", "false"):
                raise UsageError(f"{self.name} must be true or false, got {text!r}")
            return text.lower() == "true"
        try:
            return self.type(text)
        except ValueError:
            kind = {int: "a whole number", float: "a number"}.get(self.type, self.type.__name__)
            raise UsageError(f"{self.name} must be {kind}, got {text!r}") from None


class ArgumentParser:
    """Parses ``argv`` into ``{option name: value}`` for ``prog``."""

    def __init__(
        self,
        prog: str,
        options: Sequence[Option],
        description: str = "",
        epilog: str = "",
        help_text: str | None = None,
    ) -> None:
        self.prog, self.options, self.description, self.epilog = (
            prog,
            list(options),
            description,
            epilog,
        )
        self.help_text = help_text  # a tool's own, fuller help instead of the generated one
        self.by_name = {option.name: option for option in self.options}

    # -- help ------------------------------------------------------------------------------

    def usage(self) -> str:
        parts = [
            f"{o.name}=..." if o.default is REQUIRED else f"[{o.name}={self._shown(o.default)}]"
            for o in self.options
        ]
        return f"usage: {self.prog} " + " ".join(parts)

    @staticmethod
    def _shown(value: Any) -> str:
        return (
            "null"
            if value is None
            else str(value).lower()
            if isinstance(value, bool)
            else str(value)
        )

    def help(self) -> str:
        if self.help_text is not None:
            return (
                self.help_text.rstrip()
                + "\n\nArguments are key=value, as in Hydra's commands; --cfg prints them and exits."
            )
        width = max(len(o.name) for o in self.options)
        lines = [self.usage(), ""]
        if self.description:
            lines += [self.description.strip(), ""]
        for option in self.options:
            default = (
                "required"
                if option.default is REQUIRED
                else f"default {self._shown(option.default)}"
            )
            choices = f"; one of {', '.join(option.choices)}" if option.choices else ""
            lines.append(f"  {option.name:<{width}}  {option.help} ({default}{choices})")
        lines += [
            "",
            "Arguments are key=value, as in Hydra's commands; --cfg prints them and exits.",
        ]
        if self.epilog:
            lines += ["", self.epilog.strip()]
        return "\n".join(lines)

    # -- parsing ---------------------------------------------------------------------------

    def _key(self, raw: str, value: str) -> str:
        key = raw.lstrip("+")
        if key in self.by_name:
            return key
        underscored = key.replace("-", "_")
        if underscored in self.by_name:
            return underscored
        nearest = difflib.get_close_matches(underscored, list(self.by_name), n=1)
        hint = (
            f"; did you mean {nearest[0]}={value}?"
            if nearest
            else f"; keys: {', '.join(self.by_name)}"
        )
        raise UsageError(f"unknown argument {key!r}{hint}")

    def _tokens(self, argv: Sequence[str], notes: list[str]) -> list[tuple[str, str]]:
        """``(key, value)`` pairs of ``argv``, with the old spellings turned into new ones."""
        pairs: list[tuple[str, str]] = []
        arguments = list(argv)
        named = {
            arg.partition("=")[0].lstrip("+-").replace("-", "_") for arg in arguments if "=" in arg
        }
        positional = [o.name for o in self.options if o.positional and o.name not in named]
        while arguments:
            arg = arguments.pop(0)
            flag = arg[5:].replace("-", "_") if arg.startswith("--no-") and "=" not in arg else None
            if flag in self.by_name and self.by_name[flag].type is bool:
                notes.append(f"'{arg}' is the old spelling; write {flag}=false")
                pairs.append((flag, "false"))
                continue
            if arg.startswith("--"):
                name, sep, value = arg[2:].partition("=")
                if not sep:
                    if not arguments or arguments[0].startswith("--"):
                        raise UsageError(
                            f"{arg} needs a value; write {name.replace('-', '_')}=VALUE"
                        )
                    value = arguments.pop(0)
                key = self._key(name, value)
                notes.append(
                    f"'{arg}{'' if sep else ' ' + value}' is the old spelling; write {key}={value}"
                )
                pairs.append((key, value))
            elif "=" in arg and not arg.startswith("="):
                name, _, value = arg.partition("=")
                pairs.append((self._key(name, value), value))
            elif positional:
                key = positional.pop(0)
                notes.append(
                    f"the positional argument {arg!r} is the old spelling; write {key}={arg}"
                )
                pairs.append((key, arg))
            else:
                raise UsageError(f"expected key=value, got {arg!r} (see --help)")
        return pairs

    def parse(self, argv: Sequence[str], notes: list[str] | None = None) -> dict[str, Any]:
        """The values of every option; UsageError naming what is wrong. Deprecation notes for
        old spellings are appended to ``notes``."""
        notes = [] if notes is None else notes
        given: dict[str, str] = {}
        for key, value in self._tokens(argv, notes):
            if key in given:
                raise UsageError(f"{key} is given twice")
            given[key] = value
        missing = [o.name for o in self.options if o.default is REQUIRED and not given.get(o.name)]
        if missing:
            raise UsageError(
                f"missing {' and '.join(name + '=...' for name in missing)} (see --help)"
            )
        return {
            o.name: o.convert(given[o.name]) if o.name in given else o.default for o in self.options
        }

    def run(
        self,
        argv: Sequence[str],
        body: Callable[[dict[str, Any]], int | None],
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
    ) -> int:
        """``--help``, ``--cfg``, usage errors (exit 2, with the message) and deprecation notes
        around ``body(values)``, whose return value (None: 0) is the exit status. An error the
        user can fix that ``body`` raises (:func:`~elmo_tasks.core.reporting.user_error`: a
        missing or malformed file, a full disk ...) is printed as ``prog: error: <message>``
        and its exit status returned (1, or 2 for a usage or config mistake); ``HYDRA_FULL_ERROR=1``
        raises it after the message, for its traceback."""
        stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
        argv = list(argv)
        if not argv or any(arg in ("-h", "--help") for arg in argv):
            try:
                print(self.help(), file=stdout if argv else stderr, flush=True)
            except BrokenPipeError:  # `--help | head`: the reader had enough
                _silence(stdout)
            return 0 if argv else 2
        show = "--cfg" in argv
        if show:
            position = argv.index("--cfg")
            del argv[
                position : position + (2 if argv[position + 1 : position + 2] == ["job"] else 1)
            ]
        notes: list[str] = []
        try:
            values = self.parse(argv, notes)
        except UsageError as error:
            print(f"{self.prog}: {error}", file=stderr)
            return 2
        for note in notes:
            print(f"note: {note} (the old spelling goes away in the next release)", file=stderr)
        if show:
            print(
                "\n".join(f"{name}: {self._shown(value)}" for name, value in values.items()),
                file=stdout,
            )
            return 0
        try:
            status = body(values)
        except UsageError as error:
            print(f"{self.prog}: {error}", file=stderr)
            return 2
        except (
            Exception
        ) as error:  # a tool's own handling left it: a user's mistake is its message alone
            shown = user_error(error)
            if shown is None:
                raise
            print(f"{self.prog}: error: {shown[0]}", file=stderr)
            if full_traceback_wanted():
                raise
            return shown[1]
        return 0 if status is None else status


def _silence(stream: IO[str]) -> None:
    """Point a stream whose reader has gone at /dev/null, so that flushing it at exit is quiet."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    except (OSError, ValueError):  # not a file descriptor (a test's StringIO)
        pass


def trust_option(value: Any) -> tuple[str, ...]:
    """``trust=a,b`` (or ``[a,b]``) as module names; a UsageError for one that is not a name."""
    from elmo_tasks.core.trust import UntrustedCodeError, trusted_modules

    try:
        return trusted_modules(value)
    except UntrustedCodeError as error:
        raise UsageError(str(error)) from None
