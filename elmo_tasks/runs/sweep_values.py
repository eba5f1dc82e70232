"""An experiment that sweeps over experiments passes its own top-level values to every job.

The quickstart (``conf/experiment/quickstart.yaml``) is a multirun over
``experiment=quickstart/baseline,...``: each job composes ``config.yaml`` with its own
experiment instead of the quickstart, so a value the quickstart sets (``threads: 1``) would be
lost. :class:`ExperimentValuesToJobs` (a Hydra callback in ``conf/config.yaml``) finds, when
such a multirun starts, the top-level values (``threads``, ``test``, ``verify_checksums`` ...;
not config groups or nested keys) that the launching experiment sets, and adds each as a fixed
sweep parameter, so every job's override list, ``.hydra/config.yaml`` and results.json carry
it. A value given on the command line or swept already wins. When the command line names the
launching experiment (``python train.py experiment=quickstart``), that choice is taken out of
the jobs' overrides, where it would replace the experiment each job sweeps to. Nothing happens
when the command line chooses the experiments (``-m experiment=a,b``): the experiment composed
first is then only the default that the jobs replace.
"""

from __future__ import annotations

import logging
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from elmo_tasks.core.override_values import override_value

log = logging.getLogger(__name__)

GROUP = "experiment"


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~").strip()


def _parsed(overrides: list[str]) -> list[Any]:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_overrides(overrides)


def _scalars(cfg: DictConfig) -> dict[str, Any]:
    """Top-level keys of ``cfg`` that hold a plain value (not a group or a mapping), unresolved."""
    plain = OmegaConf.to_container(cfg, resolve=False)
    return {
        key: value
        for key, value in plain.items()
        if key != "hydra" and not isinstance(value, (dict, list))
    }


def experiment_values(config: DictConfig, overrides: list[str]) -> dict[str, Any]:
    """The top-level values of ``config`` that its experiment sets: those that change when the
    same command (``overrides``, without sweeps and without the experiment) is composed
    without the experiment."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    loader = GlobalHydra.instance().config_loader()
    fixed = [o.input_line for o in _parsed(overrides) if not o.is_sweep_override()]
    without = loader.load_configuration(
        config.hydra.job.config_name, [*fixed, f"~{GROUP}"], RunMode.RUN
    )
    base = _scalars(without)
    return {key: value for key, value in _scalars(config).items() if base.get(key, ...) != value}


class ExperimentValuesToJobs(Callback):
    """At the start of a multirun over ``experiment`` declared by an experiment: that
    experiment's top-level values become fixed sweep parameters (see the module docstring)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        params = config.hydra.sweeper.get("params") or {}
        if GROUP not in params:
            return
        parsed = _parsed(list(config.hydra.overrides.task))
        chosen = [o for o in parsed if _override_key(o.input_line) == GROUP]
        if any(o.is_sweep_override() for o in chosen):
            return  # the command line sweeps the experiments itself
        others = [o.input_line for o in parsed if all(o is not c for c in chosen)]
        given = {_override_key(o) for o in others}
        values = experiment_values(config, others)
        added = {
            k: override_value(v) for k, v in values.items() if k not in params and k not in given
        }
        with read_write(config.hydra), open_dict(config.hydra):
            if chosen:  # kept, it would replace each job's experiment with the launching one
                config.hydra.overrides.task = others
            for key, value in added.items():
                config.hydra.sweeper.params[key] = value
        if added:
            log.info(
                "every job of this sweep gets the experiment's %s",
                " ".join(f"{k}={v}" for k, v in added.items()),
            )
