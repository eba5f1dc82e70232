"""``python -m elmo_tasks.compare paths=A,B [out=DIR] [metric=NAME] [group_by=folder]``: tables of
mean ± std per group of runs, paired differences between settings one key apart, and a bar
chart, from the results.json files under the paths (see :mod:`elmo_tasks.results.compare`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from elmo_tasks.cli.arguments import ArgumentParser, Option
from elmo_tasks.results.compare import ComparisonError, compare_runs
from elmo_tasks.results.table import show_comparison


def path_list(text: str) -> list[Path]:
    """``a,b`` or ``[a,b]`` as paths."""
    items = [item.strip() for item in text.strip().removeprefix("[").removesuffix("]").split(",")]
    paths = [Path(item).expanduser() for item in items if item]
    if not paths:
        raise ValueError(text)
    return paths


PARSER = ArgumentParser(
    "compare",
    [
        Option(
            "paths",
            "folders searched for results.json: one, or several as a,b or [a,b]",
            type=path_list,
            positional=True,
        ),
        Option(
            "out",
            "where comparison.md/.png go (default: the first of paths)",
            default=None,
            nullable=True,
        ),
        Option(
            "metric",
            "metric of the bar chart (default: the runs' main metric)",
            default=None,
            nullable=True,
        ),
        Option(
            "group_by",
            "group runs by the overrides that differ, or by the folder below a path that holds them",
            default="overrides",
            choices=("overrides", "folder"),
        ),
    ],
    description="Tables (mean ± std per group of runs, paired differences between settings one key apart) "
    "and a bar chart, from the results.json files under the paths.",
)


def _old_positional_paths(argv: Sequence[str]) -> list[str]:
    """Several bare folder arguments (the old spelling) as one ``paths=a,b``, with a note."""
    bare = [arg for arg in argv if "=" not in arg and not arg.startswith("-")]
    flags_with_values = {
        i + 1 for i, arg in enumerate(argv) if arg.startswith("--") and "=" not in arg
    }
    bare = [arg for i, arg in enumerate(argv) if arg in bare and i not in flags_with_values]
    if len(bare) < 2:
        return list(argv)
    print(
        f"note: positional folders are the old spelling; write paths={','.join(bare)} "
        "(the old spelling goes away in the next release)",
        file=sys.stderr,
    )
    rest = [arg for i, arg in enumerate(argv) if not (arg in bare and i not in flags_with_values)]
    return [*rest, f"paths={','.join(bare)}"]


def _fail(message: str) -> int:
    print(f"compare: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Write comparison.md and comparison.png, print the table; 2 for a usage error or when
    there is nothing to compare."""
    argv = _old_positional_paths(list(sys.argv[1:] if argv is None else argv))
    return PARSER.run(argv, _run)


def _run(values: dict[str, Any]) -> int:
    try:
        result = compare_runs(
            values["paths"],
            Path(values["out"]).expanduser() if values["out"] else None,
            values["metric"],
            values["group_by"],
        )
    except ComparisonError as error:
        return _fail(str(error))
    show_comparison(result, markdown_paths=False)  # stdout: exactly comparison.md when piped
    print(
        f"wrote {result.out / 'comparison.md'} and {result.out / 'comparison.png'}", file=sys.stderr
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
