"""The search space of a sweep: Hydra override syntax turned into Optuna distributions.

``hydra.sweeper.params`` and sweep overrides on the command line use Hydra's grammar:

- ``interval(0.0, 0.5)``: a float drawn uniformly; ``tag(int, interval(16, 256))``: an int;
- ``tag(log, interval(1e-4, 1e-2))``: on a log scale (``tag(int, log, ...)`` for ints);
- ``range(32, 256, step=32)``: ints (or floats) on a grid;
- ``choice(max, attention)``: one of the values;
- a plain value (``head=max``): fixed for every trial, not searched.

A key given on the command line replaces the same key of ``params``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    ChoiceSweep,
    IntervalSweep,
    Override,
    RangeSweep,
    Transformer,
)
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from elmo_tasks.core.config_values import ConfigValueError
from elmo_tasks.core.override_values import override_value


def distribution(override: Override) -> BaseDistribution:
    """The Optuna distribution of one sweep override (``interval``, ``range``, ``choice``)."""
    value = override.value()
    key = override.get_key_element()
    if isinstance(value, ChoiceSweep) or (isinstance(value, RangeSweep) and value.shuffle):
        choices = list(override.sweep_iterator(transformer=Transformer.encode))
        bad = [c for c in choices if not isinstance(c, (str, int, float, bool, type(None)))]
        if bad:
            raise ConfigValueError(
                f"hydra.sweeper.params.{key}: choices must be plain values, got {bad[0]!r}"
            )
        return CategoricalDistribution(choices)
    if isinstance(value, RangeSweep):
        start, stop, step = value.start, value.stop, value.step
        if any(isinstance(x, float) for x in (start, stop, step)):
            # Hydra's range excludes its stop; Optuna's high is inclusive.
            last = start + step * (int(round((stop - start) / step)) - 1)
            return FloatDistribution(float(start), float(last), step=float(step))
        return IntDistribution(int(start), int(stop) - int(step), step=int(step))
    if isinstance(value, IntervalSweep):
        log = "log" in value.tags
        if value.start >= value.end or (log and value.start <= 0):
            raise ConfigValueError(
                f"hydra.sweeper.params.{key}: interval({value.start}, {value.end}) is empty"
                + (" or reaches 0 on a log scale" if log else "")
            )
        if "int" in value.tags:  # Hydra reads interval's ends as floats
            return IntDistribution(int(value.start), int(value.end), log=log)
        return FloatDistribution(float(value.start), float(value.end), log=log)
    raise ConfigValueError(f"hydra.sweeper.params.{key}: {override.input_line} is not a search")


def search_space(
    params: Mapping[str, Any] | None, arguments: list[str]
) -> tuple[dict[str, BaseDistribution], dict[str, str]]:
    """The distributions to search and the fixed overrides (``key -> override``) from the
    sweeper's ``params`` and the command line's ``arguments`` (which win)."""
    lines = [f"{key}={value}" for key, value in (params or {}).items()]
    parsed = OverridesParser.create().parse_overrides([*lines, *arguments])
    searched: dict[str, BaseDistribution] = {}
    fixed: dict[str, str] = {}
    for override in parsed:
        key = override.get_key_element()
        searched.pop(key, None)
        fixed.pop(key, None)
        if override.is_sweep_override():
            searched[key] = distribution(override)
        else:
            fixed[key] = override.input_line
    return searched, fixed


def trial_overrides(params: Mapping[str, Any], fixed: Mapping[str, str]) -> list[str]:
    """The job's overrides: the trial's sampled values, then the fixed ones."""
    return [f"{key}={override_value(value)}" for key, value in params.items()] + list(
        fixed.values()
    )
