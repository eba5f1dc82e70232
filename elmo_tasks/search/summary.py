"""What a finished search leaves in its sweep folder, and prints:

- ``optimization_results.yaml``: the best trial (number, value, parameters, run folder), the
  trials by state, and Optuna's parameter-importance ranking;
- ``comparison.md`` / ``comparison.png``: compare's table over the trials' run folders.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import TrialState

from elmo_tasks.core.atomic import atomic_write_text
from elmo_tasks.results.compare import ComparisonError, compare_runs
from elmo_tasks.search.budget import counted
from elmo_tasks.search.storage import describe

log = logging.getLogger(__name__)
RESULTS_FILE = "optimization_results.yaml"


def importances(study: optuna.Study) -> dict[str, float]:
    """Optuna's parameter importances (its default evaluator, PED-ANOVA), {} when the finished
    trials cannot rank anything (fewer than two, or nothing varied)."""
    try:
        return {
            k: round(float(v), 4) for k, v in optuna.importance.get_param_importances(study).items()
        }
    except (ValueError, RuntimeError) as error:
        log.info("no parameter importances: %s", error)
        return {}


def write_summary(study: optuna.Study, sweep_dir: Path, url: str, n_trials: int) -> dict[str, Any]:
    """Write and print what the study found; returns what went into the yaml file."""
    trials = counted(study.get_trials(deepcopy=False))
    states = Counter(t.state.name.lower() for t in trials)
    summary: dict[str, Any] = {
        "name": "optuna",
        "study_name": study.study_name,
        "storage": describe(url),
        "n_trials": n_trials,
        "trials": dict(sorted(states.items())),
    }
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if complete and len(study.directions) == 1:
        best = study.best_trial
        summary.update(
            best_trial=best.number,
            best_value=best.value,
            best_params=best.params,
            best_run_dir=best.user_attrs.get("run_dir"),
            param_importances=importances(study),
        )
    elif complete:
        summary["best_trials"] = [
            {"number": t.number, "values": t.values, "params": t.params} for t in study.best_trials
        ]
    sweep_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(sweep_dir / RESULTS_FILE, yaml.safe_dump(summary, sort_keys=False))
    run_dirs = sorted({Path(t.user_attrs["run_dir"]) for t in trials if "run_dir" in t.user_attrs})
    report = None
    try:
        report = compare_runs([p for p in run_dirs if p.is_dir()] or [sweep_dir], out=sweep_dir)
    except ComparisonError as error:
        log.info("no comparison of the trials: %s", error)
    _print(summary, sweep_dir, report is not None)
    return summary


def _print(summary: dict[str, Any], sweep_dir: Path, compared: bool) -> None:
    counts = ", ".join(f"{n} {state}" for state, n in summary["trials"].items())
    lines = [f"study {summary['study_name']} ({summary['storage']}): {counts}"]
    if "best_trial" in summary:
        params = " ".join(f"{k}={v}" for k, v in summary["best_params"].items())
        lines.append(f"best trial {summary['best_trial']}: {summary['best_value']:.4f}  {params}")
        lines.append(f"best run: {summary['best_run_dir']}")
        if summary["param_importances"]:
            ranked = ", ".join(f"{k} {v:.2f}" for k, v in summary["param_importances"].items())
            lines.append(f"parameter importances: {ranked}")
    lines.append(f"results: {sweep_dir / RESULTS_FILE}")
    if compared:
        lines.append(f"trials compared: {sweep_dir / 'comparison.md'}")
    print("\n".join(lines), flush=True)
