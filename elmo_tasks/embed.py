"""Write ELMo activations of a text file to hdf5: ``python -m elmo_tasks.embed``.

    elmo-tasks embed options=small weights=small input=sentences.txt output=elmo.h5 \\
        [layers=all|top|average] [dtype=float16]      (or python -m elmo_tasks.embed ...)

Input: a ``.txt`` file with one sentence per line (``-`` for stdin), tokenised by
``tokenizer`` (whitespace by default), or a ``.csv``/``.tsv``/``.jsonl`` file whose
``text_column`` is embedded. Output: one dataset per distinct sentence named by its
stable id (SHA-1 of its tokens), shaped (layers, n_tokens + 2, dim) with the sentence
boundaries kept, plus ``sentence_ids`` (the id of input line k at row k) and a manifest
of the options/weights checksums in the file attributes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .arguments import ArgumentParser, Option
from .cache import LAYER_CHOICES, bilm_checksums, write_activations
from .data.tokenize import get_tokenizer
from .elmo import ElmoBiLm


def read_sentences(path: str, tokenizer: str, text_column: str) -> list[list[str]]:
    tokenize = get_tokenizer(tokenizer)
    if path == "-":
        lines = sys.stdin.read().splitlines()
    elif Path(path).suffix in (".csv", ".tsv", ".jsonl", ".json"):
        from .data.classification import read_table

        split = read_table(path, text_column=text_column, label_column=text_column)
        lines = split.dataset["text"]
    else:
        if not Path(path).is_file():
            raise SystemExit(f"input file not found: {path}")
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    sentences = [tokenize(line) for line in lines]
    empty = [i + 1 for i, s in enumerate(sentences) if not s]
    if empty:
        raise SystemExit(f"{path}: lines {empty[:10]} are empty; remove them (every sentence needs a token)")
    return sentences


PARSER = ArgumentParser(
    "embed",
    [
        Option("options", "options.json: path, URL or preset"),
        Option("weights", "weights.hdf5: path, URL or preset"),
        Option("input", "text file (one sentence per line), table file, or -"),
        Option("output", "hdf5 file to write"),
        Option("layers", "which biLM layers to keep", default="all", choices=LAYER_CHOICES),
        Option("dtype", "stored precision", default="float32", choices=("float32", "float16")),
        Option("tokenizer", "whitespace | simple", default="whitespace"),
        Option("text_column", "column to embed in csv/tsv/jsonl input", default="text"),
        Option("max_tokens", "padded token positions per batch", default=4096, type=int),
        Option("device", "where the biLM runs", default="cpu"),
    ],
    description=__doc__.split("\n\n", 1)[1] if __doc__ else "",
)


def main(argv: list[str] | None = None) -> int:
    return PARSER.run(list(sys.argv[1:] if argv is None else argv), _run)


def _run(args: dict) -> int:
    sentences = read_sentences(args["input"], args["tokenizer"], args["text_column"])
    bilm = ElmoBiLm(args["options"], args["weights"]).to(args["device"])
    manifest = {**bilm_checksums(bilm), "source": str(args["input"])}
    path = write_activations(bilm, sentences, args["output"], manifest, args["layers"], args["dtype"],
                             args["max_tokens"], write_index=True)
    print(f"wrote {len(sentences)} sentences ({len(set(map(tuple, sentences)))} distinct) to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
