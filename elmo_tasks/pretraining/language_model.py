"""biLM pretraining: the ELMo ``BiLm`` trained as a forward and a backward language model.

    forward stream  (B, T, 50) --+                       +-> forward top layer  -> softmax -> w_{t+1}
                                 +-> char CNN -> biLSTM -+
    backward stream (B, T, 50) --+   (both directions)   +-> backward top layer -> softmax -> w_{t-1}

As in bilm-tf, the backward direction reads its own stream of reversed sentences (see
``elmo_tasks.pretraining.corpus``), the LSTM state of both directions is carried from window to
window (truncated BPTT, detached), dropout is applied to every LSTM layer's input and to
the top output in training only, and one softmax is shared by the two directions. The
loss is the mean of the forward and backward token cross-entropies.

Softmax choices: ``full`` (exact, small vocabularies), ``sampled`` (log-uniform negatives
with the logQ correction in training, exact at evaluation), ``adaptive``
(``torch.nn.AdaptiveLogSoftmaxWithLoss``, exact in both).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics import MeanMetric

from elmo_tasks.elmo.dropout import Dropout
from elmo_tasks.elmo.layout import convert_optimizer_states
from elmo_tasks.elmo.modules import BiLm
from elmo_tasks.elmo.options import ElmoOptions
from elmo_tasks.pretraining.softmax import (  # noqa: F401  (defined here before)
    SOFTMAX_KINDS,
    AdaptiveSoftmax,
    FullSoftmax,
    LogUniformSampler,
    SampledSoftmax,
    build_softmax,
)
from elmo_tasks.tasks.divergence import LossWatch, check_finite_weights

LstmStates = list[tuple[torch.Tensor, torch.Tensor]]


# ---------------------------------------------------------------------------------------
# Initialisation


@torch.no_grad()
def init_bilm_(bilm: BiLm) -> BiLm:
    """bilm-tf's initial values: char embeddings U(-1, 1); CNN U(-0.05, 0.05) (relu) or
    N(0, 1/(width * char_dim)) (tanh); highway N(0, 1/dim) with carry bias -2 (start by
    carrying the input); projection N(0, 1/n_filters); LSTM Glorot-uniform; biases 0."""
    enc, options = bilm.char_encoder, bilm.options
    enc.char_embedding.weight.uniform_(-1.0, 1.0)
    enc.char_embedding.weight[0].zero_()
    for weight, bias in zip(enc.conv_weights, enc.conv_biases):
        if options.activation == "relu":
            weight.uniform_(-0.05, 0.05)
        else:
            weight.normal_(0.0, math.sqrt(1.0 / (weight.size(1) * options.char_embedding_dim)))
        bias.zero_()
    hw = enc.highway
    for weight, bias in zip(hw.weights, hw.biases):
        weight.normal_(0.0, math.sqrt(1.0 / hw.dim))
        bias[: hw.dim].zero_()
        bias[hw.dim :].fill_(-2.0)
    enc.w_proj.normal_(0.0, math.sqrt(1.0 / options.n_filters))
    enc.b_proj.zero_()
    for layer in bilm.lstm.layers:
        # TensorFlow's LSTMCell kernel is [W_in; W_rec] of shape (input + P, 4C).
        fan_in = layer.w_in.size(1) + layer.w_rec.size(1)
        limit = math.sqrt(6.0 / (fan_in + layer.w_in.size(2)))
        layer.w_in.uniform_(-limit, limit)
        # Drawn in the TensorFlow layout, so a seed gives the same weights whatever the
        # in-memory layout (``w_rec`` and ``w_proj`` are transposed views).
        layer.w_rec.copy_(
            torch.empty_like(layer.w_rec, memory_format=torch.contiguous_format).uniform_(
                -limit, limit
            )
        )
        layer.bias.zero_()
        proj_limit = math.sqrt(6.0 / (layer.w_proj.size(1) + layer.w_proj.size(2)))
        layer.w_proj.copy_(
            torch.empty_like(layer.w_proj, memory_format=torch.contiguous_format).uniform_(
                -proj_limit, proj_limit
            )
        )
    return bilm


# ---------------------------------------------------------------------------------------
# The LightningModule


class BiLmPretrainer(pl.LightningModule):
    """Trains a ``BiLm`` (built from ``options``, the nested ``options.json`` layout) on
    batches of ``LmStreamDataset``. Logs ``{train,val}/ppl_forward``, ``/ppl_backward`` and
    ``/ppl`` (exp of the mean of both directions' cross-entropies) per epoch.

    Checkpoints also hold the vocabulary, the carried LSTM states and the number of
    batches done in the current epoch, so that a resumed run continues where it stopped.
    """

    def __init__(
        self,
        options: dict[str, Any],
        vocabulary: Sequence[str],
        softmax: str = "sampled",
        num_samples: int = 8192,
        cutoffs: Sequence[int] = (2000, 10000),
        div_value: float = 4.0,
        dropout: float = 0.1,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., Any] | None = None,
        corpus: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["vocabulary", "optimizer", "scheduler"])
        self.vocabulary = list(vocabulary)
        elmo_options = ElmoOptions.from_dict(options, source="model.options")
        elmo_options.extra.update(
            {"bidirectional": True, "n_tokens_vocab": len(self.vocabulary), "dropout": dropout}
        )
        self.bilm = init_bilm_(BiLm(elmo_options))
        # The token cache tells weight changes by tensor versions, which fused optimizers do
        # not bump; the weights change at every step here, so it is never worth having.
        self.bilm.token_cache.max_size = 0
        self.softmax = build_softmax(
            softmax,
            elmo_options.projection_dim,
            len(self.vocabulary),
            num_samples,
            cutoffs,
            div_value,
        )
        self.dropout = Dropout(dropout)
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.corpus = dict(corpus or {})
        self.nll = nn.ModuleDict(
            {
                f"{s}_{d}": MeanMetric()
                for s in ("train", "val", "test")
                for d in ("forward", "backward")
            }
        )
        self.last_val: dict[str, float] = {}
        self.last_test: dict[str, float] = {}  # perplexities of the held-out test files
        self.last_val_step = -1  # global step of ``last_val``
        self._states: dict[tuple[str, int], LstmStates] = {}
        self._epoch_batches = 0  # training batches done in the current epoch
        self._data_position: tuple[int, int] | None = (
            None  # (epoch, batches) of a resumed checkpoint
        )
        self.train_tokens, self.train_seconds = 0, 0.0
        self._batch_start = 0.0
        self.global_step_at_save = 0  # set by ``from_checkpoint``
        self.loss_watch = LossWatch()  # a NaN or infinite loss stops training (tasks/divergence.py)

    @property
    def options(self) -> ElmoOptions:
        return self.bilm.options

    # -- model -------------------------------------------------------------------------

    def lm_hidden(
        self,
        forward_char_ids: torch.Tensor,
        backward_char_ids: torch.Tensor,
        states: LstmStates | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, LstmStates]:
        """Top-layer outputs of both directions, each (B, T, P), and the final LSTM states.

        Step t of the backward direction reads ``backward_char_ids[:, t]`` (the streams are
        already in reading order), so no boundaries are added and nothing is reversed here.
        """
        batch, steps, width = forward_char_ids.shape
        chars = torch.stack([forward_char_ids, backward_char_ids]).reshape(-1, width).long()
        tokens = self.bilm.encode_tokens(chars).view(2, batch, steps, -1)
        x = tokens.transpose(1, 2)  # (2, T, B, P): the layout LstmLayer runs on
        lstm, finals = self.bilm.lstm, []
        for k, layer in enumerate(lstm.layers):
            inputs = self.dropout(x)
            out, final = layer(inputs, [batch] * steps, None if states is None else states[k])
            x = out + inputs if k > 0 and lstm.use_skip_connections else out
            finals.append(final)
        x = self.dropout(x)
        return x[0].transpose(0, 1), x[1].transpose(0, 1), finals

    def _step(self, batch: dict[str, Any], split: str) -> torch.Tensor:
        key = (split, int(batch["stream"]))
        states = self._states.get(key)
        if states is not None:
            states = [(h.to(self.device), c.to(self.device)) for h, c in states]
        forward, backward, finals = self.lm_hidden(
            batch["forward_char_ids"], batch["backward_char_ids"], states
        )
        self._states[key] = [(h.detach(), c.detach()) for h, c in finals]
        mask = batch["mask"]
        nll_forward = self.softmax(forward[mask], batch["forward_targets"][mask])
        nll_backward = self.softmax(backward[mask], batch["backward_targets"][mask])
        self.nll[f"{split}_forward"].update(nll_forward.detach())
        self.nll[f"{split}_backward"].update(nll_backward.detach())
        return 0.5 * (nll_forward.mean() + nll_backward.mean())

    # -- Lightning hooks ---------------------------------------------------------------

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        loss = self._step(batch, "train")
        self.loss_watch.see(loss, self)  # before backward: NaN never reaches the weights
        self._epoch_batches += 1
        self.log(
            "train/loss",
            loss,
            on_step=True,
            on_epoch=False,
            prog_bar=True,
            batch_size=batch["mask"].numel(),
        )
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._step(batch, "test")

    def on_train_epoch_start(self) -> None:
        # A new epoch starts new text streams. (Lightning skips this hook when it resumes
        # mid-epoch, so restored states and data position are kept then.)
        self._states = {k: v for k, v in self._states.items() if k[0] != "train"}
        self._epoch_batches = 0
        self._batch_start = time.perf_counter()
        dataset = self._train_dataset()
        if dataset is not None:  # read when the next epoch's iterator is created
            dataset.set_epoch(self.current_epoch)
            dataset.skip_batches = 0

    def take_data_position(self) -> tuple[int, int] | None:
        """(epoch, batches done in it) of the checkpoint being resumed, once; the data module
        calls this when it creates the training stream so the stream continues there."""
        position, self._data_position = self._data_position, None
        return position

    def on_train_start(self) -> None:
        self._batch_start = time.perf_counter()

    def on_train_batch_end(self, outputs: Any, batch: dict[str, Any], batch_idx: int) -> None:
        # Throughput counts the time since the previous batch, reading the data included.
        now = time.perf_counter()
        self.train_seconds += now - self._batch_start
        self._batch_start = now
        self.train_tokens += int(batch["mask"].sum())

    def on_train_epoch_end(self) -> None:
        self.loss_watch.flush(self)  # on an accelerator: the losses not read yet
        self._log_perplexities("train")
        self._epoch_batches = 0

    def on_validation_epoch_start(self) -> None:
        self._states = {k: v for k, v in self._states.items() if k[0] != "val"}

    def on_validation_epoch_end(self) -> None:
        values = self._log_perplexities("val")
        if values and not self.trainer.sanity_checking:
            self.last_val, self.last_val_step = values, self.global_step
        self._batch_start = time.perf_counter()  # validation time is not training time

    def on_test_epoch_start(self) -> None:
        self._states = {k: v for k, v in self._states.items() if k[0] != "test"}

    def on_test_epoch_end(self) -> None:
        self.last_test = self._log_perplexities("test")

    def _log_perplexities(self, split: str) -> dict[str, float]:
        forward, backward = self.nll[f"{split}_forward"], self.nll[f"{split}_backward"]
        if not forward.update_called:
            return {}
        nll_f, nll_b = forward.compute(), backward.compute()
        values = {
            f"{split}/ppl_forward": torch.exp(nll_f),
            f"{split}/ppl_backward": torch.exp(nll_b),
            f"{split}/ppl": torch.exp(0.5 * (nll_f + nll_b)),
        }
        self.log_dict(values, prog_bar=split == "val")
        forward.reset()
        backward.reset()
        return {k: float(v) for k, v in values.items()}

    def _train_dataset(self) -> Any:
        loader = getattr(self.trainer, "train_dataloader", None)
        dataset = getattr(loader, "dataset", None)
        return dataset if hasattr(dataset, "set_epoch") else None

    def _trainable_parameters(self) -> list[nn.Parameter]:
        """What the optimiser is given, in its order (which its saved state is indexed by)."""
        return [p for p in self.parameters() if p.requires_grad]

    def configure_optimizers(self) -> Any:
        parameters = self._trainable_parameters()
        optimizer = (
            self.optimizer_factory(parameters)
            if self.optimizer_factory
            else torch.optim.Adam(parameters, lr=1e-3)
        )
        if self.scheduler_factory is None:
            return optimizer
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": self.scheduler_factory(optimizer), "interval": "step"},
        }

    # -- checkpoints -------------------------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.loss_watch.flush(self)  # diverged weights are never written
        check_finite_weights(checkpoint["state_dict"], self)
        checkpoint["pretrain"] = {
            "vocabulary": self.vocabulary,
            "corpus": self.corpus,
            "last_val": self.last_val,
            "last_val_step": self.last_val_step,
            "data_position": {"epoch": self.current_epoch, "batches": self._epoch_batches},
            "train_states": {
                k[1]: [(h.cpu(), c.cpu()) for h, c in v]
                for k, v in self._states.items()
                if k[0] == "train"
            },
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get("pretrain")
        if saved is None:
            raise ValueError(
                "checkpoint has no 'pretrain' entry: it was not written by BiLmPretrainer"
            )
        if list(saved["vocabulary"]) != self.vocabulary:
            raise ValueError(
                f"the checkpoint's vocabulary ({len(saved['vocabulary'])} words) differs from this run's "
                f"({len(self.vocabulary)}); pass the checkpoint's vocab file as data.vocab_file"
            )
        convert_optimizer_states(checkpoint, self, self._trainable_parameters())
        self.last_val = dict(saved.get("last_val", {}))
        self.last_val_step = int(saved.get("last_val_step", -1))
        position = saved.get("data_position", {"epoch": 0, "batches": 0})
        self._data_position = (int(position["epoch"]), int(position["batches"]))
        self._epoch_batches = self._data_position[1]
        self._states = {
            ("train", int(k)): [(h, c) for h, c in v]
            for k, v in saved.get("train_states", {}).items()
        }

    @classmethod
    def load_from_checkpoint(
        cls,
        checkpoint_path: str | Path,
        map_location: Any = None,
        hparams_file: Any = None,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> BiLmPretrainer:  # type: ignore[override]
        """Lightning's ``load_from_checkpoint``, with the vocabulary (saved beside the
        hyperparameters, not among them) taken from the checkpoint unless given."""
        if "vocabulary" not in kwargs:
            kwargs["vocabulary"] = read_checkpoint(checkpoint_path)["pretrain"]["vocabulary"]
        return super().load_from_checkpoint(
            checkpoint_path, map_location, hparams_file, strict, **kwargs
        )

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, map_location: str | torch.device = "cpu"
    ) -> BiLmPretrainer:
        """The module saved in a checkpoint of ``python -m elmo_tasks.pretrain`` (for export)."""
        checkpoint = read_checkpoint(path, map_location)
        module = cls(
            vocabulary=checkpoint["pretrain"]["vocabulary"], **checkpoint["hyper_parameters"]
        )
        module.load_state_dict(checkpoint["state_dict"])
        module.on_load_checkpoint(checkpoint)
        module.global_step_at_save = int(checkpoint.get("global_step", 0))
        return module


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A pretraining checkpoint, checked to come from ``BiLmPretrainer``."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    if "pretrain" not in checkpoint or "hyper_parameters" not in checkpoint:
        raise ValueError(
            f"{path}: not a checkpoint of python -m elmo_tasks.pretrain (no 'pretrain' entry)"
        )
    return checkpoint
