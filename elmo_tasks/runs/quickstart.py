"""The quickstart that `python train.py` runs (conf/experiment/quickstart.yaml).

The baseline, baseline + ELMo and ELMo alone (the package's own ``mini`` biLM) are trained
on the project's own sentiment corpus (:mod:`elmo_tasks.data.synthetic`), three seeds each,
as one Hydra multirun; :class:`QuickstartSummary` then prints the comparison of the runs,
with the paired differences between models. The two resolvers below are registered by
:func:`elmo_tasks.runs.config.register_resolvers`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

# The quickstart's models (conf/experiment/quickstart/*.yaml) that need the mini biLM.
ELMO_MODELS = ("baseline_elmo", "elmo")


def mini_available() -> bool:
    """Whether the package holds the mini biLM's options.json and weights.hdf5."""
    from elmo_tasks.elmo.hub import (
        packaged_available,  # imported here: elmo_tasks.elmo imports torch
    )

    return packaged_available("mini")


def data_file(split: str) -> str:
    """``${quickstart_data:SPLIT}``: the path of one split of the quickstart corpus, written on
    first use into ``$ELMO_TASKS_CACHE/quickstart`` (default ``~/.cache/elmo_tasks/runs/quickstart``)."""
    from elmo_tasks.data.synthetic import write_quickstart_data
    from elmo_tasks.elmo.hub import cache_dir

    return str(write_quickstart_data(cache_dir() / "quickstart")[split])


def mini_missing_message(done: bool = False) -> str:
    """Why ELMo is (``done``: was) left out of the quickstart, and what to do."""
    from elmo_tasks.elmo.hub import PACKAGED

    return (
        f"ELMo {'was' if done else 'is'} skipped: this installation lacks the package's mini biLM "
        f"({PACKAGED['mini']}/options.json and weights.hdf5), so only the baseline "
        f"{'ran' if done else 'runs'}. Reinstall the package to get it back, or train ELMo "
        "from other weights: python train.py encoder=elmo encoder.options_file=PATH encoder.weight_file=PATH"
    )


def sweep_models(*models: str) -> str:
    """``${quickstart_models:baseline,baseline_elmo,elmo}``: the experiments the quickstart
    sweeps over (``quickstart/<model>``), comma-separated, without the ELMo ones (and with a
    warning) when the package lacks the mini biLM's files."""
    if any(model in ELMO_MODELS for model in models) and not mini_available():
        print(f"warning: {mini_missing_message()}", file=sys.stderr)
        models = tuple(model for model in models if model not in ELMO_MODELS)
    return ",".join(f"quickstart/{model}" for model in models)


def single_run_argv(argv: list[str], groups: Iterable[str]) -> list[str]:
    """``argv`` with ``experiment=none`` before its overrides when it chooses a config group
    (``task=``, ``encoder=``, ``head=``, ...) but no ``experiment=`` or ``hparams_search=``: a
    command that picks its parts by hand means that single run, not the quickstart's multirun.
    Otherwise ``argv`` unchanged (plain ``python train.py`` stays the quickstart). Hydra's flags
    (``--config-dir DIR``, ``-m`` ...) come first either way, wherever they were given."""
    from elmo_tasks.core.hydra_argv import parse

    line = parse(argv)
    keys = {arg.split("=", 1)[0].lstrip("+~") for arg in line.overrides if "=" in arg}
    if keys & {"experiment", "hparams_search"} or not keys & set(groups):
        return line.argv()
    return [*line.flags, "experiment=none", *line.overrides]


class QuickstartSummary(Callback):
    """At the end of the multirun: the comparison of its runs (``python -m elmo_tasks.compare
    paths=SWEEP_DIR``) printed to the console and written to ``comparison.md`` / ``comparison.png``
    in the sweep folder."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from elmo_tasks.results.compare import ComparisonError, compare_runs
        from elmo_tasks.results.table import show_comparison

        sweep_dir = Path(config.hydra.sweep.dir)
        print(f"\nComparison of the runs in {sweep_dir}:\n", flush=True)
        try:
            show_comparison(compare_runs([sweep_dir]))
        except ComparisonError as error:
            print(f"compare: {error}", file=sys.stderr)
        sys.stdout.flush()
        if not mini_available():
            print(f"\n{mini_missing_message(done=True)}", flush=True)
