"""The configs composed outside the command line, and the OmegaConf resolvers they use."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import ListConfig, OmegaConf

from elmo_tasks.core.paths import DEFAULT_PROJECT_ROOT, config_dir


def config_groups(config_name: str) -> str:
    """``group: option, option, ...`` lines for the groups in the defaults list of
    ``config_name``.yaml (what its ``--help`` lists); a group is looked up in the folder
    ``config_name/`` first (pretrain's ``model``), then beside the config."""
    root = config_dir()
    defaults = OmegaConf.to_container(OmegaConf.load(root / f"{config_name}.yaml")).get(
        "defaults", []
    )
    lines = []
    for entry in defaults:
        group = next(iter(entry)) if isinstance(entry, dict) else None
        if group is None or group.startswith(("hydra", "override")):
            continue
        folder = next((f for f in (root / config_name / group, root / group) if f.is_dir()), None)
        if folder is not None:
            lines.append(f"{group}: {', '.join(sorted(p.stem for p in folder.glob('*.yaml')))}")
    return "\n".join(sorted(lines))


def launch_folder() -> str:
    """The folder the command was started in: Hydra's ``runtime.cwd`` inside a Hydra app (the
    same even with ``hydra.job.chdir=true``), else the current folder."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        cwd = HydraConfig.get().runtime.get("cwd")
        if cwd:
            return str(cwd)
    return str(Path.cwd())


def register_resolvers(project_root: str | Path = DEFAULT_PROJECT_ROOT) -> None:
    """``${project_root:}``: the checkout holding train.py and conf/, else the current folder
    (the default data folder is beside it); ``${cwd:}``: the folder the command was started in
    (outputs/ is created there; :func:`launch_folder`); ``${config_dir:}``: the folder of the package's configs;
    ``${quickstart_data:SPLIT}`` and ``${quickstart_models:...}``: see elmo_tasks/runs/quickstart.py;
    ``${default_corpus:FILE}``: see :func:`default_corpus_file`."""
    from elmo_tasks.runs import quickstart

    root = str(Path(project_root).resolve())
    OmegaConf.register_new_resolver("project_root", lambda: root, replace=True)
    OmegaConf.register_new_resolver("cwd", launch_folder, replace=True)
    OmegaConf.register_new_resolver("config_dir", lambda: str(config_dir()), replace=True)
    OmegaConf.register_new_resolver("config_groups", config_groups, replace=True)
    OmegaConf.register_new_resolver("quickstart_data", quickstart.data_file, replace=True)
    OmegaConf.register_new_resolver("quickstart_models", quickstart.sweep_models, replace=True)
    OmegaConf.register_new_resolver("default_corpus", default_corpus_file, replace=True)


# The pretraining corpus of conf/pretrain.yaml when no data.train_files is given.
DEFAULT_CORPUS = "wikitext2"


def default_corpus_file(name: str, *, _root_: Any) -> str | None:
    """``${default_corpus:valid.txt}``: ``FILE`` of the default pretraining corpus
    (``${paths.data_dir}/wikitext2/FILE``) when ``data.train_files`` includes that corpus's
    training file, else None: pretraining on your own files validates and tests on the files
    you give, and needs nothing from the data folder."""
    corpus = Path(str(_root_.paths.data_dir)).expanduser() / DEFAULT_CORPUS
    train = _root_.data.train_files
    entries = list(train) if isinstance(train, (list, ListConfig)) else [train]
    default_train = os.path.abspath(corpus / "train.txt.gz")
    if any(os.path.abspath(Path(str(entry)).expanduser()) == default_train for entry in entries):
        return str(corpus / name)
    return None


def compose_config(
    output_dir: str | Path,
    overrides: list[str] = (),
    project_root: str | Path = DEFAULT_PROJECT_ROOT,
):
    """``conf/config.yaml`` composed outside ``train.py`` (tests, benchmarks, notebooks), with
    the run folder ``output_dir`` and run logs and caches under ``output_dir/logs`` (and Hydra's
    basic launcher where the quickstart's joblib is not installed, as ``train.py`` runs it)."""
    from hydra import compose, initialize_config_dir

    from elmo_tasks.core.config_search import composable

    register_resolvers(project_root)
    local = Path(project_root).resolve() / "conf"
    with initialize_config_dir(
        config_dir=str(local if local.is_dir() else config_dir()), version_base="1.3"
    ):
        return compose(
            "config",
            overrides=composable(
                [f"paths.output_dir={output_dir}", f"paths.log_dir={output_dir}/logs", *overrides]
            ),
        )
