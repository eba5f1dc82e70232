"""Checks run before anything is built, so that a newcomer's mistake stops the run at once
with one message that says what is wrong and how to fix it.

:func:`check` is called first thing by ``experiment.run`` and ``pretrain.run``. In order:

1. no mandatory value (``???``) is left unset (``task=text_classification`` needs ``task.train_file``);
1b. values have the right type and range and the folders to write can be written
   (:func:`check_values`: one :class:`~elmo_tasks.config_values.ConfigValueError`, exit status 2,
   listing every problem). Each component keeps its own check, gathered here: the task's sizes
   and limits (``data.base.check_task_values``), the trainer's (``trainer_checks``), the
   optimiser's (``optim_checks``), the cache folder (``cache.check_cache_dir``);
2. CUDA, when the trainer asks for it (``trainer=gpu``, or ``trainer.accelerator=gpu``), is there;
3. every local data file the task will read exists (:class:`~elmo_tasks.errors.DataNotFoundError`
   names each path, the key that set it, ``$ELMO_TASKS_DATA`` and the fixes), and a hub
   dataset is reachable or offline mode is on (:class:`~elmo_tasks.errors.HubUnavailableError`
   within a few seconds, never a hang);
4. ELMo options/weights and word-vector files exist locally, or, for presets and URLs that
   are not cached yet, their server can be reached (:class:`~elmo_tasks.errors.WeightsNotFoundError`).

Each check reads only the config; none of them builds a model or reads a data set.
"""

from __future__ import annotations

import difflib
import glob
import os
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from .errors import (
    CudaUnavailableError,
    DataNotFoundError,
    MissingValueError,
    WeightsNotFoundError,
    data_dir_note,
    data_env_value,
    reachable,
    shown_path,
    train_command,
)

FILE_KEYS = ("train_file", "validation_file", "test_file")
KNOWN_DATA_MODULES = ("ClassificationDataModule", "TaggingDataModule")
FILE_READERS = ("table", "sst_trees", "sst3_trees")

# Hub copies of the shared data sets, as overrides of the task that reads the local copy.
HUB_ALTERNATIVES = {
    "sst2": "task.reader=hub +task.hub_name=glue +task.hub_config=sst2 task.train_file=train "
    "task.validation_file=validation task.test_file=null",
    "sst5": "task.reader=hub +task.hub_name=SetFit/sst5 task.train_file=train task.validation_file=validation "
    "task.test_file=test",
    "tweet_sentiment": "task.reader=hub +task.hub_name=mteb/tweet_sentiment_extraction task.train_file=train "
    "task.test_file=test",
    "tweeteval_sentiment": "task.reader=hub task.validation_file=validation",
}


def check(cfg: DictConfig) -> None:
    """All pre-flight checks for a composed ``conf/config.yaml`` or ``conf/pretrain.yaml``."""
    check_missing_values(cfg)
    check_values(cfg)
    pretraining = cfg.get("data") is not None and cfg.get("model") is not None
    if cfg.get("trainer") is not None:
        check_cuda(cfg.trainer, command="python -m elmo_tasks.pretrain" if pretraining else "python train.py")
    if cfg.get("task") is not None:
        check_task_data(cfg)
    if cfg.get("encoder") is not None:
        check_encoder(cfg.encoder, "encoder")
    if pretraining:
        check_pretrain_data(cfg)
        init_from = cfg.model.get("init_from")
        if init_from:
            check_elmo_files(init_from, "model.init_from")


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
        choice = _choice("task") or task.get("name", "...")
        if _is_tagging(task):
            example = f"task={choice} task.train_file=/path/to/train.conll task.test_file=/path/to/test.conll"
            what = "a CoNLL-style column file (one `token ... tag` line per token, blank lines between sentences)"
        else:
            example = (
                f"task={choice} task.train_file=/path/to/train.csv task.text_column=text task.label_column=label"
            )
            what = "a .csv, .tsv or .jsonl file with a text and a label column"
        lines.append(f"task={choice} trains on your own files: give {what}, e.g.")
        lines.append(f"  {train_command(example)}")
        lines.append("or pick a task with data of its own: task=sst2, tweet_sentiment, sst5, sst3 or conll2003.")
    else:
        lines.append("Set them on the command line, e.g. " + " ".join(f"{key}=VALUE" for key in missing))
    raise MissingValueError("\n".join(lines))


# --------------------------------------------------------------------------- values and folders


def check_values(cfg: DictConfig) -> None:
    """:class:`~elmo_tasks.config_values.ConfigValueError` listing every value of the wrong type
    or range and every folder that cannot be written, gathered from each component's check."""
    from .cache import check_cache_dir
    from .config_values import raise_problems, whole_number, writable_folder
    from .data.base import check_task_values
    from .optim_checks import check_optim_values
    from .trainer_checks import check_trainer_values

    problems: list[str | None] = []
    if cfg.get("threads") is not None:
        problems.append(whole_number(cfg.get("threads"), "threads", 1))
    if cfg.get("trainer") is not None:
        problems += check_trainer_values(cfg.trainer)
    if cfg.get("optim") is not None:
        problems += check_optim_values(cfg.optim)
    if cfg.get("task") is not None:
        problems += check_task_values(cfg.task)
    if cfg.get("data") is not None and cfg.get("model") is not None:  # pretraining
        problems += check_task_values(cfg.data, "data")
    for key, encoder in _encoders(cfg.get("encoder"), "encoder"):
        problems.append(check_cache_dir(encoder.get("cache_dir"), f"{key}.cache_dir"))
    problems.append(writable_folder(_resolved(cfg, "paths.output_dir"), "paths.output_dir"))
    problems.append(writable_folder(_resolved(cfg, "export_dir"), "export_dir"))  # pretraining
    for name in cfg.get("callbacks") or {}:
        problems.append(writable_folder(_resolved(cfg, f"callbacks.{name}.dirpath"), f"callbacks.{name}.dirpath"))
    raise_problems(problems)


def _resolved(cfg: DictConfig, key: str) -> Any:
    """The value at ``key``, or None when it is absent or needs a running Hydra to resolve."""
    try:
        return OmegaConf.select(cfg, key, default=None)
    except Exception:  # noqa: BLE001 - ${hydra:...} outside a Hydra run
        return None


def _encoders(encoder: Any, key: str) -> list[tuple[str, Any]]:
    """``(key, config)`` of an encoder and of each encoder of a concat."""
    if encoder is None:
        return []
    found = [(key, encoder)]
    subs = encoder.get("encoders") or []
    for name, sub in (subs.items() if isinstance(subs, Mapping) else enumerate(subs)):
        found += _encoders(sub, f"{key}.encoders.{name}")
    return found


# --------------------------------------------------------------------------- CUDA


def check_cuda(trainer: Mapping[str, Any], key: str = "trainer", command: str = "python train.py") -> None:
    """:class:`CudaUnavailableError` when ``accelerator`` is gpu/cuda and CUDA is not usable,
    or when more CUDA devices are asked for than are visible."""
    accelerator = str(trainer.get("accelerator") or "auto").lower()
    if accelerator not in ("gpu", "cuda"):
        return
    import torch

    devices = trainer.get("devices")
    choice = _choice("trainer")
    requested = f"{key}.accelerator={accelerator}" + (f", trainer={choice}" if choice else "")
    ddp = "ddp" in str(trainer.get("strategy") or "")
    if ddp:
        cpu_fix = "trainer.accelerator=cpu (DDP over CPU processes, with gloo)"
    else:
        cpu_fix = "trainer=cpu (or trainer.accelerator=cpu)"
    if not torch.cuda.is_available():
        if torch.version.cuda is None:
            why = f"this torch build ({torch.__version__}) has no CUDA support"
        else:
            visible = os.environ.get("CUDA_VISIBLE_DEVICES")
            why = f"torch {torch.__version__} (CUDA {torch.version.cuda}) finds no usable NVIDIA GPU or driver" + (
                f" (CUDA_VISIBLE_DEVICES={visible!r})" if visible is not None else ""
            )
        raise CudaUnavailableError(
            f"CUDA was requested ({requested}) but torch.cuda.is_available() is False: {why}.\n"
            f"Run on the CPU instead: {command} ... {cpu_fix}; on a machine with an NVIDIA GPU, "
            "install a CUDA build of torch (https://pytorch.org/get-started/locally/)."
        )
    wanted = _device_count(devices)
    available = torch.cuda.device_count()
    if wanted is not None and wanted > available:
        raise CudaUnavailableError(
            f"{key}.devices={devices} asks for {wanted} CUDA devices but only {available} "
            f"{'is' if available == 1 else 'are'} visible: set {key}.devices={available} (or -1 for all)."
        )


def _device_count(devices: Any) -> int | None:
    if isinstance(devices, bool) or devices is None:
        return None
    if isinstance(devices, int):
        return devices if devices > 0 else None
    if isinstance(devices, (list, tuple, ListConfig)):
        return max(int(d) for d in devices) + 1 if len(devices) else None
    if isinstance(devices, str) and devices.strip().isdigit():
        return int(devices)
    if isinstance(devices, str) and "," in devices:
        ids = [int(d) for d in devices.split(",") if d.strip().isdigit()]
        return max(ids) + 1 if ids else None
    return None


# --------------------------------------------------------------------------- task data


def task_sources(task: Mapping[str, Any]) -> tuple[str | None, list[tuple[str, Path]]]:
    """What a task config reads: ``(hub source, [])`` for a hub dataset, else ``(None,
    [(config key, local path), ...])``; ``(None, [])`` for a data module it does not know."""
    tagging = _is_tagging(task)
    if not str(task.get("_target_", "")).endswith(KNOWN_DATA_MODULES):
        return None, []
    reader = "conll" if tagging else str(task.get("reader", "table"))
    hub_name = task.get("hub_name")
    if hub_name and (tagging or reader == "hub"):
        config, revision = task.get("hub_config"), task.get("hub_revision")
        name = f"{hub_name}" + (f"/{config}" if config else "") + (f"@{revision}" if revision else "")
        return f"{name} [{task.get('train_file')}]", []
    sources: list[tuple[str, Path]] = []
    if reader == "tweeteval":
        directory = Path(str(task.get("data_dir"))).expanduser()
        for key in FILE_KEYS:
            split = task.get(key)
            if split is None:
                continue
            split = "val" if str(split) == "validation" else str(split)
            for suffix in ("text", "labels"):
                sources.append((f"task.data_dir + task.{key}={task.get(key)}", directory / f"{split}_{suffix}.txt"))
        sources.append(("task.data_dir", directory / "mapping.txt"))
    elif tagging or reader in FILE_READERS:
        for key in FILE_KEYS:
            value = task.get(key)
            if value is not None:
                sources.append((f"task.{key}", Path(str(value)).expanduser()))
    return None, sources


def check_task_data(cfg: DictConfig) -> None:
    """:class:`DataNotFoundError` listing every file of ``cfg.task`` that is missing, or
    :class:`HubUnavailableError` when its hub dataset cannot be reached."""
    task = cfg.task
    hub, sources = task_sources(task)
    if hub is not None:
        check_hub(hub, tagging=_is_tagging(task))
        return
    missing = [(key, path) for key, path in sources if not path.is_file()]
    if missing:
        raise DataNotFoundError(_task_data_message(cfg, missing))


def _task_data_message(cfg: DictConfig, missing: list[tuple[str, Path]]) -> str:
    task = cfg.task
    name = str(task.get("name", "?"))
    choice = _choice("task") or name
    raw = OmegaConf.to_container(task, resolve=False)
    data_dir = Path(str(cfg.paths.data_dir)).expanduser() if cfg.get("paths") else None
    from_data_dir = any("paths.data_dir" in str(raw.get(_field(key), "")) for key, _ in missing)
    noun = "file" if len(missing) == 1 else "files"
    lines = [f"data for task={choice} not found; the {noun} looked for:"]
    for key, path in missing:
        note = " (a folder, not a file)" if path.is_dir() else ""
        lines.append(f"  {shown_path(path)}{note}   <- {key}")
    lines.append(data_dir_note(data_dir, _data_dir_from_env(cfg)) if from_data_dir else (
        f"These paths were given on the command line or in the task config ({data_env_value()}; it only "
        "moves the paths built from ${paths.data_dir})."
    ))
    lines.append("To fix it, do one of:")
    if from_data_dir:
        inside = _relative_to(missing[0][1], data_dir)
        lines.append(
            f"  - point ELMO_TASKS_DATA at the folder that holds {inside}: export ELMO_TASKS_DATA=/path/to/data "
            "(or add paths.data_dir=/path/to/data); docs/data.md lists the expected layout"
        )
    given: dict[str, str] = {}
    for key, path in missing:
        if not key.startswith("task.data_dir"):
            given.setdefault(key, f"{key}=/path/to/{path.name}")
    if given:
        lines.append("  - add the files' paths to the command: " + " ".join(given.values()))
    else:
        lines.append(
            "  - point task.data_dir at a folder with {split}_text.txt, {split}_labels.txt and mapping.txt: "
            "add task.data_dir=/path/to/tweeteval/sentiment to the command"
        )
    if name == "tweeteval_sentiment" and any(p.name == "train_text.txt" for _, p in missing):
        lines.append("    (the shared copy of TweetEval lacks train_text.txt: its train texts are not redistributed)")
    hub = HUB_ALTERNATIVES.get(name)
    if hub is None:
        prefix = "" if "hub_name" in task else "+"
        tagging = _is_tagging(task)
        reader = "" if tagging else "task.reader=hub "
        columns = " (a dataset with tokens / ner_tags columns)" if tagging else ""
        hub = f"{reader}{prefix}task.hub_name=NAME task.train_file=train task.validation_file=validation{columns}"
    if name != "sst3":
        lines.append(f"  - read a Hugging Face hub dataset instead (needs network): add {hub}")
    return "\n".join(lines)


def _field(key: str) -> str:
    """``task.train_file`` -> ``train_file``; ``task.data_dir + ...`` -> ``data_dir``."""
    return key.split(" ")[0].split(".", 1)[1]


def _relative_to(path: Path, folder: Path | None) -> str:
    try:
        return f"{path.relative_to(folder)}" if folder is not None else str(path)
    except ValueError:
        return str(path)


def _data_dir_from_env(cfg: DictConfig) -> bool:
    raw = OmegaConf.to_container(cfg.paths, resolve=False) if cfg.get("paths") is not None else {}
    return "ELMO_TASKS_DATA" in str(raw.get("data_dir", ""))


def check_hub(source: str, tagging: bool = False) -> None:
    """:class:`HubUnavailableError` at once when the hub cannot be reached (see
    ``read_hub``); in offline mode ``datasets`` itself answers from its cache at once."""
    from .data.classification import _check_hub_reachable

    _check_hub_reachable(source, tagging=tagging)


# --------------------------------------------------------------------------- pretraining data


def check_pretrain_data(cfg: DictConfig) -> None:
    """:class:`DataNotFoundError` for ``data.train_files`` / ``data.validation_files`` entries
    that match no file, and for a missing ``data.vocab_file``."""
    data = cfg.data
    missing: list[tuple[str, str]] = []
    for key in [k for k in data if str(k).endswith("_files")]:  # train_files, validation_files, test_files
        value = data.get(key)
        if value is None:
            continue
        entries = list(value) if isinstance(value, (ListConfig, list, tuple)) else [value]
        for entry in entries:
            entry = str(Path(str(entry)).expanduser())
            matches = glob.glob(entry) if glob.has_magic(entry) else ([entry] if Path(entry).is_file() else [])
            if not any(Path(m).is_file() for m in matches):
                missing.append((f"data.{key}", entry))
    vocab = data.get("vocab_file")
    if vocab and not Path(str(vocab)).expanduser().is_file():
        missing.append(("data.vocab_file", str(vocab)))
    if not missing:
        return
    raw = OmegaConf.to_container(data, resolve=False)
    from_data_dir = any("paths.data_dir" in str(raw.get(key.split(".")[1], "")) for key, _ in missing)
    data_dir = Path(str(cfg.paths.data_dir)).expanduser() if cfg.get("paths") else None
    lines = ["pretraining data not found; looked for:"]
    lines += [f"  {shown_path(entry)}   <- {key}" for key, entry in missing]
    if from_data_dir:
        lines.append(data_dir_note(data_dir, _data_dir_from_env(cfg)))
    else:
        lines.append(f"({data_env_value()}; it only moves the paths built from ${{paths.data_dir}}.)")
    lines.append("To fix it, do one of:")
    if from_data_dir:
        inside = _relative_to(Path(missing[0][1]), data_dir)
        lines.append(f"  - export ELMO_TASKS_DATA=/path/to/data, the folder that holds {inside}")
    optional = sorted({key for key, _ in missing if key not in ("data.train_files", "data.vocab_file")})
    lines.append(
        "  - give your corpus: python -m elmo_tasks.pretrain data.train_files='corpus/*.txt.gz' "
        "data.validation_files=corpus/heldout.txt (each a path, a glob or a list)"
        + (f"; or {' '.join(f'{key}=null' for key in optional)} to do without" if optional else "")
    )
    if any(key == "data.vocab_file" for key, _ in missing):
        lines.append("  - data.vocab_file=null builds the vocabulary from data.train_files")
    raise DataNotFoundError("\n".join(lines))


# --------------------------------------------------------------------------- weights


def check_encoder(encoder: Mapping[str, Any], key: str = "encoder") -> None:
    """ELMo files and word-vector files of an encoder config (and of each encoder of a concat)."""
    subs = encoder.get("encoders") or []
    for name, sub in (subs.items() if isinstance(subs, Mapping) else enumerate(subs)):
        check_encoder(sub, f"{key}.encoders.{name}")
    if "options_file" in encoder and "weight_file" in encoder:
        check_elmo_files(encoder, key)
    pretrained = encoder.get("pretrained_file")
    if pretrained and not Path(str(pretrained)).expanduser().is_file():
        raise WeightsNotFoundError(word_vectors_message(pretrained, f"{key}.pretrained_file"))


def word_vectors_message(path: Any, key: str = "encoder.pretrained_file") -> str:
    return (
        f"pretrained word vectors not found: {shown_path(path)}   <- {key}\n"
        f"{key} takes a GloVe, word2vec or fastText text file (one `word v1 v2 ...` line per word, .gz allowed), "
        f"e.g. {key}=/path/to/glove.6B.300d.txt; or {key}=null to learn the embeddings from a random start."
    )


def check_elmo_files(encoder: Mapping[str, Any], key: str) -> None:
    """:class:`WeightsNotFoundError` naming both ELMo files' problems, if any."""
    from .elmo import hub

    problems: list[str] = []
    unreachable: dict[str, list[tuple[str, str, str]]] = {}
    for field, kind in (("options_file", "options"), ("weight_file", "weights")):
        value = encoder.get(field)
        full_key = f"{key}.{field}"
        if value is None or str(value) == "":
            problems.append(f"{full_key} is not set")
            continue
        text = str(value)
        if text in hub.PACKAGED:
            problem = hub.packaged_file_missing(text, kind)
            if problem:
                problems.append(f"{problem}   <- {full_key}")
            continue
        if text in hub.PRESETS or text.startswith(("http://", "https://")):
            url = hub.PRESETS[text].url(kind) if text in hub.PRESETS else text
            if hub.is_downloaded(url):
                continue
            why = _url_unreachable(url)
            if why:
                unreachable.setdefault(why, []).append((full_key, text, url.split("#", 1)[0]))
            continue
        if not Path(text).expanduser().exists():
            problems.append(f"ELMo {kind} file not found: {shown_path(text)}   <- {full_key}" + _preset_hint(text, hub))
    if not problems and not unreachable:
        return
    lines = list(problems)
    for why, items in unreachable.items():
        names = sorted({text for _, text, _ in items})
        what = f"ELMo preset {names[0]!r} is" if len(names) == 1 and names[0] in hub.PRESETS else (
            f"the ELMo file{'s' if len(names) > 1 else ''} {', '.join(names)} {'are' if len(names) > 1 else 'is'}"
        )
        lines.append(
            f"{what} not in the download cache {hub.cache_dir()} ({', '.join(k for k, _, _ in items)}) "
            f"and cannot be downloaded: {why}. Download on a machine with network access:"
        )
        lines += [f"    {url}" for _, _, url in items]
        lines.append(
            "  and pass the local files' paths (or copy that machine's cache folder and set ELMO_TASKS_CACHE to it)."
        )
        packaged = [name for name in hub.PACKAGED if hub.packaged_available(name)]
        if packaged:
            lines.append(
                f"  Or use the biLM shipped with the package, no download: {key}.options_file={packaged[0]} "
                f"{key}.weight_file={packaged[0]}."
            )
    presets = ", ".join([*hub.PACKAGED, *hub.PRESETS])
    lines.append(
        f"{key}.options_file and {key}.weight_file take a local path, an http(s) URL or a preset name ({presets}); "
        f"e.g. {key}.options_file=/path/to/options.json {key}.weight_file=/path/to/weights.hdf5 "
        "(python -m elmo_tasks.pretrain writes both into <run>/export/)."
    )
    raise WeightsNotFoundError("\n".join(lines))


def _preset_hint(text: str, hub: Any) -> str:
    names = [*hub.PACKAGED, *hub.PRESETS]
    nearest = difflib.get_close_matches(text, names, n=1, cutoff=0.6)
    return f" (did you mean the preset {nearest[0]!r}?)" if nearest else ""


def _url_unreachable(url: str) -> str | None:
    """Why ``url``'s server cannot be reached, or None (also when a proxy is configured: the
    download itself will tell)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname
    if not host:
        return f"{url} has no host"
    if urllib.request.getproxies().get(parts.scheme) and not urllib.request.proxy_bypass(host):
        return None
    return reachable(host, parts.port or (443 if parts.scheme == "https" else 80))


# --------------------------------------------------------------------------- helpers


def _is_tagging(task: Mapping[str, Any]) -> bool:
    """Whether a task config builds the CoNLL tagging data module."""
    return str(task.get("_target_", "")).endswith("TaggingDataModule")


def _choice(group: str) -> str | None:
    """The option chosen for ``group`` in this Hydra run (``sst2`` for ``task``), if known."""
    try:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            value = HydraConfig.get().runtime.choices.get(group)
            return str(value) if value is not None else None
    except Exception:  # noqa: BLE001 - outside Hydra or no choices
        return None
    return None
