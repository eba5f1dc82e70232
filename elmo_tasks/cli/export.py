"""``elmo-tasks export run_dir=RUN out=FOLDER``: a trained run as a self-contained model folder
(see :mod:`elmo_tasks.runs.model_folder`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from elmo_tasks.cli.arguments import ArgumentParser, Option, trust_option
from elmo_tasks.core.errors import ElmoTasksError
from elmo_tasks.runs.model_folder import export_run

USAGE = """\
usage: elmo-tasks export run_dir=PATH out=FOLDER [checkpoint=PATH] [overwrite=false]
                        [trust=MODULE,...]
       (or python -m elmo_tasks.export ...)

Write a self-contained model folder from a run folder of train.py (its config and best
checkpoint, or checkpoint=PATH): weights as safetensors, the config, vocabulary and labels,
the ELMo files, the metrics and a README model card. elmo_tasks.load_run(FOLDER) and
elmo-tasks predict run_dir=FOLDER read it; the training data is not needed.

  run_dir     the run folder
  out         the folder to write (must not exist, unless overwrite=true)
  checkpoint  export this checkpoint instead of the run's best
  overwrite   true: replace an existing export folder
  trust       modules outside elmo-tasks whose classes the run may build (e.g. trust=myheads);
              the export records them in export.json (code_modules) and its model card
"""


PARSER = ArgumentParser(
    "export",
    [
        Option("run_dir", "the run folder"),
        Option("out", "the folder to write"),
        Option("checkpoint", "a checkpoint instead of the run's best", default=None, nullable=True),
        Option("overwrite", "replace an existing export folder", default=False, type=bool),
        Option("trust", "modules whose classes the run may build", default=None, nullable=True),
    ],
    help_text=USAGE,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: 0 done, 1 a run that cannot be exported, 2 bad arguments or
    code that is not trusted."""
    return PARSER.run(list(sys.argv[1:] if argv is None else argv), _run)


def _run(values: dict[str, Any]) -> int:
    try:
        out = export_run(**{**values, "trust": trust_option(values["trust"])})
    except ElmoTasksError as error:  # 2 for code that is not trusted, else 1
        print(f"export: {error}", file=sys.stderr)
        return getattr(error, "exit_status", 1)
    print(f"exported to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
