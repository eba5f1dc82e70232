"""``elmo-tasks pretrain-word2vec data.train_files=... word2vec.dim=300``: the same-corpus
static baseline (see :mod:`elmo_tasks.pretraining.word2vec`); prints the
``encoder.pretrained_file=`` override that uses it."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from elmo_tasks.core.config_errors import stop_on_bad_overrides
from elmo_tasks.core.extra_overrides import with_extra_overrides
from elmo_tasks.core.extras import WORD2VEC, launcher_argv, require
from elmo_tasks.core.hydra_argv import parse
from elmo_tasks.core.paths import CONFIG_SEARCH_PATH
from elmo_tasks.core.reporting import readable_errors
from elmo_tasks.runs.config import register_resolvers

register_resolvers()  # conf/pretrain.yaml's ${config_dir:} and ${project_root:}


@hydra.main(version_base="1.3", config_path=CONFIG_SEARCH_PATH, config_name="pretrain")
def main(cfg: DictConfig) -> None:
    # imported here: --help and tab completion answer without loading the corpus readers
    from elmo_tasks.pretraining.word2vec import run

    with readable_errors():
        print(f"encoder.pretrained_file={run(cfg)}")


def cli() -> None:
    """The command line: without gensim (the ``word2vec`` extra) or a chosen launcher's plugin
    it exits 2 naming the extra; misspelt groups and keys exit 2 with the nearest name; then
    Hydra runs."""
    line = parse(sys.argv[1:])
    if not line.informational:  # --help and tab completion answer without gensim
        require(WORD2VEC, "pretrain-word2vec")
    sys.argv = [sys.argv[0], *launcher_argv(line.argv(), "pretrain")]  # Hydra's flags first
    stop_on_bad_overrides(sys.argv[1:], "pretrain")
    sys.argv = [sys.argv[0], *with_extra_overrides(sys.argv[1:], "pretrain")]
    main()


if __name__ == "__main__":
    cli()
