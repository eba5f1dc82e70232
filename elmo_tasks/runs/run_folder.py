"""Reading a folder someone trained: its config and checkpoint, checked before anything is built.

A run folder (written by ``train.py``) holds ``config_resolved.yaml`` (else Hydra's
``.hydra/config.yaml``) and checkpoints; ``results.json`` names the best one. Both the config
and the checkpoint's saved hyperparameters name classes by ``_target_``; :func:`load_config` and
:func:`read_checkpoint` refuse any that is not elmo-tasks' own or from a module in ``trust``
(:mod:`elmo_tasks.core.trust`), so whatever builds from what they return (``load_run``,
``export``, ``evaluate``) calls nothing the folder chose.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from elmo_tasks.core.errors import ElmoTasksError
from elmo_tasks.core.trust import check_code, check_hyperparameters

CONFIG_FILES = ("config_resolved.yaml", ".hydra/config.yaml")
CHECKPOINTS = ("checkpoints/best.ckpt", "checkpoints/last.ckpt")
# How to trust a module, for the messages of load_run, predict and export.
HOW_TO_TRUST = 'trust={modules} on the command line, load_run(path, trust="{modules}") from Python'

Trust = str | Iterable[str] | None


class PredictError(ElmoTasksError, RuntimeError):
    """A run folder, checkpoint or input that cannot be used, explained (exit status 1)."""


def find_config(run_dir: Path) -> Path:
    """``config_resolved.yaml`` of the run, else the ``.hydra/config.yaml`` Hydra wrote."""
    for name in CONFIG_FILES:
        if (run_dir / name).is_file():
            return run_dir / name
    looked = ", ".join(str(run_dir / name) for name in CONFIG_FILES)
    raise PredictError(
        f"no run config in {run_dir}: looked for {looked} (train.py writes both into its run folder)"
    )


def check_folder_config(cfg: Any, trust: Trust, source: Path | str) -> None:
    """:class:`~elmo_tasks.core.trust.UntrustedCodeError` when the (resolved) config of a folder
    names code that is neither elmo-tasks' own nor from a module in ``trust``."""
    check_code(cfg, trust, str(source), HOW_TO_TRUST)


def load_config(run_dir: Path, trust: Trust = ()):
    """The run's composed config, resolved, every ``_target_`` checked (see the module's doc);
    ``.hydra/config.yaml`` gets ``paths.output_dir=run_dir`` since its ``${hydra:...}`` value
    needs a running Hydra."""
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
    check_folder_config(cfg, trust, path)
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


def read_checkpoint(path: Path, verify: bool = True, trust: Trust = ()) -> dict:
    """A Lightning checkpoint (a bare state dict comes back as ``{"state_dict": ...}``),
    checked against its ``.sha256`` (unless ``verify`` is False), loaded with
    ``weights_only=True`` so that no code inside the file runs, checked for non-finite weights,
    and its saved hyperparameters checked for code that is not trusted."""
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
    check_hyperparameters(checkpoint.get("hyper_parameters"), trust, path, HOW_TO_TRUST)
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


def rebuild_problem(error: BaseException) -> str:
    """What building the model from a folder's config raised, in one line (Hydra wraps a class's
    own error in ``InstantiationException``, with the target it called)."""
    return " ".join(str(error).split())[:600]
