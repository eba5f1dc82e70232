"""Sentence classification: encoder -> pooling head -> cross-entropy, with torchmetrics."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassF1Score,
    MulticlassRecall,
)

from elmo_tasks.encoders import TokenEncoder
from elmo_tasks.tasks.base import EncoderHeadTask, passthrough
from elmo_tasks.tasks.parts import Config, TaskParts, batch_tokens, plain_parts, with_index


def metric_label(label: str) -> str:
    """A label as it appears in a metric name: ``very negative`` -> ``very_negative``."""
    return re.sub(r"[^0-9A-Za-z]+", "_", str(label)).strip("_") or "blank"


def classification_metrics(labels: Sequence[str]) -> MetricCollection:
    """accuracy (micro: the fraction right), macro_f1, macro_recall (TweetEval's official
    metric) and one ``f1_<label>`` per class."""
    n = len(labels)
    metrics: dict[str, nn.Module] = {
        "accuracy": MulticlassAccuracy(n, average="micro"),
        "macro_f1": MulticlassF1Score(n, average="macro"),
        "macro_recall": MulticlassRecall(n, average="macro"),
    }
    return MetricCollection(metrics)


def per_class_f1(labels: Sequence[str]) -> MulticlassF1Score:
    """The F1 of each class, logged as ``f1_<label>`` on validation and test."""
    return MulticlassF1Score(len(labels), average=None)


def classification_scores(
    predictions: torch.Tensor, gold: torch.Tensor, labels: Sequence[str]
) -> dict[str, float]:
    """The metrics that validation and test log (``accuracy``, ``macro_f1``, ``macro_recall``,
    ``f1_<label>``) of predicted and gold class indices, computed by the same metric objects,
    so the values are those a test epoch over the same examples writes to results.json."""
    collection, per_class = classification_metrics(labels), per_class_f1(labels)
    collection.update(predictions, gold)
    per_class.update(predictions, gold)
    scores = {name: float(value) for name, value in collection.compute().items()}
    f1 = per_class.compute()
    scores.update({f"f1_{metric_label(label)}": float(f1[i]) for i, label in enumerate(labels)})
    return scores


class ClassificationTask(EncoderHeadTask):
    """encoder (tokens -> vectors + mask) -> head (-> logits); logs ``{split}/{metric}``.

    encoder, head, optimizer, scheduler: built objects, or their Hydra configs (the encoder's
    built with ``vocabulary``); given as configs they are saved with the hyperparameters, so
    that ``ClassificationTask.load_from_checkpoint(path)`` rebuilds the model alone.
    """

    # What the head is called with besides its config's keys (and ``passthrough_dim`` when
    # the encoder has pass-through features): see elmo_tasks.heads.base.
    head_arguments = {
        "input_dim": "the encoder's output_dim",
        "num_classes": "the number of labels in the training data",
    }

    def __init__(
        self,
        encoder: TokenEncoder | Config,
        head: Callable[..., nn.Module] | Config,
        optimizer: Callable[..., torch.optim.Optimizer] | Config,
        scheduler: Callable[..., object] | Config | None = None,
        main_metric: str = "accuracy",
        labels: Sequence[str] = (),
        vocabulary: Sequence[str] | None = None,
        param_groups: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        # Configs as plain containers: save_hyperparameters reads these locals, and checkpoints
        # must load with torch.load(weights_only=True).
        encoder, head, optimizer, scheduler = plain_parts(encoder, head, optimizer, scheduler)
        parts = TaskParts.build(encoder, head, optimizer, scheduler, vocabulary)
        super().__init__(parts.encoder, parts.optimizer, parts.scheduler, main_metric, param_groups)
        self.save_hyperparameters(ignore=parts.unsaved, logger=False)
        self.head = parts.head(
            input_dim=parts.encoder.output_dim,
            num_classes=len(labels),
            **passthrough(parts.encoder),
        )
        self.labels = list(labels)
        self.loss = nn.CrossEntropyLoss()
        # ModuleDict keys may not shadow nn.Module attributes such as ``train``.
        self.metrics = nn.ModuleDict(
            {f"{split}_": classification_metrics(labels) for split in ("train", "val", "test")}
        )
        self.per_class_f1 = nn.ModuleDict(
            {f"{split}_": per_class_f1(labels) for split in ("val", "test")}
        )
        self._train_predictions: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, tokens: Sequence[Sequence[str]]) -> torch.Tensor:
        vectors, mask = self.encoder(tokens)
        return self.head(vectors, mask)

    def _step(self, batch: dict, split: str) -> torch.Tensor:
        logits = self(batch["tokens"])
        loss = self.loss(logits, batch["label"])
        preds = logits.argmax(dim=-1)
        size = len(batch["tokens"])
        if split == "train":
            # Counted once per epoch (the metrics are sums of counts): a metric update costs
            # as much as a cached training step.
            self._train_predictions.append((preds.detach(), batch["label"]))
            self.log_train_loss(loss, size)
            return loss
        self.metrics[f"{split}_"].update(preds, batch["label"])
        if f"{split}_" in self.per_class_f1:
            self.per_class_f1[f"{split}_"].update(preds, batch["label"])
        self.log(
            f"{split}/loss", loss, on_step=False, on_epoch=True, batch_size=size, sync_dist=True
        )  # DDP: mean over processes
        return loss

    def _log_epoch(self, split: str) -> None:
        values = self.metrics[f"{split}_"].compute()
        self.log_dict({f"{split}/{k}": v for k, v in values.items()}, prog_bar=split != "train")
        self.metrics[f"{split}_"].reset()
        if f"{split}_" in self.per_class_f1:
            per_class = self.per_class_f1[f"{split}_"].compute()
            self.log_dict(
                {
                    f"{split}/f1_{metric_label(label)}": per_class[i]
                    for i, label in enumerate(self.labels)
                }
            )
            self.per_class_f1[f"{split}_"].reset()

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        self._train_predictions = []

    def on_train_epoch_end(self) -> None:
        super().on_train_epoch_end()
        if self._train_predictions:
            predictions, gold = zip(*self._train_predictions)
            self.metrics["train_"].update(torch.cat(predictions), torch.cat(gold))
            self._train_predictions = []
        self._log_epoch("train")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val")

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    @torch.no_grad()
    def predict_proba(self, tokens: Sequence[Sequence[str]]) -> torch.Tensor:
        """Class probabilities, ``(batch, len(labels))``, in the order of ``self.labels``."""
        return torch.softmax(self(tokens), dim=-1)

    @torch.no_grad()
    def predict_labels(self, tokens: Sequence[Sequence[str]]) -> list[dict]:
        """``{"label", "probabilities": {label: p}}`` per tokenised text."""
        rows = self.predict_proba(tokens).tolist()
        return [
            {
                "label": self.labels[max(range(len(row)), key=row.__getitem__)],
                "probabilities": dict(zip(self.labels, row)),
            }
            for row in rows
        ]

    def tokenize_text(self, text: str) -> list[str]:
        """``text`` as the training texts were tokenised (the data module's ``tokenizer`` and
        ``lowercase``, saved in checkpoints with the vocabulary)."""
        from elmo_tasks.data.tokenize import get_tokenizer

        state = self.data_state or {}
        if "tokenizer" not in state:
            raise TypeError(
                "this model's checkpoint does not say how its training texts were tokenised "
                "(written by an earlier release): pass token lists, or use "
                "elmo_tasks.load_run(run_dir).predict(texts)"
            )
        return get_tokenizer(state["tokenizer"])(text.lower() if state["lowercase"] else text)

    def predict_step(
        self, batch: dict | Sequence[str | Sequence[str]], batch_idx: int = 0
    ) -> list[dict]:
        """``trainer.predict``: a batch of the data module, or a list of texts (strings,
        tokenised as in training) or of token lists -> ``predict_labels`` of its texts (with
        the row's ``index`` in its split for a data module batch)."""
        return with_index(batch, self.predict_labels(batch_tokens(batch, self.tokenize_text)))
