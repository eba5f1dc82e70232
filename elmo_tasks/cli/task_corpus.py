"""``elmo-tasks task-corpus tasks=sst2,conll2003 output=FILE``: the unlabelled training text of
task presets, for domain-adapted pretraining (see :mod:`elmo_tasks.pretraining.task_corpus`).
Prints the lines and tokens written per task as JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from elmo_tasks.cli.arguments import ArgumentParser, Option
from elmo_tasks.pretraining.task_corpus import write_task_corpus


def task_list(text: str) -> list[str]:
    """``a,b`` or ``[a,b]`` as task preset names."""
    names = [
        item.strip()
        for item in text.strip().removeprefix("[").removesuffix("]").split(",")
        if item.strip()
    ]
    if not names:
        raise ValueError(text)
    return names


PARSER = ArgumentParser(
    "task-corpus",
    [
        Option("tasks", "task presets (conf/task/*.yaml), as a,b or [a,b]", type=task_list),
        Option("output", "text file to write, one sentence per line"),
        Option(
            "data_dir", "data sets folder (default: $ELMO_TASKS_DATA)", default=None, nullable=True
        ),
        Option(
            "encoding",
            "text encoding of the tasks' files, e.g. latin-1 (default: each task's task.encoding)",
            default=None,
            nullable=True,
        ),
    ],
    description="Write the training text of task presets (training splits only), one sentence per line.",
)


def main(argv: Sequence[str] | None = None) -> int:
    return PARSER.run(list(sys.argv[1:] if argv is None else argv), _run)


def _run(values: dict[str, Any]) -> int:
    # an unknown preset (exit 2), missing or malformed data (exit 1): one message, from PARSER.run
    sizes = write_task_corpus(
        values["tasks"], values["output"], values["data_dir"], values["encoding"]
    )
    json.dump({"output": str(values["output"]), "tasks": sizes}, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
