"""OmegaConf resolvers used by the configs in conf/."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

DEFAULT_PROJECT_ROOT = Path(__file__).resolve().parents[1]


def register_resolvers(project_root: str | Path = DEFAULT_PROJECT_ROOT) -> None:
    """``${project_root:}``: the folder holding train.py and conf/ (default data and output paths);
    ``${quickstart_data:SPLIT}`` and ``${quickstart_models:...}``: see elmo_tasks/quickstart.py."""
    from . import quickstart

    root = str(Path(project_root).resolve())
    OmegaConf.register_new_resolver("project_root", lambda: root, replace=True)
    OmegaConf.register_new_resolver("quickstart_data", quickstart.data_file, replace=True)
    OmegaConf.register_new_resolver("quickstart_models", quickstart.sweep_models, replace=True)


def compose_config(output_dir: str | Path, overrides: list[str] = (), project_root: str | Path = DEFAULT_PROJECT_ROOT):
    """``conf/config.yaml`` composed outside ``train.py`` (tests, benchmarks, notebooks), with
    the run folder ``output_dir`` and run logs and caches under ``output_dir/logs``."""
    from hydra import compose, initialize_config_dir

    register_resolvers(project_root)
    with initialize_config_dir(config_dir=str(Path(project_root).resolve() / "conf"), version_base="1.3"):
        return compose(
            "config",
            overrides=[f"paths.output_dir={output_dir}", f"paths.log_dir={output_dir}/logs", *overrides],
        )
