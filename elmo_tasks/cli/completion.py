"""Tab completion for ``elmo-tasks``: Hydra's shell scripts, with queries routed to the subcommand.

``eval "$(elmo-tasks -sc install=bash)"`` installs Hydra's bash completion (zsh: the same after
``autoload -U bashcompinit && bashcompinit``; fish: ``elmo-tasks -sc install=fish | source``)
for the whole ``elmo-tasks`` command. The script asks ``elmo-tasks -sc query=bash`` with the line
being typed in ``COMP_LINE``: the subcommand's name is completed here, and for a Hydra
subcommand (``train``, ``pretrain``, ``pretrain-word2vec``) the line without the subcommand is
handed to that app's own Hydra completion (config groups, options and keys).
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Mapping, Sequence

FLAGS = ("-sc", "--shell-completion")


def request(argv: Sequence[str]) -> str | None:
    """The value of ``-sc``/``--shell-completion`` (``install=bash``, ...) when it is ``argv``'s
    first or second argument (``elmo-tasks -sc ...``, ``elmo-tasks COMMAND -sc ...``), or None."""
    for index, arg in enumerate(argv[:2]):
        name, sep, value = arg.partition("=")
        if name in FLAGS:
            if sep:
                return value
            return argv[index + 1] if index + 1 < len(argv) else ""
    return None


def complete(what: str, commands: Mapping[str, tuple[str, str]], hydra_apps: Sequence[str]) -> None:
    """Answer ``elmo-tasks -sc WHAT`` (or ``elmo-tasks COMMAND -sc WHAT``): an install/uninstall
    script for ``elmo-tasks``, or the candidates for the line in ``COMP_LINE``."""
    action, _, shell = what.partition("=")
    app = hydra_apps[0]
    if action == "query":
        line = os.environ.get("COMP_LINE", "")
        words = line.split()
        if len(words) < 2 or (len(words) == 2 and not line[-1:].isspace()):
            print(("\n" if shell == "fish" else " ").join(commands))  # the subcommand's name
            return
        if words[1] not in hydra_apps:
            return  # key=value tools: nothing to offer, the shell completes file names
        app = words[1]
        os.environ["COMP_LINE"] = re.sub(r"^(\s*\S+)\s+\S+", r"\1", line, count=1)
    # Hydra's scripts and queries name the program after sys.argv[0]: the script then calls
    # `elmo-tasks -sc query=...` for every subcommand, which comes back here.
    sys.argv = ["elmo-tasks", "-sc", what]
    importlib.import_module(commands[app][0]).cli()
