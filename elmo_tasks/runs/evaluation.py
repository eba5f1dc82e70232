"""A trained run scored on a labelled file: ``run.evaluate(path)`` and ``elmo-tasks evaluate``.

The file is read by the run's own data module (its reader, columns, tokeniser, label set and
tag scheme, long sentences cut as in training) into a split of its own, batched as training
batched its test split, and scored by the metric code the test epoch uses. Given the run's
own test file the metrics are those of ``results.json`` exactly. Besides them: precision,
recall, F1 and support per class and the confusion matrix for a classifier; per entity type
(conlleval's span rules, as the metrics) for a tagger.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from elmo_tasks.core.errors import DataFormatError, ElmoTasksError
from elmo_tasks.core.limits import DEFAULT_MAX_TOKENS, too_long
from elmo_tasks.data.evaluation_split import setup_evaluation

# ``run`` below is a ``elmo_tasks.runs.trained.TrainedRun`` (not imported: trained imports this).
TrainedRun = Any

AS_IN_TRAINING = "run"
ALL = "all"


class EvaluationInputError(ElmoTasksError, ValueError):
    """A labelled file that cannot be scored (missing, empty, a missing column, a label the
    run does not know): a usage mistake, exit status 2."""

    exit_status = 2


def sample_limit(run: TrainedRun, max_samples: int | str | None) -> int | None:
    """How many examples to score: ``"run"`` -> the run's ``task.max_eval_samples`` (as its
    test split was capped), ``"all"`` or None -> every one, a number -> the first N."""
    if max_samples == AS_IN_TRAINING:
        limit = run.config.task.get("max_eval_samples") if run.config is not None else None
        return None if limit is None else int(limit)
    if max_samples in (ALL, None):
        return None
    if isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 1:
        raise ValueError(f"max_samples must be 'run', 'all' or a number >= 1, got {max_samples!r}")
    return max_samples


def as_logged(value: Any) -> float:
    """``value`` as Lightning logs it and results.json keeps it: a float32, back as a float."""
    return float(torch.as_tensor(value, dtype=torch.float32))


def evaluate(
    run: TrainedRun,
    source: str | Path,
    max_samples: int | str | None = AS_IN_TRAINING,
    batch_size: int | None = None,
    max_tokens: int | None = DEFAULT_MAX_TOKENS,
) -> dict[str, Any]:
    """Score ``run`` on the labelled ``source`` (see the module docstring); the report as a
    dict of plain values (what ``elmo-tasks evaluate`` writes as JSON). An example with more
    than ``max_tokens`` tokens is refused before the model runs (None: no limit)."""
    dm = run.datamodule
    limit = sample_limit(run, max_samples)
    try:
        split = setup_evaluation(dm, source, limit)
    except (DataFormatError, OSError) as error:
        raise EvaluationInputError(_reading_error(error, source)) from None
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    for number, row in enumerate(dm.splits[split], start=1):
        if max_tokens and len(row["tokens"]) > max_tokens:
            where = row.get("line", number)
            raise EvaluationInputError(too_long(str(source), where, len(row["tokens"]), max_tokens))
    run_batch_size = dm.eval_batch_size
    dm.eval_batch_size = batch_size or run_batch_size  # the run's: the batches its test had
    try:
        loader = dm.unsharded_dataloader(split)
    finally:
        dm.eval_batch_size = run_batch_size
    tagged = getattr(dm, "tagged", {}).get(split)
    report: dict[str, Any] = {
        "input": str(source),
        "run": str(run.folder) if run.folder is not None else None,
        "checkpoint": str(run.checkpoint),
        "kind": run.kind,
        "examples": len(tagged.sentences) if tagged is not None else len(dm.splits[split]),
        "max_samples": limit,
        "main_metric": run.model.main_metric,
    }
    was_training = run.model.training
    run.model.eval()
    try:
        with torch.no_grad():
            if run.kind == "classification":
                report.update(_classification(run, loader))
            else:
                report.update(_tagging(run, loader))
    finally:
        run.model.train(was_training)
    return report


def _reading_error(error: BaseException, source: str | Path) -> str:
    if isinstance(error, OSError) and not isinstance(error, ElmoTasksError):
        return f"cannot read {error.filename or source}: {error.strerror or error}"
    return str(error)


def _classification(run: TrainedRun, loader) -> dict[str, Any]:
    from elmo_tasks.tasks.classification import classification_scores

    model, labels = run.model, run.labels
    predicted, gold = [], []
    for batch in loader:
        predicted.append(model(batch["tokens"]).argmax(dim=-1).cpu())
        gold.append(batch["label"])
    predictions, targets = torch.cat(predicted), torch.cat(gold)
    metrics = {
        name: as_logged(value)
        for name, value in classification_scores(predictions, targets, labels).items()
    }
    matrix = confusion_matrix(targets.tolist(), predictions.tolist(), len(labels))
    return {
        "metrics": metrics,
        "per_class": per_class_report(labels, matrix),
        "confusion_matrix": {"labels": list(labels), "matrix": matrix},
    }


def _tagging(run: TrainedRun, loader) -> dict[str, Any]:
    model = run.model
    rows: dict[int, tuple[list[str], list[str]]] = {}
    for batch in loader:
        paths = model.predict(batch["tokens"])
        for index, pred, gold in zip(batch["index"].tolist(), paths, batch["tags"].tolist()):
            rows[index] = ([model.labels[i] for i in gold[: len(pred)]], pred)
    scores = model.scores([rows[index] for index in sorted(rows)])
    metrics = {name: as_logged(value) for name, value in model.logged_scores(scores).items()}
    return {"metrics": metrics, "per_type": scores["per_type"]}


def confusion_matrix(gold: Sequence[int], predicted: Sequence[int], n: int) -> list[list[int]]:
    """Counts: row = gold class, column = predicted class."""
    matrix = [[0] * n for _ in range(n)]
    for g, p in zip(gold, predicted):
        matrix[g][p] += 1
    return matrix


def per_class_report(labels: Sequence[str], matrix: Sequence[Sequence[int]]) -> dict[str, dict]:
    """Precision, recall, F1 (0 where nothing is counted) and support of each class."""
    report = {}
    for i, label in enumerate(labels):
        tp = matrix[i][i]
        predicted = sum(row[i] for row in matrix)
        support = sum(matrix[i])
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        report[label] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    return report
