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

from elmo_tasks.core.errors import ElmoTasksError

# An export folder (see elmo_tasks/runs/model_folder.py): its files and format version.
FORMAT_VERSION = 1
EXPORT_FILE = "export.json"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.yaml"
DATA_STATE_FILE = "data_state.json"

CONFIG_FILES = ("config_resolved.yaml", ".hydra/config.yaml")
CHECKPOINTS = ("checkpoints/best.ckpt", "checkpoints/last.ckpt")
DEVICES = "cpu, cuda, cuda:N, mps or auto (CUDA when present, else CPU)"

log = logging.getLogger("elmo_tasks.cli.predict")


class PredictError(ElmoTasksError, RuntimeError):
    """A run folder, checkpoint or input that cannot be used, explained (exit status 1)."""


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


# --------------------------------------------------------------------------- the run folder


def find_config(run_dir: Path) -> Path:
    """``config_resolved.yaml`` of the run, else the ``.hydra/config.yaml`` Hydra wrote."""
    for name in CONFIG_FILES:
        if (run_dir / name).is_file():
            return run_dir / name
    looked = ", ".join(str(run_dir / name) for name in CONFIG_FILES)
    raise PredictError(
        f"no run config in {run_dir}: looked for {looked} (train.py writes both into its run folder)"
    )


def load_config(run_dir: Path):
    """The run's composed config, resolved; ``.hydra/config.yaml`` gets ``paths.output_dir=run_dir``
    since its ``${hydra:...}`` value needs a running Hydra."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from elmo_tasks.runs.config import register_resolvers

    path = find_config(run_dir)
    register_resolvers()
    try:
        cfg = OmegaConf.load(path)
        if path.name == "config.yaml" and OmegaConf.select(cfg, "paths") is not None:
            cfg.paths.output_dir = str(run_dir)
        OmegaConf.resolve(cfg)
    except (OmegaConfBaseException, OSError) as error:
        raise PredictError(f"cannot read the run config {path}: {error}") from error
    for key in ("task", "encoder", "head", "optim"):
        if OmegaConf.select(cfg, key) is None:
            raise PredictError(
                f"{path} has no '{key}' section; is it the config of a train.py run?"
            )
    return cfg


def find_checkpoint(run_dir: Path) -> Path:
    """The checkpoint results.json names as best, else checkpoints/best.ckpt, else last.ckpt."""
    candidates: list[Path] = []
    results = run_dir / "results.json"
    if results.is_file():
        try:
            best = json.loads(results.read_text(encoding="utf-8")).get("best_checkpoint")
        except (json.JSONDecodeError, AttributeError) as error:
            raise PredictError(f"{results} is not a JSON object: {error}") from error
        if best:
            # The copy inside this run folder first: the folder may have been moved or copied
            # since training, and the path written then may name another run's file.
            candidates += [run_dir / "checkpoints" / Path(best).name, Path(best)]
    candidates += [run_dir / name for name in CHECKPOINTS]
    for path in candidates:
        if path.is_file():
            return path
    looked = ", ".join(dict.fromkeys(str(p) for p in candidates))
    raise PredictError(
        f"no checkpoint in {run_dir}: looked for {looked}; pass checkpoint=PATH to choose one"
    )


def read_checkpoint(path: Path, verify: bool = True) -> dict:
    """A Lightning checkpoint (a bare state dict comes back as ``{"state_dict": ...}``),
    checked against its ``.sha256`` (unless ``verify`` is False), loaded with
    ``weights_only=True`` so that no code inside the file runs, and checked for non-finite weights."""
    import torch

    from elmo_tasks.core.checkpoint_io import load_checkpoint
    from elmo_tasks.core.integrity import set_verification, verification_enabled

    before = verification_enabled()
    set_verification(before and verify)
    try:
        checkpoint = load_checkpoint(path, skip="verify=false")
    except ElmoTasksError as error:
        raise PredictError(str(error)) from None
    finally:
        set_verification(before)
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise PredictError(
            f"{path} is neither a Lightning checkpoint (no 'state_dict') nor a state dict of tensors"
        )
    return checkpoint if "state_dict" in checkpoint else {"state_dict": state}


def without_caches(node: Any) -> None:
    """Set every ``cache_dir`` of an encoder config (nested ones too) to None: predictions run the
    biLM directly instead of needing the activation cache of the training data."""
    from omegaconf import DictConfig, ListConfig

    if isinstance(node, DictConfig):
        if "cache_dir" in node:
            node.cache_dir = None
        for key in node:
            without_caches(node[key])
    elif isinstance(node, ListConfig):
        for item in node:
            without_caches(item)


def load_run(
    run_dir: str | Path,
    device: Any = "cpu",
    checkpoint: str | Path | None = None,
    verify: bool = True,
) -> TrainedRun:
    """Rebuild the model of ``run_dir`` with ``experiment.build`` (vocabulary and labels from the
    checkpoint, else from the training data as in training), load the weights, move it to
    ``device`` (``auto``: CUDA when present) and switch to eval mode. ``run_dir`` may also be
    a folder written by ``elmo-tasks export``. ``verify=False`` skips the SHA-256
    check of the checkpoint (for files changed on purpose)."""
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
        return load_export(run_dir, device)
    target = resolve_device(device)
    cfg = load_config(run_dir)
    checkpoint = Path(checkpoint).expanduser() if checkpoint else find_checkpoint(run_dir)
    if not checkpoint.is_file():
        raise PredictError(f"checkpoint {checkpoint} not found")
    state = read_checkpoint(checkpoint, verify)
    without_caches(cfg.encoder)
    config_file = find_config(run_dir)

    import datasets

    from elmo_tasks.runs.experiment import build
    from elmo_tasks.tasks.base import DATA_STATE, restore_frozen_encoder

    datasets.disable_progress_bars()
    data_state = state.get(DATA_STATE)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # keep stdout for predictions only
            datamodule, model = build(cfg, data_state=data_state)
    except (OSError, ValueError, ImportError) as error:
        why = (
            ""
            if data_state is not None
            else "\n(this checkpoint does not hold the vocabulary and label set, so the "
            "training data named in the config is read again to rebuild them exactly as in training)"
        )
        raise PredictError(f"cannot rebuild the model of {config_file}: {error}{why}") from error
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
    return TrainedRun(model, datamodule, config_file, checkpoint, cfg)


def is_export(folder: Path) -> bool:
    return (folder / EXPORT_FILE).is_file()


def load_export(folder: str | Path, device: Any = "cpu") -> TrainedRun:
    """The model of an export folder, on ``device``, in eval mode."""
    from omegaconf import OmegaConf
    from safetensors.torch import load_file

    from elmo_tasks.runs.experiment import build

    folder = Path(folder).expanduser()
    target = resolve_device(device)
    try:
        manifest = json.loads((folder / EXPORT_FILE).read_text(encoding="utf-8"))
        data_state = json.loads((folder / DATA_STATE_FILE).read_text(encoding="utf-8"))
        cfg = OmegaConf.load(folder / CONFIG_FILE)
    except (OSError, json.JSONDecodeError, ValueError) as error:
        raise PredictError(f"{folder} is not a readable export folder: {error}") from error
    if manifest.get("format_version") != FORMAT_VERSION:
        raise PredictError(
            f"{folder}: export format {manifest.get('format_version')} is not {FORMAT_VERSION}; "
            "export the run again with this version"
        )
    for entry in manifest.get("elmo_files", []):  # paths inside the folder, wherever it now is
        node = OmegaConf.select(cfg, entry["key"])
        node.options_file = str(folder / entry["copied_to"] / "options.json")
        node.weight_file = str(folder / entry["copied_to"] / "weights.hdf5")
    without_caches(cfg.encoder)
    with contextlib.redirect_stdout(sys.stderr):
        datamodule, model = build(cfg, data_state=data_state)
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
    return TrainedRun(model, datamodule, folder / CONFIG_FILE, folder / WEIGHTS_FILE, cfg)
