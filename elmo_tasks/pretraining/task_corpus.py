"""Unlabelled training text of downstream tasks, for domain-adapted biLM pretraining.

    elmo-tasks task-corpus tasks=sst2,tweet_sentiment,sst5,conll2003 output=tasks.txt

The ELMo paper (section 5) gains by training the biLM further on the task's own text. This
writes that text: for each task preset (``conf/task/<name>.yaml``) the *training* split
only, read and tokenised exactly as the experiments read it (a validation slice carved from
train is left out too), one sentence per line with tokens joined by spaces. Validation and
test text never enter the file. Exact duplicates are dropped, and so are lines that occur
as a contiguous run of tokens inside a longer line (SST-2's training set lists every phrase
of each sentence; the biLM should read each sentence once, not its 60 sub-phrases).
Pass the file to ``python -m elmo_tasks.pretrain data.train_files=[...]`` beside a general
corpus.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from elmo_tasks.core.atomic import atomic_write_text


def task_training_sentences(
    task: str, data_dir: str | None = None, encoding: str | None = None
) -> list[list[str]]:
    """The token lists of the training split of task preset ``task``, as experiments see them.
    An unknown preset is a :class:`ConfigValueError` (exit status 2) naming the presets; missing
    data is reported as ``train.py`` reports it, before anything is read."""
    import difflib

    import hydra

    from elmo_tasks.core.checks import component_problems, raise_problems
    from elmo_tasks.core.config_values import ConfigValueError
    from elmo_tasks.core.paths import config_dir
    from elmo_tasks.runs.config import compose_config

    presets = sorted(path.stem for path in (config_dir() / "task").glob("*.yaml"))
    if task not in presets:
        nearest = difflib.get_close_matches(task, presets, n=1)
        hint = f"did you mean tasks={nearest[0]}? " if nearest else ""
        raise ConfigValueError(
            f"tasks: {task!r} is not a task preset; {hint}presets: {', '.join(presets)}"
        )
    overrides = ["experiment=none", f"task={task}"] + (
        [f"paths.data_dir={data_dir}"] if data_dir else []
    )
    overrides += [f"task.encoding={encoding}"] if encoding else []
    cfg = compose_config("/tmp/elmo_tasks_task_corpus", overrides)
    raise_problems(component_problems(cfg.task, "task", cfg))
    datamodule = hydra.utils.instantiate(cfg.task)
    datamodule.setup("fit")
    return datamodule.sentences()["train"]


def drop_contained(sentences: Iterable[Sequence[str]]) -> list[list[str]]:
    """Distinct sentences, in first-seen order, without those that are a contiguous token
    run of a longer sentence in the input."""
    unique: dict[tuple[str, ...], None] = dict.fromkeys(tuple(s) for s in sentences if s)
    spans: set[tuple[str, ...]] = set()
    for sentence in sorted(unique, key=len, reverse=True):
        if sentence in spans:
            continue
        n = len(sentence)
        spans.update(sentence[i:j] for i in range(n) for j in range(i + 1, n + 1) if j - i < n)
    return [list(s) for s in unique if s not in spans]


def write_task_corpus(
    tasks: Sequence[str],
    output: str | Path,
    data_dir: str | None = None,
    encoding: str | None = None,
) -> dict[str, dict[str, int]]:
    """Write the tasks' training text to ``output``; returns lines and tokens per task.
    ``encoding`` overrides each task's ``task.encoding``."""
    lines: list[str] = []
    sizes: dict[str, dict[str, int]] = {}
    for task in tasks:
        kept = drop_contained(task_training_sentences(task, data_dir, encoding))
        lines += [" ".join(s) for s in kept]
        sizes[task] = {"lines": len(kept), "tokens": sum(len(s) for s in kept)}
    atomic_write_text(Path(output), "".join(line + "\n" for line in lines))
    return sizes
