"""Train and evaluate one experiment: ``elmo-tasks train experiment=sst2_elmo seed=1`` (or
``python train.py ...`` in a checkout).

Hydra composes the package's config.yaml (``pkg://elmo_tasks.conf``; add your own configs with
``--config-dir DIR``) with the chosen groups; see docs/configuration.md. With no arguments it
runs the quickstart: ELMo against a baseline on data the package writes itself, offline,
ending with a comparison table. Choosing any group (``task=``, ``encoder=``, ``head=`` ...)
without ``experiment=`` makes exactly that single run (as ``experiment=none`` does).
Returns the main validation metric, so Hydra sweepers can optimise it.
A misspelt group option or key, a value of the wrong type or range, or a folder that cannot be
written stops the run with a one-line suggestion (exit status 2);
missing data or weights, an unreachable hub dataset, absent CUDA or a data file that cannot
be read (a malformed line, a missing column, bytes not in ``task.encoding``) stop it with one
message that says how to fix it (exit status 1; see elmo_tasks/runs/preflight.py).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from elmo_tasks.core.config_errors import stop_on_bad_overrides
from elmo_tasks.core.config_values import run_folder_problem
from elmo_tasks.core.extra_overrides import with_extra_overrides
from elmo_tasks.core.extras import launcher_argv
from elmo_tasks.core.hydra_argv import parse
from elmo_tasks.core.paths import CONFIG_SEARCH_PATH, DEFAULT_PROJECT_ROOT, keep_library_caches_in
from elmo_tasks.core.reporting import exit_for_ended_jobs, readable_errors
from elmo_tasks.runs.config import register_resolvers
from elmo_tasks.runs.quickstart import single_run_argv

register_resolvers(DEFAULT_PROJECT_ROOT)

# Groups whose choice on the command line (without experiment=) means one run of those parts.
CHOSEN_GROUPS = ("task", "encoder", "head", "optim", "trainer", "logger", "callbacks")


@hydra.main(version_base="1.3", config_path=CONFIG_SEARCH_PATH, config_name="config")
def hydra_main(cfg: DictConfig) -> float | None:
    keep_library_caches_in(OmegaConf.select(cfg, "paths.cache_dir", default=None))
    from elmo_tasks.core.run_files import forget_run_files, restore_run_files
    from elmo_tasks.runs.experiment import run

    value = None  # a multirun job that diverged ends here without one (see readable_errors)
    try:
        # missing data/weights, hub offline, no CUDA: the message alone, exit status 1
        with readable_errors():
            value = run(cfg)
    except BaseException:
        restore_run_files()  # a resume that failed: the run folder's files as they were
        raise
    forget_run_files()
    return value


def cli(argv: Sequence[str] | None = None) -> None:
    """Check the overrides (exit 2 with a suggestion), then run the Hydra app on ``argv``
    (default ``sys.argv[1:]``)."""
    args = parse(sys.argv[1:] if argv is None else argv).argv()  # Hydra's flags first
    # a launcher whose extra is missing: exit 2, or the quickstart's jobs one at a time
    args = launcher_argv(single_run_argv(args, CHOSEN_GROUPS))
    stop_on_bad_overrides(args, extra=run_folder_problem(args, Path.cwd() / "outputs"))
    sys.argv = [sys.argv[0], *with_extra_overrides(args, "config")]  # $ELMO_TASKS_EXTRA_OVERRIDES
    hydra_main()
    exit_for_ended_jobs()  # a multirun whose jobs diverged ends with status 3


main = cli  # the name other tools' modules use for their entry point

if __name__ == "__main__":
    cli()
