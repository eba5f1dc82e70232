"""The ``elmo-tasks`` command: ``elmo-tasks COMMAND [arguments]``, one subcommand per tool.

Each subcommand is the module that ``python -m elmo_tasks.<module>`` runs (with ``_`` for ``-``),
with the same arguments; ``elmo-tasks COMMAND --help`` prints its help. ``python -m elmo_tasks``
is this command; ``elmo-tasks --version`` prints the installed version;
``eval "$(elmo-tasks -sc install=bash)"`` installs tab completion (:mod:`elmo_tasks.cli.completion`).
"""

from __future__ import annotations

import difflib
import importlib
import sys
from collections.abc import Sequence

from elmo_tasks.cli import completion

# command -> (module, what it does); the module's ``main`` runs it.
COMMANDS: dict[str, tuple[str, str]] = {
    "train": (
        "elmo_tasks.cli.train",
        "train and evaluate an experiment (Hydra: key=value overrides, -m sweeps)",
    ),
    "predict": ("elmo_tasks.cli.predict", "predict with a run folder or an exported model"),
    "evaluate": (
        "elmo_tasks.cli.evaluate",
        "score a run folder or an exported model on a labelled file",
    ),
    "export": ("elmo_tasks.cli.export", "write a run as a self-contained model folder"),
    "compare": ("elmo_tasks.cli.compare", "compare the runs of sweeps (table, report, chart)"),
    "embed": ("elmo_tasks.cli.embed", "write ELMo activations of text to hdf5"),
    "pretrain": ("elmo_tasks.cli.pretrain", "pretrain a biLM, i.e. your own ELMo (Hydra)"),
    "pretrain-export": (
        "elmo_tasks.cli.pretrain_export",
        "export a pretraining checkpoint as options.json + weights.hdf5",
    ),
    "pretrain-word2vec": (
        "elmo_tasks.cli.pretrain_word2vec",
        "train a word2vec baseline on the pretraining corpus (Hydra)",
    ),
    "task-corpus": (
        "elmo_tasks.cli.task_corpus",
        "write the training text of tasks, for domain-adapted pretraining",
    ),
}
# Hydra apps read sys.argv themselves; the others take their arguments.
HYDRA_APPS = ("train", "pretrain", "pretrain-word2vec")


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [
        "usage: elmo-tasks COMMAND [arguments]   (elmo-tasks COMMAND --help for its own help)",
        "       elmo-tasks --version",
        "",
        "commands:",
    ]
    lines += [f"  {name:<{width}}  {about}" for name, (_, about) in COMMANDS.items()]
    return "\n".join(lines)


def version() -> str:
    """``elmo-tasks X.Y.Z`` with the versions of Python, torch and Lightning it runs on."""
    import platform
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    from elmo_tasks import __version__

    parts = [f"elmo-tasks {__version__}", f"Python {platform.python_version()}"]
    for name in ("torch", "pytorch-lightning"):
        try:
            parts.append(f"{name} {installed(name)}")
        except PackageNotFoundError:
            pass
    return parts[0] + f" ({', '.join(parts[1:])})"


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``argv[0]``'s command with the rest; exit 2 with a suggestion for an unknown one."""
    argv = list(sys.argv[1:] if argv is None else argv)
    what = completion.request(argv)
    if what is not None:
        completion.complete(what, COMMANDS, HYDRA_APPS)
        return
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage(), file=sys.stdout if argv else sys.stderr)
        sys.exit(0 if argv else 2)
    if argv[0] in ("--version", "-V", "version"):
        print(version())
        sys.exit(0)
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        nearest = difflib.get_close_matches(command, COMMANDS, n=1)
        hint = f"; did you mean {nearest[0]}?" if nearest else f"; commands: {', '.join(COMMANDS)}"
        print(f"elmo-tasks: unknown command {command!r}{hint}", file=sys.stderr)
        sys.exit(2)
    for stream in (sys.stdin, sys.stdout):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding="utf-8")
    module = importlib.import_module(COMMANDS[command][0])
    entry = getattr(module, "cli", module.main)  # Hydra apps: override checks first, then Hydra
    if command in HYDRA_APPS:
        sys.argv = [f"elmo-tasks {command}", *rest]
        entry()
        return
    sys.exit(entry(rest))


if __name__ == "__main__":
    main()
