"""The scores of one finished run, printed when ``train.py`` ends: a table of validation and
test metrics (the main metric first, in bold) that reads at 80 columns, and where results.json
is. A job of a multirun prints one line instead (its sweep's comparison follows)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def in_multirun() -> bool:
    """Whether this process runs a job of a Hydra multirun."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _value(metrics: Mapping[str, Any], name: str) -> str:
    value = metrics.get(name)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "–"
    return "nan" if math.isnan(value) else f"{value:.4f}"


def results_table(results: Mapping[str, Any]) -> Table:
    """One row per metric, a column each for validation and test (when the run was tested)."""
    val, test = results.get("val") or {}, results.get("test") or {}
    main = results.get("main_metric")
    names = list(dict.fromkeys([*val, *test]))
    names.sort(key=lambda name: name != main)
    table = Table()
    table.add_column("metric", no_wrap=True)
    table.add_column("validation", justify="right")
    if test:
        table.add_column("test", justify="right")
    for name in names:
        cells = [escape(name), _value(val, name)] + ([_value(test, name)] if test else [])
        if name == main:
            cells = [f"[bold]{cell}[/bold]" for cell in cells]
        table.add_row(*cells)
    return table


def heading(results: Mapping[str, Any]) -> str:
    """``sst2 · ConcatEncoder + MaxPoolingClassifier · seed 42``."""
    parts = (
        results.get("task"),
        f"{results.get('encoder')} + {results.get('head')}" if results.get("encoder") else None,
        f"seed {results.get('seed')}",
    )
    return " · ".join(str(part) for part in parts if part is not None)


def one_line(results: Mapping[str, Any]) -> str:
    """``val accuracy 0.8500, test accuracy 0.8300``: the main metric of each split."""
    main = results.get("main_metric")
    parts = [
        f"{label} {main} {_value(results.get(split) or {}, main)}"
        for split, label in (("val", "val"), ("test", "test"))
        if main in (results.get(split) or {})
    ]
    pruned = results.get("pruned")
    if pruned:  # a trial its search stopped early
        parts.append(f"pruned after epoch {pruned.get('epoch')}")
    return ", ".join(parts) or "no metrics"


def show_run_results(
    results: Mapping[str, Any], path: Path, console: Console | None = None
) -> None:
    """Print the run's scores (a table; one line in a multirun job) and the results.json path."""
    console = console or Console()
    if in_multirun():
        console.print(
            f"{one_line(results)} (seed {results.get('seed')}); results: {path}",
            soft_wrap=True,
            markup=False,
            highlight=False,
        )
        return
    console.print(heading(results), soft_wrap=True, markup=False, highlight=False)
    console.print(results_table(results))
    console.print(f"results: {path}", soft_wrap=True, markup=False, highlight=False)
