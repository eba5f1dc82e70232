"""``elmo-tasks pretrain-export checkpoint=CKPT export_dir=DIR``: a pretraining checkpoint in the
published ELMo format (see :mod:`elmo_tasks.pretraining.export`)."""

from __future__ import annotations

import logging
import sys

from elmo_tasks.cli.arguments import ArgumentParser, Option
from elmo_tasks.core.errors import ElmoTasksError
from elmo_tasks.core.integrity import set_verification

PARSER = ArgumentParser(
    "pretrain-export",
    [
        Option("checkpoint", "a .ckpt written by python -m elmo_tasks.pretrain", positional=True),
        Option("export_dir", "folder to write the files into (created if needed)", positional=True),
        Option("verify", "check the checkpoint against its .sha256 file", default=True, type=bool),
    ],
    description="Write options.json, weights.hdf5, vocab.txt and pretrain_info.json of a pretraining checkpoint.",
)


def main(argv: list[str] | None = None) -> int:
    return PARSER.run(list(sys.argv[1:] if argv is None else argv), _run)


def _run(args: dict) -> int:
    from elmo_tasks.pretraining.export import export_checkpoint  # torch: not for --help

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    set_verification(args["verify"])
    try:
        export_dir = export_checkpoint(args["checkpoint"], args["export_dir"])
    except ElmoTasksError:  # damaged checkpoint, full disk: the message alone, from PARSER.run
        raise
    except (FileNotFoundError, ValueError) as error:
        print(f"pretrain-export: {error}", file=sys.stderr)
        return 1
    print(f"options_file={export_dir / 'options.json'} weight_file={export_dir / 'weights.hdf5'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
