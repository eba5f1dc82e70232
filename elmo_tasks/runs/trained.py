"""A trained run loaded for prediction: ``elmo_tasks.load_run(run_dir, device="cpu")``.

Reads a run folder written by ``train.py`` (its config and best checkpoint), rebuilds the
model as training did (vocabulary and labels from the checkpoint), and predicts from Python::

    run = load_run("outputs/runs/2024-05-01_12-00-00")
    run.predict(["a gripping , beautiful film"])   # [{"label": ..., "probabilities": {...}}]
    run.module                                    # the LightningModule
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elmo_tasks.core.trust import MissingCodeError, UntrustedCodeError  # noqa: F401 - what load_run raises
from elmo_tasks.runs.run_folder import (  # noqa: F401 - their old import path
    CHECKPOINTS,
    CONFIG_FILES,
    PredictError,
    Trust,
    check_folder_config,
    find_checkpoint,
    find_config,
    load_config,
    read_checkpoint,
    rebuild_problem,
    without_caches,
)

# An export folder (see elmo_tasks/runs/model_folder.py): its files and format version.
FORMAT_VERSION = 1
EXPORT_FILE = "export.json"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.yaml"
DATA_STATE_FILE = "data_state.json"

DEVICES = "cpu, cuda, cuda:N, mps or auto (CUDA when present, else CPU)"

log = logging.getLogger("elmo_tasks.cli.predict")


class DeviceNameError(PredictError):
    """A device name torch does not know (a usage mistake: exit status 2)."""

    exit_status = 2


# --------------------------------------------------------------------------- devices


def resolve_device(device: Any = "cpu"):
    """``device`` as a ``torch.device``; ``auto`` is CUDA when present, else CPU. PredictError
    for a name torch does not know or a device this machine lacks."""
    import torch

    if isinstance(device, str) and device.strip().lower() == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise DeviceNameError(f"device={device}: not a device name; use {DEVICES}") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise PredictError(
                f"device {device!r} asked for, but CUDA is not available here; use device=cpu or auto"
            )
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise PredictError(
                f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise PredictError(
            f"device {device!r} asked for, but MPS is not available here; use device=cpu or auto"
        )
    return resolved


# --------------------------------------------------------------------------- the trained run


@dataclass
class TrainedRun:
    """A model rebuilt from a run folder (in eval mode, on ``device``) and the data module it
    was trained with (for its tokeniser and tag scheme; no data is read)."""

    model: Any
    datamodule: Any
    config_file: Path
    checkpoint: Path
    config: Any = None
    """The run's resolved config (an OmegaConf DictConfig)."""
    folder: Path | None = None
    """The run folder or export folder it was loaded from."""

    @property
    def module(self):
        """The task's LightningModule (``ClassificationTask`` or ``TaggingTask``)."""
        return self.model

    @property
    def kind(self) -> str:
        """``classification`` or ``tagging``."""
        return self.datamodule.kind

    @property
    def labels(self) -> list[str]:
        """The classes, or the tags the model learned (in its own scheme)."""
        return list(self.model.labels)

    @property
    def device(self):
        return self.model.device

    def tokenize(self, text: str) -> list[str]:
        """``text`` as the model saw its training texts: the task's tokeniser (and lowercasing)
        for classification, whitespace-separated tokens for tagging."""
        if self.kind == "tagging":
            return text.split()
        dm = self.datamodule
        return dm.tokenize(text.lower() if dm.lowercase else text)

    def classify_tokens(self, tokens: Sequence[Sequence[str]]) -> list[dict]:
        """``{"label", "probabilities": {label: p}}`` per tokenised text."""
        return self.model.predict_labels(tokens)

    def tag_tokens(self, tokens: Sequence[Sequence[str]]) -> list[dict]:
        """Per sentence: ``tokens``, ``tags`` in the scheme of the training file,
        ``tag_probabilities`` (each predicted tag's marginal probability, in the model's
        scheme) and ``entities`` (``type``, ``start``, ``end`` exclusive, ``text``, ``score``)."""
        from elmo_tasks.data.tags import from_bio, to_bio

        scheme, input_scheme = self.model.scheme, self.datamodule.input_scheme or self.model.scheme
        records = []
        for sentence, scored in zip(tokens, self.model.predict_with_scores(tokens)):
            tags = from_bio(to_bio(scored["tags"], scheme), input_scheme)
            entities = [
                {
                    "type": e["type"],
                    "start": e["start"],
                    "end": e["end"],
                    "text": " ".join(sentence[e["start"] : e["end"]]),
                    "score": e["score"],
                }
                for e in scored["entities"]
            ]
            records.append(
                {
                    "tokens": list(sentence),
                    "tags": tags,
                    "tag_probabilities": scored["tag_probabilities"],
                    "entities": entities,
                }
            )
        return records

    def evaluate(
        self,
        path: str | Path,
        max_samples: int | str | None = "run",
        batch_size: int | None = None,
        max_tokens: int | None = 4096,
    ) -> dict:
        """Score the model on a labelled file (or a split name of the run's hub dataset), read
        as training read its test file. Returns ``{"metrics": {...}, "per_class"`` (and
        ``"confusion_matrix"``) for a classifier, ``"per_type"`` for a tagger, ``"examples",
        ...}``; on the run's own test file ``metrics`` equals results.json's ``test``.
        ``max_samples``: ``"run"`` caps as the run's ``task.max_eval_samples`` did, ``"all"``
        or N. See :mod:`elmo_tasks.runs.evaluation`."""
        from elmo_tasks.runs.evaluation import evaluate

        return evaluate(self, path, max_samples, batch_size, max_tokens)

    def predict(
        self, texts: Sequence[str] | Sequence[Sequence[str]], batch_size: int = 32
    ) -> list[dict]:
        """Predictions for ``texts``, one dict per text, in order.

        A text is a string (tokenised as in training for classification, split at whitespace
        for tagging) or a list of tokens (used as it is). Classification -> ``{"label",
        "probabilities"}``; tagging -> ``{"tokens", "tags", "tag_probabilities", "entities":
        [{"type", "start", "end", "text", "score"}]}``. ValueError for an empty text,
        TypeError for a lone string or another type.
        """
        if isinstance(texts, str):
            raise TypeError(
                "predict takes a list of texts; wrap a single text in a list: run.predict([text])"
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        tokens = []
        for i, text in enumerate(texts):
            if isinstance(text, str):
                sentence = self.tokenize(text)
            elif isinstance(text, (list, tuple)) and all(
                isinstance(t, str) and t.strip() for t in text
            ):
                sentence = list(text)
            else:
                raise TypeError(
                    f"text {i}: expected a string or a list of non-empty token strings, got {text!r:.80}"
                )
            if not sentence:
                raise ValueError(f"text {i} is empty (no tokens after tokenisation)")
            tokens.append(sentence)
        predict_batch = self.classify_tokens if self.kind == "classification" else self.tag_tokens
        records: list[dict] = []
        for start in range(0, len(tokens), batch_size):
            records += predict_batch(tokens[start : start + batch_size])
        return records


# --------------------------------------------------------------------------- loading


def _build(cfg: Any, data_state: dict | None, config_file: Path):
    """``experiment.build`` of a checked config; what it raises as one :class:`PredictError`."""
    import datasets
    from hydra.errors import HydraException

    from elmo_tasks.runs.experiment import build

    datasets.disable_progress_bars()
    try:
        with contextlib.redirect_stdout(sys.stderr):  # keep stdout for predictions only
            return build(cfg, data_state=data_state)
    except (OSError, ValueError, ImportError, TypeError, HydraException) as error:
        why = (
            ""
            if data_state is not None
            else "\n(this checkpoint does not hold the vocabulary and label set, so the "
            "training data named in the config is read again to rebuild them exactly as in training)"
        )
        raise PredictError(
            f"cannot rebuild the model of {config_file}: {rebuild_problem(error)}{why}"
        ) from error


def load_run(
    run_dir: str | Path,
    device: Any = "cpu",
    checkpoint: str | Path | None = None,
    verify: bool = True,
    trust: Trust = (),
) -> TrainedRun:
    """Rebuild the model of ``run_dir`` with ``experiment.build`` (vocabulary and labels from the
    checkpoint, else from the training data as in training), load the weights, move it to
    ``device`` (``auto``: CUDA when present) and switch to eval mode. ``run_dir`` may also be
    a folder written by ``elmo-tasks export``. ``verify=False`` skips the SHA-256
    check of the checkpoint (for files changed on purpose).

    Only elmo-tasks' own classes are built, and those of the modules in ``trust`` (module
    names, e.g. ``["myheads"]``: code you know, importable here); a folder that names other
    code is refused with :class:`UntrustedCodeError` before anything is called, and a trusted
    module that cannot be imported is a :class:`MissingCodeError`."""
    run_dir = Path(run_dir).expanduser()
    if not run_dir.is_dir():
        raise PredictError(
            f"run_dir {run_dir} is not a folder (expected a run folder written by train.py)"
        )
    if is_export(run_dir):
        if checkpoint:
            raise PredictError(
                f"{run_dir} is an export folder, which holds one set of weights: drop checkpoint="
            )
        return load_export(run_dir, device, trust)
    target = resolve_device(device)
    cfg = load_config(run_dir, trust)
    checkpoint = Path(checkpoint).expanduser() if checkpoint else find_checkpoint(run_dir)
    if not checkpoint.is_file():
        raise PredictError(f"checkpoint {checkpoint} not found")
    state = read_checkpoint(checkpoint, verify, trust)
    without_caches(cfg.encoder)
    config_file = find_config(run_dir)

    from elmo_tasks.tasks.base import DATA_STATE, restore_frozen_encoder

    datamodule, model = _build(cfg, state.get(DATA_STATE), config_file)
    try:
        restore_frozen_encoder(model, state)  # frozen biLM weights are read from their files
        model.load_state_dict(state["state_dict"])
    except (RuntimeError, ValueError) as error:
        detail = " ".join(str(error).split())
        raise PredictError(
            f"{checkpoint} does not fit the model rebuilt from {config_file} (were the config or the training "
            f"data changed since training?): {detail[:400]}"
        ) from error
    model.to(target).eval()
    log.info(
        "loaded %s (%s, %d labels) from %s on %s",
        checkpoint,
        datamodule.kind,
        len(model.labels),
        config_file,
        target,
    )
    return TrainedRun(model, datamodule, config_file, checkpoint, cfg, run_dir)


def is_export(folder: Path) -> bool:
    return (folder / EXPORT_FILE).is_file()


def load_export(folder: str | Path, device: Any = "cpu", trust: Trust = ()) -> TrainedRun:
    """The model of an export folder, on ``device``, in eval mode; ``trust`` as for
    :func:`load_run`."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException
    from safetensors.torch import load_file

    folder = Path(folder).expanduser()
    target = resolve_device(device)
    try:
        manifest = json.loads((folder / EXPORT_FILE).read_text(encoding="utf-8"))
        data_state = json.loads((folder / DATA_STATE_FILE).read_text(encoding="utf-8"))
        cfg = OmegaConf.load(folder / CONFIG_FILE)
    except (OSError, json.JSONDecodeError, ValueError, OmegaConfBaseException) as error:
        raise PredictError(f"{folder} is not a readable export folder: {error}") from error
    if manifest.get("format_version") != FORMAT_VERSION:
        raise PredictError(
            f"{folder}: export format {manifest.get('format_version')} is not {FORMAT_VERSION}; "
            "export the run again with this version"
        )
    check_folder_config(cfg, trust, folder / CONFIG_FILE)  # before anything is built
    for entry in manifest.get("elmo_files", []):  # paths inside the folder, wherever it now is
        node = OmegaConf.select(cfg, str(entry.get("key")))
        if node is None:
            raise PredictError(f"{folder / EXPORT_FILE}: no encoder config at {entry.get('key')}")
        node.options_file = str(folder / entry["copied_to"] / "options.json")
        node.weight_file = str(folder / entry["copied_to"] / "weights.hdf5")
    without_caches(cfg.encoder)
    datamodule, model = _build(cfg, data_state, folder / CONFIG_FILE)
    state = load_file(str(folder / WEIGHTS_FILE))
    frozen = manifest.get("frozen_encoder")
    if frozen:
        current = model._reloadable_encoder_state()
        if current is None or current["source"] != frozen["source"]:
            raise PredictError(
                f"{folder}: the ELMo files in elmo/ do not match the checksums in {EXPORT_FILE}"
            )
        own = model.state_dict()
        state.update({f"encoder.{key}": own[f"encoder.{key}"] for key in frozen["keys"]})
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise PredictError(
            f"{folder / WEIGHTS_FILE} does not fit the model of {CONFIG_FILE}: "
            f"{' '.join(str(error).split())[:400]}"
        ) from error
    model.data_state = data_state
    model.to(target).eval()
    return TrainedRun(model, datamodule, folder / CONFIG_FILE, folder / WEIGHTS_FILE, cfg, folder)
