"""Where the configs are, and the OmegaConf resolvers they use.

The configs are the package ``elmo_tasks.conf`` (the checkout's ``conf/``, linked into the
package and shipped inside the wheel), which Hydra finds as ``pkg://elmo_tasks.conf``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from omegaconf import OmegaConf

CONFIG_PACKAGE = "elmo_tasks.conf"
CONFIG_SEARCH_PATH = f"pkg://{CONFIG_PACKAGE}"


def _project_root() -> Path:
    """The checkout (the folder holding train.py and conf/) when the package runs from one;
    for an installed package the current folder, under which outputs/ is created."""
    checkout = Path(__file__).resolve().parents[1]
    return checkout if (checkout / "train.py").is_file() and (checkout / "conf").is_dir() else Path.cwd()


DEFAULT_PROJECT_ROOT = _project_root()


def config_dir() -> Path:
    """The folder of the package's configs (config.yaml, pretrain.yaml and the groups)."""
    return Path(str(resources.files(CONFIG_PACKAGE)))


def config_groups(config_name: str) -> str:
    """``group: option, option, ...`` lines for the groups in the defaults list of
    ``config_name``.yaml (what its ``--help`` lists); a group is looked up in the folder
    ``config_name/`` first (pretrain's ``model``), then beside the config."""
    root = config_dir()
    defaults = OmegaConf.to_container(OmegaConf.load(root / f"{config_name}.yaml")).get("defaults", [])
    lines = []
    for entry in defaults:
        group = next(iter(entry)) if isinstance(entry, dict) else None
        if group is None or group.startswith(("hydra", "override")):
            continue
        folder = next((f for f in (root / config_name / group, root / group) if f.is_dir()), None)
        if folder is not None:
            lines.append(f"{group}: {', '.join(sorted(p.stem for p in folder.glob('*.yaml')))}")
    return "\n".join(sorted(lines))


def register_resolvers(project_root: str | Path = DEFAULT_PROJECT_ROOT) -> None:
    """``${project_root:}``: the checkout holding train.py and conf/, else the current folder
    (default data and output paths); ``${config_dir:}``: the folder of the package's configs;
    ``${quickstart_data:SPLIT}`` and ``${quickstart_models:...}``: see elmo_tasks/quickstart.py."""
    from . import quickstart

    root = str(Path(project_root).resolve())
    OmegaConf.register_new_resolver("project_root", lambda: root, replace=True)
    OmegaConf.register_new_resolver("config_dir", lambda: str(config_dir()), replace=True)
    OmegaConf.register_new_resolver("config_groups", config_groups, replace=True)
    OmegaConf.register_new_resolver("quickstart_data", quickstart.data_file, replace=True)
    OmegaConf.register_new_resolver("quickstart_models", quickstart.sweep_models, replace=True)


def compose_config(output_dir: str | Path, overrides: list[str] = (), project_root: str | Path = DEFAULT_PROJECT_ROOT):
    """``conf/config.yaml`` composed outside ``train.py`` (tests, benchmarks, notebooks), with
    the run folder ``output_dir`` and run logs and caches under ``output_dir/logs``."""
    from hydra import compose, initialize_config_dir

    register_resolvers(project_root)
    local = Path(project_root).resolve() / "conf"
    with initialize_config_dir(config_dir=str(local if local.is_dir() else config_dir()), version_base="1.3"):
        return compose(
            "config",
            overrides=[f"paths.output_dir={output_dir}", f"paths.log_dir={output_dir}/logs", *overrides],
        )
