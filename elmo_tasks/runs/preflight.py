"""The pre-flight step: before anything is built, ask every part of the config what is wrong
with it, and stop the run with one message that says what and how to fix it.

:func:`check` is called first thing by ``experiment.run`` and ``pretraining.run.run``:

1. no mandatory value (``???``) is left unset (``task=text_classification`` needs
   ``task.train_file``); this alone stops the run (exit status 2), as nothing else can be
   checked without those values;
2. then everything else, gathered into one message (see :mod:`elmo_tasks.core.checks`):
   the run's own values and folders (:class:`RunSchema`: ``seed``, ``threads`` ...;
   ``paths.output_dir``, callback folders), every ``_target_`` imported (a module not on
   ``PYTHONPATH`` is named with its config key) and the constructors of the task, encoder
   and head checked against what the run passes them (:mod:`~elmo_tasks.runs.contracts`),
   the trainer's values and devices (:mod:`~elmo_tasks.runs.trainer_checks`, CUDA when asked
   for), the optimiser's (:mod:`~elmo_tasks.tasks.optim_checks`), and whatever each
   component named by a ``_target_`` says of its own config through its ``check_config``:
   the data module its sizes, files and hub dataset, the encoder its weights, word vectors
   and cache folder. ``extra`` adds a caller's own checks (pretraining: its corpus).

Every key is checked against the schema that its component declares (:mod:`elmo_tasks.core.schema`).
Bad values, targets and constructors alone exit with status 2 (a config mistake); missing files, weights, an unreachable
hub or absent CUDA with 1. Nothing here builds a model or reads a data set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import (
    GrammarParseError,
    InterpolationResolutionError,
    InterpolationToMissingValueError,
)

from elmo_tasks.core.checks import (
    Problem,
    component_problems,
    gathered,
    hydra_choice,
    raise_problems,
    target_class,
    value_problems,
)
from elmo_tasks.core.config_values import ConfigValueError, writable_folder
from elmo_tasks.core.errors import MissingValueError, train_command
from elmo_tasks.core.schema import check_schema, choice, whole
from elmo_tasks.core.targets import import_problems
from elmo_tasks.core.threads import is_adaptive
from elmo_tasks.runs.contracts import contract_problems
from elmo_tasks.runs.trainer_checks import check_trainer_values, cuda_problem
from elmo_tasks.tasks.optim_checks import check_optim_values

Check = Callable[[DictConfig], Iterable[Problem | None]]


def check(cfg: DictConfig, command: str = "python train.py", extra: Iterable[Check] = ()) -> None:
    """All pre-flight checks for a composed config; raises one error for every problem found."""
    check_missing_values(cfg)
    check_interpolations(cfg)
    problems = all_problems(cfg, command)
    for more in extra:
        problems += [p for p in more(cfg) if p]
    raise_problems(problems)


def check_values(cfg: DictConfig) -> None:
    """Only the values of the wrong type or range and the folders that cannot be written, as one
    :class:`~elmo_tasks.core.config_values.ConfigValueError`."""
    error = gathered(value_problems(all_problems(cfg)))
    if isinstance(error, ConfigValueError):
        raise error


@dataclass
class RunSchema:
    """The run's own keys (conf/config.yaml, conf/pretrain.yaml)."""

    seed: int = whole(minimum=0, maximum=2**32 - 1, example="1")
    threads: int | None = whole(minimum=1)
    verify_checksums: bool | None = choice()
    test: bool | None = choice()


def all_problems(cfg: DictConfig, command: str = "python train.py") -> list[Problem | None]:
    """The run's own problems, then what each config node with a ``_target_`` says of itself:
    targets that cannot be imported, constructors that cannot take what the run passes
    (:mod:`elmo_tasks.runs.contracts`), each component's schema and ``check_config``."""
    problems = run_problems(cfg, command)
    problems += import_problems(cfg)
    problems += contract_problems(cfg)
    for name in cfg:
        if name != "hydra":
            problems += component_problems(cfg.get(name), str(name), cfg)
    return problems


def run_problems(cfg: DictConfig, command: str = "python train.py") -> list[Problem | None]:
    """The run's own values and folders, the trainer's (with CUDA) and the optimiser's."""
    adaptive = is_adaptive(cfg.get("threads"))  # threads=adaptive: a word, not a number
    problems: list[Problem | None] = [
        problem
        for problem in check_schema(cfg, RunSchema, "")
        if not (adaptive and problem.startswith("threads="))
    ]
    if cfg.get("trainer") is not None:
        problems += check_trainer_values(cfg.trainer)
        problems.append(cuda_problem(cfg.trainer, command=command))
    if cfg.get("optim") is not None:
        problems += check_optim_values(cfg.optim)
    problems.append(writable_folder(_resolved(cfg, "paths.output_dir"), "paths.output_dir"))
    for key in ("paths.cache_dir", "paths.datasets_cache"):
        problems.append(writable_folder(_resolved(cfg, key), key))
    problems.append(writable_folder(_resolved(cfg, "export_dir"), "export_dir"))  # pretraining
    for name in cfg.get("callbacks") or {}:
        problems.append(
            writable_folder(
                _resolved(cfg, f"callbacks.{name}.dirpath"), f"callbacks.{name}.dirpath"
            )
        )
    return problems


# --------------------------------------------------------------------------- mandatory values


def check_missing_values(cfg: DictConfig) -> None:
    """:class:`MissingValueError` naming every ``???`` value that was not given."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if not missing:
        return
    verb = "is" if len(missing) == 1 else "are"
    lines = [f"{', '.join(missing)} must be given (marked ??? in the config) but {verb} not set."]
    if "task.train_file" in missing:
        task = cfg.task
        choice = hydra_choice("task") or task.get("name", "...")
        if getattr(target_class(task), "kind", None) == "tagging":
            example = (
                f"task={choice} head=tagger_crf task.train_file=/path/to/train.conll "
                "task.test_file=/path/to/test.conll"
            )
            what = "a CoNLL-style column file (one `token ... tag` line per token, blank lines between sentences)"
        else:
            example = f"task={choice} task.train_file=/path/to/train.csv task.text_column=text task.label_column=label"
            what = "a .csv, .tsv or .jsonl file with a text and a label column"
        lines.append(f"task={choice} trains on your own files: give {what}, e.g.")
        lines.append(f"  {train_command(example)}")
        lines.append(
            "or pick a task with data of its own: task=sst2, tweet_sentiment, sst5, sst3 or conll2003."
        )
    else:
        lines.append(
            "Set them on the command line, e.g. " + " ".join(f"{key}=VALUE" for key in missing)
        )
    raise MissingValueError("\n".join(lines))


def check_interpolations(cfg: DictConfig) -> None:
    """:class:`ConfigValueError` naming every value whose ``${...}`` does not resolve (an unknown
    key, an unset environment variable, a resolver that does not exist, a syntax error)."""
    problems = _interpolation_problems(cfg, "")
    if problems:
        fix = (
            "write ${other.key} for another config value, ${oc.env:NAME,default} for an environment variable, "
            "or give the value itself"
        )
        raise ConfigValueError(
            "\n".join(["config values that cannot be resolved:", *problems, fix])
        )


def _interpolation_problems(node: DictConfig | ListConfig, prefix: str) -> list[str]:
    problems = []
    keys = (
        range(len(node))
        if isinstance(node, ListConfig)
        else [k for k in node.keys() if k != "hydra"]
    )
    for key in keys:
        child = node._get_node(key)
        full = (
            f"{prefix}[{key}]"
            if isinstance(node, ListConfig)
            else f"{prefix}{'.' if prefix else ''}{key}"
        )
        if child is None:
            continue
        if child._is_interpolation():
            try:
                node[key]
            except InterpolationToMissingValueError:
                continue  # reported as a missing value
            except (InterpolationResolutionError, GrammarParseError) as error:
                reason = str(getattr(error, "msg", None) or error).splitlines()[0]
                problems.append(f"  - {full}={child._value()}: {reason}")
        elif (
            isinstance(child, (DictConfig, ListConfig))
            and not child._is_missing()
            and not child._is_none()
        ):
            problems += _interpolation_problems(child, full)
    return problems


def _resolved(cfg: DictConfig, key: str) -> Any:
    """The value at ``key``, or None when it is absent or needs a running Hydra to resolve."""
    try:
        return OmegaConf.select(cfg, key, default=None)
    except Exception:  # noqa: BLE001 - ${hydra:...} outside a Hydra run
        return None
