"""``elmo-tasks evaluate run_dir=RUN input=FILE``: score a trained run (or an exported model) on
a labelled file, read as the run's task reads its test file (see :mod:`elmo_tasks.runs.evaluation`).
Prints the metrics and a per-class or per-type table, writes them as JSON and, for a
classifier, a confusion-matrix PNG."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from elmo_tasks.cli.arguments import ArgumentParser, Option, UsageError, trust_option
from elmo_tasks.core.errors import ElmoTasksError
from elmo_tasks.core.reporting import full_traceback_wanted

USAGE = """\
usage: elmo-tasks evaluate run_dir=PATH input=FILE [output=FILE] [plot=true|false]
                          [max_samples=run|all|N] [batch_size=N] [checkpoint=PATH]
                          [device=auto|cpu|cuda|cuda:N] [verify=true|false]
                          [trust=MODULE,...] (or python -m elmo_tasks.evaluate ...)

Score a run folder written by train.py (its config and best checkpoint), or a folder written
by `elmo-tasks export`, on a labelled file. The file is read as the run's task read its test
file: the same reader (csv/tsv/jsonl tables, SST trees, TweetEval's {split}_text.txt, CoNLL),
columns, tokeniser, label set and tag scheme; for a run trained on a hub dataset, input may
also be a split name of it. Given the run's own test file, the metrics are those of its
results.json "test" exactly.

  run_dir      the run folder, or an exported model folder
  input        the labelled file (a table file also for tree or TweetEval runs)
  output       the JSON report (default: INPUT_STEM.eval.json in the current folder)
  plot         classifiers: write the confusion matrix beside the report as
               OUTPUT_STEM.confusion.png (default true)
  max_samples  run (default): the first task.max_eval_samples examples, as the run's test
               split was capped (all of them when the run had no cap); all; or a number
  batch_size   examples per forward pass (default: the run's evaluation batch size)
  checkpoint   use this checkpoint instead of the run's best
  device       auto (default: CUDA when present, else CPU), cpu, cuda, cuda:N or mps
  verify       false skips the SHA-256 checks of the checkpoint and the ELMo files
  trust        modules outside elmo-tasks whose classes the run may build (e.g. trust=myheads
               for your own head): only elmo-tasks' own classes are built unless you trust
               more; a folder that names other code is refused (exit status 2)

The report holds "metrics" (the names of results.json), "per_class" (precision, recall, F1,
support) and "confusion_matrix" (rows gold, columns predicted) for a classifier, "per_type"
(conlleval's entity spans) for a tagger, and "examples", "input", "run", "checkpoint".
Exit status: 0 done, 1 a run folder that cannot be loaded, 2 bad arguments, code that is not
trusted, or an input that cannot be scored (missing, empty, a missing column, a label the run
does not know).

example: elmo-tasks evaluate run_dir=outputs/runs/sst2 input=data/sst2/test.tsv
"""


def max_samples_value(text: str) -> int | str:
    """``run``, ``all`` or a whole number >= 1."""
    if text in ("run", "all"):
        return text
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def _max_samples(text: str) -> int | str:
    try:
        return max_samples_value(text)
    except ValueError:
        raise UsageError(
            f"max_samples must be run, all or a whole number >= 1, got {text!r}"
        ) from None


PARSER = ArgumentParser(
    "evaluate",
    [
        Option("run_dir", "the run folder, or an exported model folder"),
        Option("input", "the labelled file"),
        Option("output", "the JSON report", default=None, nullable=True),
        Option("plot", "write the confusion-matrix PNG", default=True, type=bool),
        Option("max_samples", "run, all or N", default="run", type=_max_samples),
        Option("batch_size", "examples per forward pass", default=None, type=int, nullable=True),
        Option("checkpoint", "a checkpoint instead of the run's best", default=None, nullable=True),
        Option("device", "auto, cpu, cuda, cuda:N or mps", default="auto"),
        Option("verify", "check files against their .sha256", default=True, type=bool),
        Option(
            "max_tokens",
            "longest example, in tokens (null: no limit)",
            default=4096,
            type=int,
            nullable=True,
        ),
        Option("trust", "modules whose classes the run may build", default=None, nullable=True),
    ],
    help_text=USAGE,
)


def default_output(source: str) -> Path:
    """``INPUT_STEM.eval.json`` in the current folder."""
    return Path.cwd() / f"{Path(source).stem or 'evaluation'}.eval.json"


def chart_path(output: Path) -> Path:
    """Where the confusion matrix of the report ``output`` goes: beside it."""
    return output.with_name(f"{output.stem.removesuffix('.eval')}.confusion.png")


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0, 1 or 2, see the help)."""
    argv = ["--help" if arg == "help" else arg for arg in (sys.argv[1:] if argv is None else argv)]
    return PARSER.run(argv, _run)


def _run(values: dict[str, Any]) -> int:
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s: %(message)s", stream=sys.stderr
    )
    try:
        evaluate_command(values)
    except UsageError as error:
        print(f"evaluate: {error}", file=sys.stderr)
        return 2
    except ElmoTasksError as error:
        print(f"evaluate: {error}", file=sys.stderr)
        if full_traceback_wanted():
            raise
        return getattr(error, "exit_status", 1)
    return 0


def evaluate_command(values: dict[str, Any]) -> dict:
    """Load the run, score the input, print the tables, write the report (and chart)."""
    from rich.console import Console

    from elmo_tasks.cli.predict import check_output_writable
    from elmo_tasks.core.atomic import atomic_write_text
    from elmo_tasks.core.integrity import set_verification, verification_enabled
    from elmo_tasks.results.evaluation_report import plot_confusion_matrix, print_report
    from elmo_tasks.runs.trained import load_run, resolve_device

    source = values["input"]
    output = Path(values["output"]).expanduser() if values["output"] else default_output(source)
    if output.suffix.lower() != ".json":
        raise UsageError(f"output={output}: the report is JSON; give a file name ending in .json")
    if (
        Path(source).expanduser().exists()
        and output.resolve() == Path(source).expanduser().resolve()
    ):
        raise UsageError("output would overwrite input; choose another output file")
    if values["batch_size"] is not None and values["batch_size"] < 1:
        raise UsageError(f"batch_size must be at least 1, got {values['batch_size']}")
    trust = trust_option(values["trust"])
    check_output_writable(str(output))
    resolve_device(values["device"])  # a bad device name before the model is built
    before = verification_enabled()
    set_verification(values["verify"])
    try:
        run = load_run(
            values["run_dir"], values["device"], values["checkpoint"], values["verify"], trust
        )
        report = run.evaluate(
            source, values["max_samples"], values["batch_size"], values["max_tokens"]
        )
    finally:
        set_verification(before)
    console = Console()
    print_report(console, report)
    written = [output]
    confusion = report.get("confusion_matrix")
    if values["plot"] and confusion:
        chart = chart_path(output)
        plot_confusion_matrix(confusion["labels"], confusion["matrix"], chart)
        report["confusion_matrix_png"] = str(chart)
        written.append(chart)
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(output, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    console.print(
        "wrote " + " and ".join(str(path) for path in written),
        soft_wrap=True,
        markup=False,
        highlight=False,
    )
    return report


def command_line() -> None:
    """``python -m``: UTF-8 on stdout whatever the locale, then :func:`main`."""
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8")
    sys.exit(main())


if __name__ == "__main__":
    command_line()
