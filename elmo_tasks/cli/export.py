"""``elmo-tasks export run_dir=RUN out=FOLDER``: a trained run as a self-contained model folder
(see :mod:`elmo_tasks.runs.model_folder`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from elmo_tasks.cli.arguments import ArgumentParser, Option
from elmo_tasks.runs.model_folder import export_run
from elmo_tasks.runs.trained import PredictError

USAGE = """\
usage: elmo-tasks export run_dir=PATH out=FOLDER [checkpoint=PATH] [overwrite=false]
       (or python -m elmo_tasks.cli.export ...)

Write a self-contained model folder from a run folder of train.py (its config and best
checkpoint, or checkpoint=PATH): weights as safetensors, the config, vocabulary and labels,
the ELMo files, the metrics and a README model card. elmo_tasks.load_run(FOLDER) and
elmo-tasks predict run_dir=FOLDER read it; the training data is not needed.

  run_dir     the run folder
  out         the folder to write (must not exist, unless overwrite=true)
  checkpoint  export this checkpoint instead of the run's best
  overwrite   true: replace an existing export folder
"""


PARSER = ArgumentParser(
    "export",
    [
        Option("run_dir", "the run folder"),
        Option("out", "the folder to write"),
        Option("checkpoint", "a checkpoint instead of the run's best", default=None, nullable=True),
        Option("overwrite", "replace an existing export folder", default=False, type=bool),
    ],
    help_text=USAGE,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: 0 done, 1 a run that cannot be exported, 2 bad arguments."""
    return PARSER.run(list(sys.argv[1:] if argv is None else argv), _run)


def _run(values: dict[str, Any]) -> int:
    try:
        out = export_run(**values)
    except PredictError as error:
        print(f"export: {error}", file=sys.stderr)
        return 1
    print(f"exported to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
