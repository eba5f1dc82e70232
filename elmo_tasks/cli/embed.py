"""Write ELMo activations of a text file to hdf5: ``python -m elmo_tasks.embed``.

    elmo-tasks embed options=small weights=small input=sentences.txt output=elmo.h5 \\
        [layers=all|top|average] [dtype=float16] [precision=bf16]      (or python -m elmo_tasks.embed ...)
    elmo-tasks embed options=small weights=small input=sentences.txt output=elmo.hdf5 \\
        format=allennlp layers=all|top|average [forget_sentences=true]  (as allennlp elmo --all ...)

Input: a ``.txt`` file with one sentence per line (``-`` for stdin), tokenised by
``tokenizer`` (whitespace by default), or a ``.csv``/``.tsv``/``.jsonl`` file whose
``text_column`` is embedded. Output: one dataset per distinct sentence named by its
stable id (SHA-1 of its tokens), shaped (layers, n_tokens + 2, dim) with the sentence
boundaries kept, plus ``sentence_ids`` (the id of input line k at row k) and a manifest
of the options/weights checksums in the file attributes. ``format=allennlp`` writes the layout
of ``allennlp elmo`` instead, for scripts written for it: one dataset per line keyed by its
0-based index as a string, ``(3, n_tokens, dim)`` for ``layers=all`` (``--all``) and
``(n_tokens, dim)`` for ``top`` and ``average`` (``--top``, ``--average``), without sentence
boundaries, and ``sentence_to_index`` (JSON: line -> key; ``forget_sentences=true`` leaves it
out).

The input is read and decoded whole (``encoding=``, default utf-8) before the biLM is loaded:
a line that does not decode is reported by its number. The output is written under a
temporary name, renamed when complete, with its SHA-256 in ``OUTPUT.sha256``; an existing
output is replaced only by a complete file, and a full disk ends with one message. Weights
with a ``.sha256`` beside them (exports, the packaged ``mini``) are verified first;
``verify=false`` skips that. ``precision=bf16`` runs the biLM's matrix products in bfloat16
(autocast; gates, cells and clipping stay float32): about 2x faster on CPUs with AMX or
AVX512-BF16 and on GPUs, with activations that differ from the exact float32 ones by about
1e-2.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from elmo_tasks.cli.arguments import ArgumentParser, Option
from elmo_tasks.core.errors import ElmoTasksError
from elmo_tasks.core.limits import DEFAULT_MAX_TOKENS, too_long
from elmo_tasks.core.text_encoding import decode_lines
from elmo_tasks.data.tokenize import get_tokenizer
from elmo_tasks.encoders.elmo_cache import (
    LAYER_CHOICES,
    bilm_checksums,
    write_activations,
)
from elmo_tasks.runs.trained import resolve_device

PROG = "python -m elmo_tasks.embed"


class EmbedInputError(ElmoTasksError, ValueError):
    """An input file that cannot be embedded (exit status 1)."""


def read_sentences(
    path: str,
    tokenizer: str,
    text_column: str,
    encoding: str = "utf-8",
    max_tokens: int | None = None,
) -> list[list[str]]:
    """The tokenised sentences of the input, all checked before anything is written: none may
    be empty or longer than ``max_tokens`` tokens."""
    return read_input(path, tokenizer, text_column, encoding, max_tokens)[1]


def read_input(
    path: str,
    tokenizer: str,
    text_column: str,
    encoding: str = "utf-8",
    max_tokens: int | None = None,
) -> tuple[list[str], list[list[str]]]:
    """The lines (or texts) of the input and their tokens, all checked before anything is
    written: none may be empty or longer than ``max_tokens`` tokens."""
    tokenize = get_tokenizer(tokenizer)
    if path == "-":
        lines = decode_lines(sys.stdin.buffer.read(), "stdin", encoding, EmbedInputError)
    elif not Path(path).is_file():
        raise EmbedInputError(f"input file not found: {path}")
    elif Path(path).suffix in (".csv", ".tsv", ".jsonl", ".json"):
        from elmo_tasks.data.tables import read_texts

        lines = read_texts(path, text_column, encoding)
    else:
        lines = decode_lines(Path(path).read_bytes(), path, encoding, EmbedInputError)
    sentences = [tokenize(line) for line in lines]
    empty = [i + 1 for i, s in enumerate(sentences) if not s]
    if empty:
        raise EmbedInputError(
            f"{path}: lines {empty[:10]} are empty; remove them (every sentence needs a token)"
        )
    header = 1 if Path(path).suffix in (".csv", ".tsv") else 0  # line numbers in the file
    for index, sentence in enumerate(sentences):
        if max_tokens and len(sentence) > max_tokens:
            source = "stdin" if path == "-" else path
            raise EmbedInputError(too_long(source, index + 1 + header, len(sentence), max_tokens))
    return list(lines), sentences


def check_output(output: str, input_path: str) -> str | None:
    """Why ``output`` cannot be written, or None."""
    target = Path(output).expanduser().resolve()
    if input_path != "-" and Path(input_path).expanduser().resolve() == target:
        return f"output={output} would overwrite the input; choose another file"
    existing = next((p for p in (target.parent, *target.parent.parents) if p.exists()), None)
    if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        return (
            f"output={output}: cannot write into {existing or target.parent} "
            "(no write permission); choose another file"
        )
    return None


PARSER = ArgumentParser(
    "embed",
    [
        Option("options", "options.json: path, URL or preset"),
        Option("weights", "weights.hdf5: path, URL or preset"),
        Option("input", "text file (one sentence per line), table file, or -"),
        Option("output", "hdf5 file to write"),
        Option("layers", "which biLM layers to keep", default="all", choices=LAYER_CHOICES),
        Option("dtype", "stored precision", default="float32", choices=("float32", "float16")),
        Option(
            "precision",
            "fp32 (exact) or bf16 (products in bfloat16: faster, not exact)",
            default="fp32",
            choices=("fp32", "bf16"),
        ),
        Option(
            "format",
            "elmo_tasks (per distinct sentence) or allennlp (per line, as allennlp elmo)",
            default="elmo_tasks",
            choices=("elmo_tasks", "allennlp"),
        ),
        Option(
            "forget_sentences",
            "format=allennlp: leave out sentence_to_index",
            default=False,
            type=bool,
        ),
        Option("tokenizer", "whitespace | simple", default="whitespace"),
        Option("text_column", "column to embed in csv/tsv/jsonl input", default="text"),
        Option(
            "max_tokens",
            "padded token positions per batch; a longer sentence is refused",
            default=DEFAULT_MAX_TOKENS,
            type=int,
        ),
        Option("device", "where the biLM runs", default="cpu"),
        Option("encoding", "the input's text encoding", default="utf-8"),
        Option(
            "verify", "check weights/options against their .sha256 files", default=True, type=bool
        ),
    ],
    description=__doc__.split("\n\n", 1)[1] if __doc__ else "",
)


def main(argv: list[str] | None = None) -> int:
    return PARSER.run(list(sys.argv[1:] if argv is None else argv), _run)


def _run(args: dict) -> int:
    problem = check_output(args["output"], args["input"])
    if problem is None:
        try:
            "".encode(args["encoding"])
        except LookupError:
            problem = (
                f"encoding={args['encoding']!r} is not a known text encoding (e.g. utf-8, latin-1)"
            )
    if problem:
        print(f"embed: {problem}", file=sys.stderr)
        return 2

    import torch

    from elmo_tasks.core.integrity import set_verification
    from elmo_tasks.elmo import ElmoBiLm

    set_verification(args["verify"])
    try:
        resolve_device(args["device"])  # a device name torch does not know: exit status 2
        lines, sentences = read_input(
            args["input"],
            args["tokenizer"],
            args["text_column"],
            args["encoding"],
            args["max_tokens"],
        )
        bilm = ElmoBiLm(args["options"], args["weights"]).to(args["device"])
        manifest = {
            **bilm_checksums(bilm),
            "source": str(args["input"]),
            "precision": args["precision"],
        }
        low_precision = torch.autocast(
            torch.device(args["device"]).type, torch.bfloat16, enabled=args["precision"] == "bf16"
        )
        with low_precision:
            if args["format"] == "allennlp":
                from elmo_tasks.elmo import ElmoEmbedder
                from elmo_tasks.elmo.allennlp_file import write_allennlp_layout

                path = write_allennlp_layout(
                    ElmoEmbedder.from_bilm(bilm, args["max_tokens"]),
                    lines,
                    sentences,
                    args["output"],
                    args["layers"],
                    args["dtype"],
                    forget_sentences=args["forget_sentences"],
                )
            else:
                path = write_activations(
                    bilm,
                    sentences,
                    args["output"],
                    manifest,
                    args["layers"],
                    args["dtype"],
                    args["max_tokens"],
                    write_index=True,
                    fix="free space there, or give output= a file on a disk with room",
                )
    except ElmoTasksError as error:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return getattr(error, "exit_status", 1)
    print(
        f"wrote {len(sentences)} sentences ({len(set(map(tuple, sentences)))} distinct) to {path}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
