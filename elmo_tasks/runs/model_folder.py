"""Export a trained run to a self-contained model folder (``elmo-tasks export run_dir=RUN out=FOLDER``).

The folder holds everything prediction needs, and nothing of the training data::

    model.safetensors  the weights (a frozen biLM's are not repeated: they are in elmo/)
    config.yaml        the run's resolved config, its file paths pointing into the folder
    data_state.json    the vocabulary and labels (for taggers also the training file's scheme)
    elmo/N/            options.json and weights.hdf5 of each ELMo the encoder was built from
    results.json       the run's metrics
    export.json        format version, what was exported from where, checksums, and
                       ``code_modules``: the modules outside elmo-tasks its config names
    README.md          a model card: task, data, metrics with the seed, ELMo weights, command

``elmo_tasks.load_run(FOLDER)`` loads it; see docs/api.md.
"""

from __future__ import annotations

import json
import shlex
import shutil
import tempfile
from pathlib import Path
from typing import Any

from elmo_tasks.core.trust import code_modules
from elmo_tasks.runs.trained import (
    CONFIG_FILE,
    DATA_STATE_FILE,
    EXPORT_FILE,
    FORMAT_VERSION,
    WEIGHTS_FILE,
    PredictError,
    TrainedRun,
    Trust,
    find_checkpoint,
    load_run,
)

EXAMPLES = {"classification": "a gripping , beautiful film", "tagging": "John lives in Paris ."}


# --------------------------------------------------------------------------- writing


def _bilm_of(module: Any):
    from elmo_tasks.elmo.model import ElmoBiLm

    return next((m for m in module.modules() if isinstance(m, ElmoBiLm)), None)


def _localise_encoder(node: dict, module: Any, folder: Path, key: str, files: list[dict]) -> None:
    """Rewrite the encoder config ``node`` (built into ``module``) for the export folder: ELMo
    files are copied into ``elmo/N/`` and named relative to the folder; a pretrained word
    vector file is dropped (its vectors are in the weights) and ``dim`` set to the real size."""
    children = node.get("encoders")
    if isinstance(children, (list, dict)) and hasattr(module, "encoders"):
        named = children.items() if isinstance(children, dict) else enumerate(children)
        for (name, child), child_module in zip(named, module.encoders):
            _localise_encoder(child, child_module, folder, f"{key}.encoders.{name}", files)
    if "options_file" in node and "weight_file" in node:
        bilm = _bilm_of(module)
        if bilm is None:
            raise PredictError(f"{key}: an ELMo config, but its module holds no ElmoBiLm")
        target = Path("elmo") / str(len(files))
        (folder / target).mkdir(parents=True)
        shutil.copyfile(bilm.options_path, folder / target / "options.json")
        shutil.copyfile(bilm.weights_path, folder / target / "weights.hdf5")
        from elmo_tasks.encoders.elmo_cache import bilm_checksums

        files.append(
            {
                "key": key,
                "options_file": node["options_file"],
                "weight_file": node["weight_file"],
                "copied_to": str(target),
                **bilm_checksums(bilm),
            }
        )
        node["options_file"], node["weight_file"] = (
            str(target / "options.json"),
            str(target / "weights.hdf5"),
        )
    if node.get("pretrained_file"):
        node["pretrained_file"] = None
        node["dim"] = int(module.output_dim)


def _model_card(
    run: TrainedRun,
    results: dict,
    elmo_files: list[dict],
    source: Path,
    checkpoint: Path,
    modules: list[str],
) -> str:
    """README.md of the export folder; ``modules``: the code it needs besides the package."""
    model, cfg = run.model, run.config
    encoder, head = cfg.encoder._target_.rsplit(".", 1)[-1], cfg.head._target_.rsplit(".", 1)[-1]
    lines = [f"# {cfg.task.name}: {encoder} + {head}", ""]
    lines += [
        f"A {run.kind} model trained with elmo-tasks and exported from `{source}` "
        f"(checkpoint `{checkpoint.name}`) with `elmo-tasks export`.",
        "",
        "## Task",
        "",
        f"- kind: {run.kind}; main metric: `{cfg.task.main_metric}`",
        f"- {'classes' if run.kind == 'classification' else 'tags'} ({len(model.labels)}): "
        + ", ".join(f"`{label}`" for label in model.labels),
    ]
    if run.kind == "tagging":
        lines.append(
            f"- scheme learned: {model.scheme}; predictions are written in the training file's "
            f"scheme ({run.datamodule.input_scheme})"
        )
    lines += ["", "## Data", ""]
    data = results.get("data") or {}
    for key, value in (
        data or {"splits": {s: cfg.task.get(f"{s}_file") for s in ("train", "validation", "test")}}
    ).items():
        lines.append(f"- {key}: `{json.dumps(value)}`")
    lines += [
        "",
        "## Metrics",
        "",
        f"Seed {results.get('seed', cfg.get('seed'))}; "
        "validation metrics of the exported checkpoint, test metrics when the run was tested.",
        "",
        "| split | metric | value |",
        "|---|---|---:|",
    ]
    for split in ("val", "test"):
        for name, value in (results.get(split) or {}).items():
            lines.append(
                f"| {split} | {name} | {value:.4f} |"
                if isinstance(value, (int, float))
                else f"| {split} | {name} | {value} |"
            )
    lines += ["", "## ELMo weights", ""]
    if elmo_files:
        for entry in elmo_files:
            lines.append(
                f"- `{entry['key']}`: options `{entry['options_file']}` (sha256 {entry['options_sha256']}), "
                f"weights `{entry['weight_file']}` (sha256 {entry['weights_sha256']}), copied to "
                f"`{entry['copied_to']}/`"
            )
    else:
        lines.append("- none: the encoder does not use ELMo")
    arguments = results.get("train_arguments") or results.get("config_overrides") or []
    lines += ["", "## How it was made", ""]
    if arguments:
        lines += ["```", "python train.py " + " ".join(shlex.quote(a) for a in arguments), "```"]
    else:
        lines += [
            "The run recorded no command-line overrides (it ran with the defaults, or was composed from "
            "Python); `config.yaml` holds its whole resolved config."
        ]
    trust = f", trust={json.dumps(modules)}" if modules else ""
    if modules:
        names = ", ".join(f"`{m}`" for m in modules)
        lines += [
            "",
            "## Code it needs",
            "",
            f"Besides elmo-tasks, this model runs code of {names} (its config names classes there; "
            f"`{EXPORT_FILE}` lists them under `code_modules`). Loading it needs that code "
            "importable (its folder on `PYTHONPATH`) and trusted on purpose: `trust=` below. "
            "Without it, loading stops before anything is built.",
        ]
    lines += [
        "",
        "## Use",
        "",
        "```python",
        "from elmo_tasks import load_run",
        "",
        f'model = load_run("path/to/this/folder", device="auto"{trust})',
        f"print(model.predict([{json.dumps(EXAMPLES[run.kind])}]))",
        "```",
        "",
        "or `python -m elmo_tasks.predict run_dir=path/to/this/folder input=texts.txt"
        + (f" trust={','.join(modules)}" if modules else "")
        + "`.",
        "",
    ]
    return "\n".join(lines)


def export_run(
    run_dir: str | Path,
    out: str | Path,
    checkpoint: str | Path | None = None,
    overwrite: bool = False,
    trust: Trust = (),
) -> Path:
    """Write the export folder ``out`` for the run in ``run_dir``; returns ``out``. ``trust``:
    the modules outside the package that the run's config may name (see ``load_run``)."""
    from omegaconf import OmegaConf
    from safetensors.torch import save_file

    run_dir, out = Path(run_dir).expanduser(), Path(out).expanduser()
    if not run_dir.is_dir():
        raise PredictError(
            f"run_dir {run_dir} is not a folder (expected a run folder written by train.py)"
        )
    if (out / EXPORT_FILE).is_file() and not overwrite:
        raise PredictError(f"{out} already holds an export; pass overwrite=true to replace it")
    if out.exists() and not (out / EXPORT_FILE).is_file() and any(out.iterdir()):
        raise PredictError(f"{out} exists and is not an export folder; choose a new folder")
    checkpoint = Path(checkpoint).expanduser() if checkpoint else find_checkpoint(run_dir)
    run = load_run(run_dir, "cpu", checkpoint, trust=trust)
    results_file = run_dir / "results.json"
    results = json.loads(results_file.read_text(encoding="utf-8")) if results_file.is_file() else {}

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        config = OmegaConf.to_container(run.config, resolve=True)
        modules = code_modules(config)  # the code the folder needs besides elmo-tasks
        elmo_files: list[dict] = []
        _localise_encoder(config["encoder"], run.model.encoder, staging, "encoder", elmo_files)
        state = run.model.state_dict()
        frozen = run.model._reloadable_encoder_state()
        for key in frozen["keys"] if frozen else []:
            state.pop(f"encoder.{key}")
        save_file(
            {k: v.contiguous() for k, v in state.items()},
            str(staging / WEIGHTS_FILE),
            metadata={"format": "pt"},
        )
        OmegaConf.save(OmegaConf.create(config), staging / CONFIG_FILE)
        data_state = run.model.data_state or run.datamodule.trained_state()
        (staging / DATA_STATE_FILE).write_text(
            json.dumps(data_state, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        (staging / "results.json").write_text(
            json.dumps(results, indent=2) + "\n", encoding="utf-8"
        )
        manifest = {
            "format_version": FORMAT_VERSION,
            "kind": run.kind,
            "module": type(run.model).__name__,
            "source_run": str(run_dir.resolve()),
            "checkpoint": str(checkpoint.resolve()),
            "elmo_files": elmo_files,
            "frozen_encoder": frozen,
            "code_modules": modules,
        }
        (staging / EXPORT_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        (staging / "README.md").write_text(
            _model_card(run, results, elmo_files, run_dir, checkpoint, modules), encoding="utf-8"
        )
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return out
