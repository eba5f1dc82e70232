"""Write ELMo activations of a text file to hdf5: ``python -m elmo_tasks.embed``.

    python -m elmo_tasks.embed --options small --weights small \\
        --input sentences.txt --output elmo.h5 [--layers all|top|average] [--dtype float16]

Input: a ``.txt`` file with one sentence per line (``-`` for stdin), tokenised by
``--tokenizer`` (whitespace by default), or a ``.csv``/``.tsv``/``.jsonl`` file whose
``--text-column`` is embedded. Output: one dataset per distinct sentence named by its
stable id (SHA-1 of its tokens), shaped (layers, n_tokens + 2, dim) with the sentence
boundaries kept, plus ``sentence_ids`` (the id of input line k at row k) and a manifest
of the options/weights checksums in the file attributes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m elmo_tasks.embed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--options", required=True, help="options.json: path, URL or preset")
    parser.add_argument("--weights", required=True, help="weights.hdf5: path, URL or preset")
    parser.add_argument("--input", required=True, help="text file (one sentence per line), table file, or -")
    parser.add_argument("--output", required=True, help="hdf5 file to write")
    parser.add_argument("--layers", choices=LAYER_CHOICES, default="all")
    parser.add_argument("--dtype", choices=("float32", "float16"), default="float32")
    parser.add_argument("--tokenizer", default="whitespace", help="whitespace | simple")
    parser.add_argument("--text-column", default="text", help="column to embed in csv/tsv/jsonl input")
    parser.add_argument("--max-tokens", type=int, default=4096, help="padded token positions per batch")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    sentences = read_sentences(args.input, args.tokenizer, args.text_column)
    bilm = ElmoBiLm(args.options, args.weights).to(args.device)
    manifest = {**bilm_checksums(bilm), "source": str(args.input)}
    path = write_activations(bilm, sentences, args.output, manifest, args.layers, args.dtype, args.max_tokens,
                             write_index=True)
    print(f"wrote {len(sentences)} sentences ({len(set(map(tuple, sentences)))} distinct) to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
