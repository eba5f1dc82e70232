"""Predict with a trained run: ``python -m elmo_tasks.predict run_dir=RUN input=FILE|-``.

Loads a run folder written by ``train.py`` (its config and best checkpoint), rebuilds the model
as training did, and writes one JSON line per input text or sentence (or CoNLL lines for
taggers). With ``input=-`` it answers each stdin line as soon as it is read. See docs/predict.md.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from elmo_tasks.cli.arguments import ArgumentParser, Option, UsageError, trust_option
from elmo_tasks.cli.predict_input import (  # noqa: F401 - also imported from here
    Example,
    decode_lines,
    detect_input_format,
    read_input_file,
    read_sentences,
    read_texts,
    stream_lines,
)
from elmo_tasks.core.errors import ElmoTasksError
from elmo_tasks.core.limits import DEFAULT_MAX_TOKENS, within_limit
from elmo_tasks.core.reporting import full_traceback_wanted
from elmo_tasks.runs.trained import PredictError, TrainedRun, load_run, resolve_device

__all__ = ["PredictError", "TrainedRun", "UsageError", "load_run", "main", "predict"]

USAGE = """\
usage: elmo-tasks predict run_dir=PATH input=FILE|- [output=FILE|-] [format=jsonl|conll]
                         [batch_size=32] [input_format=auto|lines|jsonl|conll] [checkpoint=PATH]
                         [device=auto|cpu|cuda|cuda:N] [encoding=utf-8] [verify=true|false]
                         [trust=MODULE,...] [max_tokens=4096]
                         (or python -m elmo_tasks.predict ...)

Predict with a run folder written by train.py: its config (config_resolved.yaml, else
.hydra/config.yaml) and best checkpoint (results.json "best_checkpoint", else
checkpoints/best.ckpt, else checkpoints/last.ckpt). The checkpoint holds the vocabulary and
label set, so the training data need not be there (a checkpoint without them has both rebuilt
from the training data named in the config, which must then be readable).

  run_dir       the run folder
  input         a file, or - to read stdin line by line and write each prediction at once
  output        a file, or - for stdout (default)
  format        jsonl (default), or conll for taggers: `token tag` lines, a blank line after
                each sentence
  batch_size    texts or sentences per forward pass when reading a file (default 32)
  input_format  auto (default): *.jsonl files are JSON lines; *.conll files and files that
                start with -DOCSTART- are CoNLL; other files and stdin hold one item per line
  checkpoint    use this checkpoint instead of the run's best
  device        auto (default: CUDA when present, else CPU), cpu, cuda, cuda:N or mps
  encoding      of the input (default utf-8); a file is decoded whole before anything is
                written, and a line that does not decode is reported by its number
  verify        false skips the SHA-256 checks of the checkpoint and the ELMo files against
                their .sha256 files (for files changed on purpose); a mismatch is refused by default
  trust         modules outside elmo-tasks whose classes the run may build (e.g. trust=myheads for
                your own head): only elmo-tasks' own classes are built unless you trust more; a
                folder that names other code is refused (exit status 2) before anything runs
  max_tokens    a text or sentence with more tokens stops the command before the model runs,
                naming its line (default 4096; null: no limit)

Classification: one text per line (tokenised as in training), or JSON lines with a "text"
  field. Output: {"text": ..., "label": ..., "probabilities": {label: p, ...}}.
  Empty lines are skipped with a warning.
Tagging: one sentence per line (whitespace-separated tokens), a CoNLL file (tokens in the
  first column) or JSON lines with "tokens" (a list) or "text". Output: {"tokens": [...],
  "tags": [...], "tag_probabilities": [...], "entities": [{"type", "start", "end", "text",
  "score"}]}: tags in the scheme of the training file; each tag's marginal probability;
  entity offsets in tokens, end exclusive, and the probability of the entity (exact, by
  forward-backward for a CRF). An empty line is an error.

example: python -m elmo_tasks.predict run_dir=outputs/runs/2024-05-01_12-00-00 input=reviews.txt
"""

FORMATS = ("jsonl", "conll")
INPUT_FORMATS = ("auto", "lines", "jsonl", "conll")

# Not __name__: run with ``python -m`` this module is ``__main__``.
log = logging.getLogger("elmo_tasks.cli.predict")


# --------------------------------------------------------------------------- arguments


@dataclass
class Arguments:
    """The command line, checked."""

    run_dir: Path
    input: str
    output: str = "-"
    format: str = "jsonl"
    batch_size: int = 32
    input_format: str = "auto"
    checkpoint: Path | None = None
    device: str = "auto"
    encoding: str = "utf-8"
    verify: bool = True
    trust: tuple[str, ...] = ()
    max_tokens: int | None = DEFAULT_MAX_TOKENS


PARSER = ArgumentParser(
    "predict",
    [
        Option("run_dir", "the run folder, or an exported model folder"),
        Option("input", "a file, or - for stdin"),
        Option("output", "a file, or - for stdout", default="-"),
        Option("format", "output format", default="jsonl", choices=FORMATS),
        Option("batch_size", "texts or sentences per forward pass", default=32, type=int),
        Option("input_format", "how to read the input", default="auto", choices=INPUT_FORMATS),
        Option("checkpoint", "a checkpoint instead of the run's best", default=None, nullable=True),
        Option("device", "auto, cpu, cuda, cuda:N or mps", default="auto"),
        Option("encoding", "the input's text encoding", default="utf-8"),
        Option("verify", "check files against their .sha256", default=True, type=bool),
        Option("trust", "modules whose classes the run may build", default=None, nullable=True),
        Option(
            "max_tokens",
            "longest text or sentence, in tokens (null: no limit)",
            default=DEFAULT_MAX_TOKENS,
            type=int,
            nullable=True,
        ),
    ],
    help_text=USAGE,
)


def parse_arguments(argv: Sequence[str]) -> Arguments:
    """``key=value`` arguments -> :class:`Arguments`; UsageError naming what is wrong."""
    return _arguments(PARSER.parse(argv))


def _arguments(values: dict[str, Any]) -> Arguments:
    if values["batch_size"] < 1:
        raise UsageError(f"batch_size must be at least 1, got {values['batch_size']}")
    if values["max_tokens"] is not None and values["max_tokens"] < 1:
        raise UsageError(f"max_tokens must be at least 1 (or null), got {values['max_tokens']}")
    checkpoint = values["checkpoint"]
    try:
        encoding = codecs.lookup(values["encoding"]).name
    except LookupError:
        raise UsageError(
            f"encoding={values['encoding']!r} is not a known text encoding (e.g. utf-8, latin-1, cp1252)"
        ) from None
    return Arguments(
        run_dir=Path(values["run_dir"]).expanduser(),
        input=values["input"],
        output=values["output"],
        format=values["format"],
        batch_size=values["batch_size"],
        input_format=values["input_format"],
        checkpoint=Path(checkpoint).expanduser() if checkpoint else None,
        device=values["device"],
        encoding=encoding,
        verify=values["verify"],
        trust=trust_option(values["trust"]),
        max_tokens=values["max_tokens"],
    )


# --------------------------------------------------------------------------- predictions


def classify(run: TrainedRun, batch: Sequence[Example]) -> list[dict]:
    """``{"text", "label", "probabilities"}`` per example."""
    predictions = run.classify_tokens([example.tokens for example in batch])
    return [{"text": example.text, **record} for example, record in zip(batch, predictions)]


def tag(run: TrainedRun, batch: Sequence[Example]) -> list[dict]:
    """``{"tokens", "tags", "tag_probabilities", "entities"}`` per sentence, tags in the training
    file's scheme, each entity with its probability (``score``)."""
    return run.tag_tokens([example.tokens for example in batch])


def render(record: dict, output_format: str) -> str:
    """One JSON line, or a sentence as ``token tag`` lines and a blank line."""
    if output_format == "conll":
        return (
            "".join(f"{token} {tag_}\n" for token, tag_ in zip(record["tokens"], record["tags"]))
            + "\n"
        )
    return json.dumps(record, ensure_ascii=False) + "\n"


def _batches(examples: Iterable[Example], size: int) -> Iterator[list[Example]]:
    batch: list[Example] = []
    for example in examples:
        batch.append(example)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# --------------------------------------------------------------------------- driver


def check_output_writable(path: str) -> None:
    """:class:`UsageError` when ``output``'s folder cannot be created or written."""
    folder = Path(path).expanduser().resolve().parent
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(
            f"output={path}: cannot write into {existing if existing is not None else folder} "
            "(no write permission or not a folder); choose another output=FILE, or output=- for stdout"
        )


@contextlib.contextmanager
def _output(path: str, stdout: IO[str]) -> Iterator[IO[str]]:
    """stdout, or ``path`` written atomically: an existing file is replaced only by a complete one."""
    if path == "-":
        yield stdout
        return
    from elmo_tasks.core.atomic import atomic_open

    with atomic_open(
        path,
        "w",
        fix="free space there, or write elsewhere: output=/path/with/room/FILE",
        encoding="utf-8",
    ) as handle:
        yield handle


def predict(args: Arguments, stdin: IO[str], stdout: IO[str]) -> int:
    """Run the predictions ``args`` asks for; returns how many items were predicted."""
    from elmo_tasks.core.integrity import set_verification, verification_enabled

    before = verification_enabled()
    set_verification(args.verify)  # the checkpoint and the ELMo files it names
    try:
        return _predict(args, stdin, stdout)
    finally:
        set_verification(before)


def _predict(args: Arguments, stdin: IO[str], stdout: IO[str]) -> int:
    streaming = args.input == "-"
    if not streaming:
        if not Path(args.input).is_file():
            raise PredictError(f"input file {args.input} not found")
        if args.output != "-" and Path(args.output).resolve() == Path(args.input).resolve():
            raise UsageError("output would overwrite input; choose another output file")
    if args.output != "-":
        check_output_writable(args.output)
    input_format = detect_input_format(args.input, args.input_format)
    resolve_device(args.device)  # a bad device is reported before the model is built
    # A file is decoded whole before the model is loaded and before any output is opened.
    lines: Iterable[str] = (
        stream_lines(stdin, args.encoding)
        if streaming
        else read_input_file(args.input, args.encoding)
    )
    run = load_run(args.run_dir, args.device, args.checkpoint, verify=args.verify, trust=args.trust)
    if run.kind == "classification" and args.format == "conll":
        raise UsageError("format=conll is for taggers; this run is a classifier (use format=jsonl)")
    source = "stdin" if streaming else args.input
    if run.kind == "classification":
        dm = run.datamodule
        examples: Iterable[Example] = read_texts(
            lines, source, input_format, dm.tokenize, dm.lowercase, dm.text_column
        )
        predict_batch = classify
    else:
        examples = read_sentences(lines, source, input_format)
        predict_batch = tag
    examples = within_limit(examples, args.max_tokens, source, PredictError)
    if not streaming:
        examples = list(examples)  # every line checked before the output is opened
    count = 0
    stopped: PredictError | None = None
    with _output(args.output, stdout) as out:
        try:
            for batch in _batches(examples, 1 if streaming else args.batch_size):
                for record in predict_batch(run, batch):
                    out.write(render(record, args.format))
                count += len(batch)
                if streaming:
                    out.flush()
        except PredictError as error:
            if not streaming:
                raise
            stopped = error  # stdin: keep the answers to the lines before the bad one
        out.flush()
    log.info("%d predictions written to %s", count, "stdout" if args.output == "-" else args.output)
    if stopped is not None:
        raise stopped
    return count


def main(
    argv: Sequence[str] | None = None, stdin: IO[str] | None = None, stdout: IO[str] | None = None
) -> int:
    """Command-line entry point; returns the exit status (0 ok, 1 bad run or input, 2 bad arguments)."""
    argv = ["--help" if arg == "help" else arg for arg in (sys.argv[1:] if argv is None else argv)]
    return PARSER.run(argv, lambda values: _run(values, stdin or sys.stdin, stdout or sys.stdout))


def _run(values: dict[str, Any], stdin: IO[str], stdout: IO[str]) -> int:
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s: %(message)s", stream=sys.stderr
    )
    log.setLevel(logging.INFO)
    try:
        predict(_arguments(values), stdin, stdout)
    except UsageError as error:
        print(f"predict: {error}", file=sys.stderr)
        return 2
    except (PredictError, ElmoTasksError) as error:
        print(f"predict: {error}", file=sys.stderr)
        if full_traceback_wanted():
            raise
        return getattr(error, "exit_status", 1)  # 2 for a device name that is not one
    except BrokenPipeError:  # e.g. `| head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 0


def command_line() -> None:
    """``python -m``: UTF-8 on stdin and stdout whatever the locale, then :func:`main`."""
    for stream in (sys.stdin, sys.stdout):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding="utf-8")
    sys.exit(main())


if __name__ == "__main__":
    command_line()
