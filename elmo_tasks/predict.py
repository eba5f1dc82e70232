"""Predict with a trained run: ``python -m elmo_tasks.predict run_dir=RUN input=FILE|-``.

Loads a run folder written by ``train.py`` (its config and best checkpoint), rebuilds the model
as training did, and writes one JSON line per input text or sentence (or CoNLL lines for
taggers). With ``input=-`` it answers each stdin line as soon as it is read. See docs/predict.md.
"""

from __future__ import annotations

import codecs
import contextlib
import difflib
import json
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import IO, Any

from .errors import ElmoTasksError

USAGE = """\
usage: python -m elmo_tasks.predict run_dir=PATH input=FILE|- [output=FILE|-] [format=jsonl|conll]
                                    [batch_size=32] [input_format=auto|lines|jsonl|conll] [checkpoint=PATH]
                                    [encoding=utf-8] [verify=true|false]

Predict with a run folder written by train.py: its config (config_resolved.yaml, else
.hydra/config.yaml) and best checkpoint (results.json "best_checkpoint", else
checkpoints/best.ckpt, else checkpoints/last.ckpt). The checkpoint holds the vocabulary and
label set, so the training data need not be there (a checkpoint without them has both rebuilt
from the training data named in the config, which must then be readable).

  run_dir       the run folder
  input         a file, or - to read stdin line by line and write each prediction at once
  output        a file, or - for stdout (default). A file is written under a temporary name
                and renamed when complete: an existing file is replaced only by a complete one
  format        jsonl (default), or conll for taggers: `token tag` lines, a blank line after
                each sentence
  batch_size    texts or sentences per forward pass when reading a file (default 32)
  input_format  auto (default): *.jsonl files are JSON lines; *.conll files and files that
                start with -DOCSTART- are CoNLL; other files and stdin hold one item per line
  checkpoint    use this checkpoint instead of the run's best
  encoding      of the input (default utf-8); a file is decoded whole before anything is
                written, and a line that does not decode is reported by its number
  verify        false skips the SHA-256 checks of the checkpoint and the ELMo files against
                their .sha256 files (for files changed on purpose); a mismatch is refused by default

Classification: one text per line (tokenised as in training), or JSON lines with a "text"
  field. Output: {"text": ..., "label": ..., "probabilities": {label: p, ...}}.
  Empty lines are skipped with a warning.
Tagging: one sentence per line (whitespace-separated tokens), a CoNLL file (tokens in the
  first column) or JSON lines with "tokens" (a list) or "text". Output: {"tokens": [...],
  "tags": [...], "entities": [{"type", "start", "end", "text"}]}: tags in the scheme of the
  training file, entity offsets in tokens, end exclusive. An empty line is an error.

example: python -m elmo_tasks.predict run_dir=outputs/runs/2024-05-01_12-00-00 input=reviews.txt
"""

FORMATS = ("jsonl", "conll")
INPUT_FORMATS = ("auto", "lines", "jsonl", "conll")
CONFIG_FILES = ("config_resolved.yaml", ".hydra/config.yaml")
CHECKPOINTS = ("checkpoints/best.ckpt", "checkpoints/last.ckpt")
DOCSTART = "-DOCSTART-"

# Not __name__: run with ``python -m`` this module is ``__main__``.
log = logging.getLogger("elmo_tasks.predict")


class UsageError(ValueError):
    """A bad command line (exit status 2)."""


class PredictError(RuntimeError):
    """A run folder, checkpoint or input that cannot be used, explained (exit status 1)."""


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
    encoding: str = "utf-8"
    verify: bool = True


def parse_arguments(argv: Sequence[str]) -> Arguments:
    """``key=value`` arguments -> :class:`Arguments`; UsageError naming what is wrong."""
    known = [f.name for f in fields(Arguments)]
    values: dict[str, str] = {}
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep:
            raise UsageError(f"expected key=value, got {arg!r} (see --help)")
        if key not in known:
            nearest = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {nearest[0]}={value}?" if nearest else f"; keys: {', '.join(known)}"
            raise UsageError(f"unknown argument {key!r}{hint}")
        if key in values:
            raise UsageError(f"{key} is given twice")
        values[key] = value
    missing = [key for key in ("run_dir", "input") if not values.get(key)]
    if missing:
        raise UsageError(f"missing {' and '.join(k + '=...' for k in missing)} (see --help)")
    for key, allowed in (("format", FORMATS), ("input_format", INPUT_FORMATS)):
        if key in values and values[key] not in allowed:
            raise UsageError(f"{key} must be one of {', '.join(allowed)}, got {values[key]!r}")
    try:
        batch_size = int(values.get("batch_size", 32))
    except ValueError:
        raise UsageError(f"batch_size must be a whole number, got {values['batch_size']!r}") from None
    if batch_size < 1:
        raise UsageError(f"batch_size must be at least 1, got {batch_size}")
    checkpoint = values.get("checkpoint")
    encoding = values.get("encoding", "utf-8")
    try:
        encoding = codecs.lookup(encoding).name
    except LookupError:
        raise UsageError(f"encoding={encoding!r} is not a known text encoding (e.g. utf-8, latin-1, cp1252)") from None
    verify = values.get("verify", "true").lower()
    if verify not in ("true", "false"):
        raise UsageError(f"verify must be true or false, got {values['verify']!r}")
    return Arguments(
        run_dir=Path(values["run_dir"]).expanduser(),
        input=values["input"],
        output=values.get("output", "-"),
        format=values.get("format", "jsonl"),
        batch_size=batch_size,
        input_format=values.get("input_format", "auto"),
        checkpoint=Path(checkpoint).expanduser() if checkpoint else None,
        encoding=encoding,
        verify=verify == "true",
    )


# --------------------------------------------------------------------------- the trained run


@dataclass
class TrainedRun:
    """A model rebuilt from a run folder (in eval mode) and the data module it was trained with."""

    model: Any
    datamodule: Any
    config_file: Path
    checkpoint: Path

    @property
    def kind(self) -> str:
        """``classification`` or ``tagging``."""
        return self.datamodule.kind


def find_config(run_dir: Path) -> Path:
    """``config_resolved.yaml`` of the run, else the ``.hydra/config.yaml`` Hydra wrote."""
    for name in CONFIG_FILES:
        if (run_dir / name).is_file():
            return run_dir / name
    looked = ", ".join(str(run_dir / name) for name in CONFIG_FILES)
    raise PredictError(f"no run config in {run_dir}: looked for {looked} (train.py writes both into its run folder)")


def load_config(run_dir: Path):
    """The run's composed config, resolved; ``.hydra/config.yaml`` gets ``paths.output_dir=run_dir``
    since its ``${hydra:...}`` value needs a running Hydra."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from .config import register_resolvers

    path = find_config(run_dir)
    register_resolvers()
    try:
        cfg = OmegaConf.load(path)
        if path.name == "config.yaml" and OmegaConf.select(cfg, "paths") is not None:
            cfg.paths.output_dir = str(run_dir)
        OmegaConf.resolve(cfg)
    except (OmegaConfBaseException, OSError) as error:
        raise PredictError(f"cannot read the run config {path}: {error}") from error
    for key in ("task", "encoder", "head", "optim"):
        if OmegaConf.select(cfg, key) is None:
            raise PredictError(f"{path} has no '{key}' section; is it the config of a train.py run?")
    return cfg


def find_checkpoint(run_dir: Path) -> Path:
    """The checkpoint results.json names as best, else checkpoints/best.ckpt, else last.ckpt."""
    candidates: list[Path] = []
    results = run_dir / "results.json"
    if results.is_file():
        try:
            best = json.loads(results.read_text(encoding="utf-8")).get("best_checkpoint")
        except (json.JSONDecodeError, AttributeError) as error:
            raise PredictError(f"{results} is not a JSON object: {error}") from error
        if best:
            # The copy inside this run folder first: the folder may have been moved or copied
            # since training, and the path written then may name another run's file.
            candidates += [run_dir / "checkpoints" / Path(best).name, Path(best)]
    candidates += [run_dir / name for name in CHECKPOINTS]
    for path in candidates:
        if path.is_file():
            return path
    looked = ", ".join(dict.fromkeys(str(p) for p in candidates))
    raise PredictError(f"no checkpoint in {run_dir}: looked for {looked}; pass checkpoint=PATH to choose one")


def read_checkpoint(path: Path, verify: bool = True) -> dict:
    """A Lightning checkpoint (a bare state dict comes back as ``{"state_dict": ...}``),
    checked against its ``.sha256`` (unless ``verify`` is False), loaded with
    ``weights_only=True`` so that no code inside the file runs, and checked for non-finite weights."""
    import torch

    from .checkpoint_io import load_checkpoint
    from .integrity import set_verification, verification_enabled

    before = verification_enabled()
    set_verification(before and verify)
    try:
        checkpoint = load_checkpoint(path, skip="verify=false")
    except ElmoTasksError as error:
        raise PredictError(str(error)) from None
    finally:
        set_verification(before)
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise PredictError(f"{path} is neither a Lightning checkpoint (no 'state_dict') nor a state dict of tensors")
    return checkpoint if "state_dict" in checkpoint else {"state_dict": state}


def _without_caches(node: Any) -> None:
    """Set every ``cache_dir`` of an encoder config (nested ones too) to None: predictions run the
    biLM directly instead of needing the activation cache of the training data."""
    from omegaconf import DictConfig, ListConfig

    if isinstance(node, DictConfig):
        if "cache_dir" in node:
            node.cache_dir = None
        for key in node:
            _without_caches(node[key])
    elif isinstance(node, ListConfig):
        for item in node:
            _without_caches(item)


def load_run(run_dir: str | Path, checkpoint: str | Path | None = None, verify: bool = True) -> TrainedRun:
    """Rebuild the model of ``run_dir`` with ``experiment.build`` (vocabulary and labels from the
    checkpoint, else from the training data as in training), load the weights and switch to eval mode.
    ``verify=False`` skips the SHA-256 check of the checkpoint."""
    run_dir = Path(run_dir).expanduser()
    if not run_dir.is_dir():
        raise PredictError(f"run_dir {run_dir} is not a folder (expected a run folder written by train.py)")
    cfg = load_config(run_dir)
    checkpoint = Path(checkpoint) if checkpoint else find_checkpoint(run_dir)
    if not checkpoint.is_file():
        raise PredictError(f"checkpoint {checkpoint} not found")
    state = read_checkpoint(checkpoint, verify)
    _without_caches(cfg.encoder)
    config_file = find_config(run_dir)

    import datasets

    from .experiment import build
    from .tasks.base import DATA_STATE, restore_frozen_encoder

    datasets.disable_progress_bars()
    data_state = state.get(DATA_STATE)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # keep stdout for predictions only
            datamodule, model = build(cfg, data_state=data_state)
    except (OSError, ValueError, ImportError) as error:
        why = (
            "" if data_state is not None else "\n(this checkpoint does not hold the vocabulary and label set, so the "
            "training data named in the config is read again to rebuild them exactly as in training)"
        )
        raise PredictError(f"cannot rebuild the model of {config_file}: {error}{why}") from error
    try:
        restore_frozen_encoder(model, state)  # frozen biLM weights are read from their files
        model.load_state_dict(state["state_dict"])
    except (RuntimeError, ValueError) as error:
        detail = " ".join(str(error).split())
        raise PredictError(
            f"{checkpoint} does not fit the model rebuilt from {config_file} (were the config or the training "
            f"data changed since training?): {detail[:400]}"
        ) from error
    model.eval()
    log.info("loaded %s (%s, %d labels) from %s", checkpoint, datamodule.kind, len(model.labels), config_file)
    return TrainedRun(model, datamodule, config_file, checkpoint)


# --------------------------------------------------------------------------- inputs


@dataclass
class Example:
    """One text or sentence to predict: where it is (1-based line), its tokens and raw text."""

    line: int
    tokens: list[str]
    text: str = ""
    source: str = field(default="input", repr=False)


def detect_input_format(path: str, requested: str) -> str:
    """``lines``, ``jsonl`` or ``conll`` for ``path`` (``-`` is stdin), as ``input_format=auto`` reads it."""
    if requested != "auto":
        return requested
    if path == "-":
        return "lines"
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".conll":
        return "conll"
    with open(path, encoding="utf-8", errors="replace") as handle:
        first = next((line for line in handle if line.strip()), "")
    return "conll" if first.split()[:1] == [DOCSTART] else "lines"


def _json_object(raw: str, number: int, source: str) -> dict:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise PredictError(f"{source}, line {number}: not valid JSON ({error.msg})") from None
    if not isinstance(value, dict):
        raise PredictError(f"{source}, line {number}: expected a JSON object, got {type(value).__name__}")
    return value


def read_texts(
    lines: Iterable[str], source: str, input_format: str, tokenize, lowercase: bool, text_column: str = "text"
) -> Iterator[Example]:
    """Texts to classify, one per line (or the ``text`` field, else ``text_column``, of JSON
    lines), tokenised as in training; empty ones are skipped with a warning naming the line."""
    if input_format == "conll":
        raise UsageError("input_format=conll is for taggers; this run is a classifier (give one text per line)")
    for number, raw in enumerate(lines, start=1):
        text = raw.rstrip("\r\n")
        if input_format == "jsonl":
            if not text.strip():
                continue
            record = _json_object(text, number, source)
            key = "text" if "text" in record else text_column
            if not isinstance(record.get(key), str):
                raise PredictError(f"{source}, line {number}: no string field 'text' (fields: {', '.join(record)})")
            text = record[key]
        tokens = tokenize(text.lower() if lowercase else text) if text.strip() else []
        if not tokens:
            log.warning("%s, line %d: empty text, skipped", source, number)
            continue
        yield Example(number, tokens, text, source)


def _checked_tokens(tokens: Any, number: int, source: str) -> list[str]:
    if not isinstance(tokens, list) or not tokens:
        raise PredictError(f"{source}, line {number}: 'tokens' must be a non-empty list of strings")
    for token in tokens:
        if not isinstance(token, str) or not token or len(token.split()) != 1 or token.strip() != token:
            raise PredictError(f"{source}, line {number}: token {token!r} is empty or holds whitespace")
    return tokens


def read_sentences(lines: Iterable[str], source: str, input_format: str) -> Iterator[Example]:
    """Sentences to tag: one per line (whitespace tokens), JSON lines with ``tokens`` or ``text``,
    or CoNLL (first column; a sentence is yielded at the blank line that ends it)."""
    if input_format == "conll":
        yield from _read_conll_tokens(lines, source)
        return
    for number, raw in enumerate(lines, start=1):
        text = raw.rstrip("\r\n")
        if not text.strip():
            hint = " (is it a CoNLL file? pass input_format=conll)" if input_format == "lines" else ""
            raise PredictError(f"{source}, line {number}: empty line; give one sentence per line{hint}")
        if input_format == "jsonl":
            record = _json_object(text, number, source)
            if "tokens" in record:
                tokens = _checked_tokens(record["tokens"], number, source)
            elif isinstance(record.get("text"), str) and record["text"].split():
                tokens = record["text"].split()
            else:
                raise PredictError(f"{source}, line {number}: needs 'tokens' (a list) or a non-empty 'text'")
        else:
            tokens = text.split()
        yield Example(number, tokens, " ".join(tokens), source)


def _read_conll_tokens(lines: Iterable[str], source: str) -> Iterator[Example]:
    tokens: list[str] = []
    first = 0
    for number, raw in enumerate(lines, start=1):
        columns = raw.split()
        if columns and columns[0] != DOCSTART:
            first = first if tokens else number
            tokens.append(columns[0])
        elif tokens:
            yield Example(first, tokens, " ".join(tokens), source)
            tokens = []
    if tokens:
        yield Example(first, tokens, " ".join(tokens), source)


# --------------------------------------------------------------------------- predictions


def classify(run: TrainedRun, batch: Sequence[Example]) -> list[dict]:
    """``{"text", "label", "probabilities"}`` per example."""
    labels = run.model.labels
    probabilities = run.model.predict_proba([example.tokens for example in batch]).tolist()
    return [
        {
            "text": example.text,
            "label": labels[max(range(len(row)), key=row.__getitem__)],
            "probabilities": dict(zip(labels, row)),
        }
        for example, row in zip(batch, probabilities)
    ]


def tag(run: TrainedRun, batch: Sequence[Example]) -> list[dict]:
    """``{"tokens", "tags", "entities"}`` per sentence, tags in the training file's scheme."""
    from .tags import bio_spans, from_bio, to_bio

    scheme, input_scheme = run.model.scheme, run.datamodule.input_scheme
    records = []
    for example, predicted in zip(batch, run.model.predict([example.tokens for example in batch])):
        tags = from_bio(to_bio(predicted, scheme), input_scheme)
        entities = [
            {"type": type_, "start": start, "end": end, "text": " ".join(example.tokens[start:end])}
            for type_, start, end in bio_spans(tags)
        ]
        records.append({"tokens": example.tokens, "tags": tags, "entities": entities})
    return records


def render(record: dict, output_format: str) -> str:
    """One JSON line, or a sentence as ``token tag`` lines and a blank line."""
    if output_format == "conll":
        return "".join(f"{token} {tag_}\n" for token, tag_ in zip(record["tokens"], record["tags"])) + "\n"
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


def _undecodable(source: str, number: int, error: UnicodeDecodeError, encoding: str) -> PredictError:
    byte = error.object[error.start : error.start + 1].hex()
    return PredictError(
        f"{source}, line {number}: not valid {encoding} (byte 0x{byte} at byte {error.start + 1} of the line); "
        f"give the file's encoding, e.g. encoding=latin-1 or encoding=cp1252, or convert it to {encoding}"
    )


def decode_lines(data: bytes, source: str, encoding: str = "utf-8") -> list[str]:
    """The lines of ``data`` (split at \\n, \\r\\n or \\r), each decoded; a line that does not
    decode is a :class:`PredictError` naming its number and the ``encoding=`` fix."""
    lines = []
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            lines.append(raw.decode(encoding))
        except UnicodeDecodeError as error:
            raise _undecodable(source, number, error, encoding) from None
    return lines


def stream_lines(stdin: IO[str], encoding: str = "utf-8") -> Iterator[str]:
    """stdin line by line as the lines arrive (no read-ahead past a line), each decoded on its
    own, so every line before one that does not decode is answered first."""
    binary = getattr(stdin, "buffer", None)
    if binary is None:  # a text stream (tests, embedding): already decoded
        yield from iter(stdin.readline, "")
        return
    for number, raw in enumerate(iter(binary.readline, b""), start=1):
        try:
            yield raw.decode(encoding)
        except UnicodeDecodeError as error:
            raise _undecodable("stdin", number, error, encoding) from None


def read_input_file(path: str, encoding: str = "utf-8") -> list[str]:
    """The lines of the input file, all decoded (before any output is opened)."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise PredictError(f"cannot read input file {path}: {error.strerror or error}") from None
    return decode_lines(data, path, encoding)


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
    from .checkpoint_io import atomic_open

    with atomic_open(path, "w", fix="free space there, or write elsewhere: output=/path/with/room/FILE",
                     encoding="utf-8") as handle:
        yield handle


def predict(args: Arguments, stdin: IO[str], stdout: IO[str]) -> int:
    """Run the predictions ``args`` asks for; returns how many items were predicted."""
    from .integrity import set_verification, verification_enabled

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
    # A file is decoded whole before the model is loaded and before any output is opened.
    lines: Iterable[str] = stream_lines(stdin, args.encoding) if streaming else read_input_file(args.input, args.encoding)
    run = load_run(args.run_dir, args.checkpoint, verify=args.verify)
    if run.kind == "classification" and args.format == "conll":
        raise UsageError("format=conll is for taggers; this run is a classifier (use format=jsonl)")
    source = "stdin" if streaming else args.input
    if run.kind == "classification":
        dm = run.datamodule
        examples: Iterable[Example] = read_texts(lines, source, input_format, dm.tokenize, dm.lowercase, dm.text_column)
        predict_batch = classify
    else:
        examples = read_sentences(lines, source, input_format)
        predict_batch = tag
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


def main(argv: Sequence[str] | None = None, stdin: IO[str] | None = None, stdout: IO[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 ok, 1 bad run or input, 2 bad arguments)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or any(arg in ("-h", "--help", "help") for arg in argv):
        print(USAGE, file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s", stream=sys.stderr)
    log.setLevel(logging.INFO)
    try:
        predict(parse_arguments(argv), stdin or sys.stdin, stdout or sys.stdout)
    except UsageError as error:
        print(f"predict: {error}", file=sys.stderr)
        return 2
    except (PredictError, ElmoTasksError) as error:
        print(f"predict: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. `| head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 0


if __name__ == "__main__":
    for stream in (sys.stdin, sys.stdout):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding="utf-8")
    sys.exit(main())
