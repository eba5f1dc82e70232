"""Sequence tagging (NER): encoder -> tagger head (softmax or CRF) -> conlleval entity scores."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from elmo_tasks.data.conll import write_conll
from elmo_tasks.data.tags import bio_spans, check_scheme, split_tag, to_bio
from elmo_tasks.encoders import TokenEncoder
from elmo_tasks.tasks.base import EncoderHeadTask, passthrough
from elmo_tasks.tasks.classification import metric_label
from elmo_tasks.tasks.metrics import conll_scores
from elmo_tasks.tasks.parts import Config, TaskParts, batch_tokens, plain_parts, with_index

SCORES = ("f1", "precision", "recall", "token_accuracy")
PREDICTIONS_FILE = "predictions_test.conll"


class TaggingTask(EncoderHeadTask):
    """encoder (tokens -> one vector per token) -> head (-> tag indices); logs ``{split}/{metric}``.

    Validation and test decode every sentence, gather the tag strings over the epoch and log
    ``f1``, ``precision``, ``recall``, ``token_accuracy`` and ``f1_<TYPE>`` from ``conll_scores``.
    Scores are computed on BIO tags (BIOES output is converted first), so token accuracy is
    comparable between schemes; entity scores do not depend on the conversion.

    encoder, head, optimizer, scheduler: built objects, or their Hydra configs (the encoder's
    built with ``vocabulary``); given as configs they are saved with the hyperparameters, so
    that ``TaggingTask.load_from_checkpoint(path)`` rebuilds the model alone.
    """

    # What the head is called with besides its config's keys (and ``passthrough_dim`` when
    # the encoder has pass-through features): see elmo_tasks.heads.base.
    head_arguments = {
        "input_dim": "the encoder's output_dim",
        "num_tags": "the number of tags in the training data",
        "labels": "the tag strings",
        "scheme": "task.scheme",
    }

    def __init__(
        self,
        encoder: TokenEncoder | Config,
        head: Callable[..., nn.Module] | Config,
        optimizer: Callable[..., torch.optim.Optimizer] | Config,
        scheduler: Callable[..., object] | Config | None = None,
        main_metric: str = "f1",
        labels: Sequence[str] = (),
        scheme: str = "BIO",
        vocabulary: Sequence[str] | None = None,
        param_groups: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        # Configs as plain containers: save_hyperparameters reads these locals, and checkpoints
        # must load with torch.load(weights_only=True).
        encoder, head, optimizer, scheduler = plain_parts(encoder, head, optimizer, scheduler)
        parts = TaskParts.build(encoder, head, optimizer, scheduler, vocabulary)
        super().__init__(parts.encoder, parts.optimizer, parts.scheduler, main_metric, param_groups)
        self.save_hyperparameters(ignore=parts.unsaved, logger=False)
        self.labels = list(labels)
        self.scheme = check_scheme(scheme)
        self.head = parts.head(
            input_dim=parts.encoder.output_dim,
            num_tags=len(self.labels),
            labels=self.labels,
            scheme=self.scheme,
            **passthrough(parts.encoder),
        )
        self.types = sorted({split_tag(label)[1] for label in self.labels} - {""})
        # Row index -> (gold, predicted) tag strings, per evaluated split, for the current epoch.
        self._outputs: dict[str, dict[int, tuple[list[str], list[str]]]] = {"val": {}, "test": {}}

    def encode(self, tokens: Sequence[Sequence[str]]) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder's vectors and mask, checked to hold exactly one vector per token."""
        vectors, mask = self.encoder(tokens)
        longest = max(len(sentence) for sentence in tokens)
        if vectors.size(1) != longest:
            raise RuntimeError(
                f"{type(self.encoder).__name__} returned {vectors.size(1)} positions for sentences of up to "
                f"{longest} tokens; a tagger needs exactly one vector per token"
            )
        return vectors, mask.bool()

    @torch.no_grad()
    def predict(self, tokens: Sequence[Sequence[str]]) -> list[list[str]]:
        """Tags of each sentence, in the model's scheme (``self.scheme``)."""
        vectors, mask = self.encode(tokens)
        return [[self.labels[i] for i in path] for path in self.head.decode(vectors, mask)]

    @torch.no_grad()
    def predict_with_scores(self, tokens: Sequence[Sequence[str]]) -> list[dict]:
        """Per sentence: ``tags`` (decoded, in ``self.scheme``), ``tag_probabilities`` (the
        marginal probability of each of those tags) and ``entities`` (``type``, ``start``,
        ``end`` exclusive, ``score``: the probability that exactly this entity is there, i.e.
        that its tokens carry these tags and the next token does not continue it; exact, by
        forward-backward over the CRF, or over the independent tokens of a softmax tagger)."""
        vectors, mask = self.encode(tokens)
        paths = self.head.decode(vectors, mask)
        posteriors = self.head.posteriors(vectors, mask)
        marginals = posteriors.token_marginals()
        records = []
        for row, path in enumerate(paths):
            tags = [self.labels[i] for i in path]
            entities = []
            for type_, start, end in bio_spans(to_bio(tags, self.scheme)):
                stop_not = [
                    self.labels.index(t) for t in (f"I-{type_}", f"E-{type_}") if t in self.labels
                ]
                score = posteriors.span_probability(row, start, path[start:end], stop_not)
                entities.append({"type": type_, "start": start, "end": end, "score": score})
            probabilities = marginals[row, torch.arange(len(path)), torch.tensor(path)].tolist()
            records.append({"tags": tags, "tag_probabilities": probabilities, "entities": entities})
        return records

    def predict_step(
        self, batch: dict | Sequence[str | Sequence[str]], batch_idx: int = 0
    ) -> list[dict]:
        """``trainer.predict``: a batch of the data module, or a list of sentences (token lists,
        or strings of whitespace-separated tokens as in CoNLL files) -> ``predict_with_scores``
        of its sentences, plus their ``tokens`` (and the row's ``index`` in its split for a data
        module batch)."""
        tokens = batch_tokens(batch, str.split)
        records = [
            {"tokens": sentence, **record}
            for sentence, record in zip(tokens, self.predict_with_scores(tokens))
        ]
        return with_index(batch, records)

    def _step(self, batch: dict, split: str) -> torch.Tensor:
        vectors, mask = self.encode(batch["tokens"])
        tags = batch["tags"]
        if tags.shape != mask.shape:
            raise RuntimeError(
                f"batch tags are {tuple(tags.shape)} but the encoder mask is {tuple(mask.shape)}"
            )
        loss = self.head.loss(vectors, mask, tags)
        size = len(batch["tokens"])
        if split == "train":
            self.log_train_loss(loss, size)
        else:
            self.log(
                f"{split}/loss", loss, on_step=False, on_epoch=True, batch_size=size, sync_dist=True
            )  # DDP: mean over processes
        if split != "train":
            paths = self.head.decode(vectors, mask)
            for index, path, gold in zip(batch["index"].tolist(), paths, tags.tolist()):
                gold_tags = [self.labels[i] for i in gold[: len(path)]]
                self._outputs[split][index] = (gold_tags, [self.labels[i] for i in path])
        return loss

    def _gathered(self, split: str) -> dict[int, tuple[list[str], list[str]]]:
        """This epoch's outputs of ``split`` from every process (row indices are global)."""
        local, self._outputs[split] = self._outputs[split], {}
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return local
        parts: list[dict | None] = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(parts, local)
        return {index: pair for part in parts for index, pair in (part or {}).items()}

    def _bio(self, tags: list[str]) -> list[str]:
        return tags if self.scheme == "BIO" else to_bio(tags, self.scheme)

    def scores(self, rows: Sequence[tuple[list[str], list[str]]]) -> dict[str, Any]:
        """``conll_scores`` of (gold, predicted) tag rows in the model's scheme, scored on BIO."""
        return conll_scores(
            [self._bio(gold) for gold, _ in rows], [self._bio(pred) for _, pred in rows]
        )

    def logged_scores(self, scores: dict[str, Any]) -> dict[str, float]:
        """What validation and test log of ``scores``: ``f1``, ``precision``, ``recall``,
        ``token_accuracy`` and ``f1_<TYPE>`` for every type of the tag set."""
        values = {name: scores[name] for name in SCORES}
        per_type = scores["per_type"]
        values.update(
            {f"f1_{metric_label(t)}": per_type.get(t, {}).get("f1", 0.0) for t in self.types}
        )
        return values

    def _log_epoch(self, split: str) -> None:
        outputs = self._gathered(split)
        if not outputs:
            return
        values = self.logged_scores(self.scores([outputs[index] for index in sorted(outputs)]))
        self.log(f"{split}/f1", values.pop("f1"), prog_bar=True)
        self.log_dict({f"{split}/{name}": value for name, value in values.items()})

    def on_validation_epoch_start(self) -> None:
        self._outputs["val"] = {}

    def on_test_epoch_start(self) -> None:
        self._outputs["test"] = {}

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val")

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def write_predictions(self, output_dir: str | Path, datamodule: pl.LightningDataModule) -> Path:
        """Tag the test split with the current weights and write ``token gold pred`` lines, tags in
        the input file's scheme, to ``output_dir/predictions_test.conll`` (read by ``conlleval``)."""
        was_training = self.training
        self.eval()
        predicted: dict[int, list[str]] = {}
        try:
            loader = getattr(datamodule, "unsharded_dataloader", None)
            for batch in loader("test") if loader else datamodule.test_dataloader():
                for index, tags in zip(batch["index"].tolist(), self.predict(batch["tokens"])):
                    predicted[index] = tags
        finally:
            self.train(was_training)
        tokens, gold, pred = datamodule.output_sentences("test", predicted)
        path = Path(output_dir) / PREDICTIONS_FILE
        write_conll(path, tokens, gold, pred)
        return path
