"""Pretrain your own ELMo biLM on raw text: ``python -m elmo_tasks.pretrain model=mini``.

Hydra composes conf/pretrain.yaml (model presets in conf/pretrain/model/); see
docs/pretraining.md and :mod:`elmo_tasks.pretraining.run`. Misspelt groups and keys exit 2
with the nearest name; missing data, damaged checkpoints and a full disk print one message
and exit 1.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from elmo_tasks.core.config_errors import stop_on_bad_overrides
from elmo_tasks.core.extra_overrides import with_extra_overrides
from elmo_tasks.core.extras import launcher_argv
from elmo_tasks.core.hydra_argv import parse
from elmo_tasks.core.paths import CONFIG_SEARCH_PATH, keep_library_caches_in
from elmo_tasks.core.reporting import exit_for_ended_jobs, readable_errors
from elmo_tasks.runs.config import register_resolvers

register_resolvers()  # conf/pretrain.yaml's ${config_dir:} and ${project_root:}

CONFIG_NAME = "pretrain"  # conf/pretrain.yaml (elmo_tasks.pretraining.run.CONFIG_NAME)


@hydra.main(version_base="1.3", config_path=CONFIG_SEARCH_PATH, config_name=CONFIG_NAME)
def main(cfg: DictConfig) -> float | None:
    keep_library_caches_in(OmegaConf.select(cfg, "paths.cache_dir", default=None))
    from elmo_tasks.pretraining.run import run  # imports torchmetrics (and matplotlib)

    with readable_errors():
        return run(cfg)


def cli() -> None:
    """The command line: misspelt groups and keys exit 2 with the nearest name, then Hydra runs."""
    sys.argv = [sys.argv[0], *parse(sys.argv[1:]).argv()]  # Hydra's flags first, wherever given
    sys.argv = [sys.argv[0], *launcher_argv(sys.argv[1:], CONFIG_NAME)]  # its extra installed?
    stop_on_bad_overrides(sys.argv[1:], CONFIG_NAME)
    sys.argv = [sys.argv[0], *with_extra_overrides(sys.argv[1:], CONFIG_NAME)]
    main()
    exit_for_ended_jobs()  # a multirun whose jobs diverged ends with status 3


if __name__ == "__main__":
    cli()
