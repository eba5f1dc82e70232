"""docs/extending.md runs as written, from a folder outside the package: its file blocks (a
first line ``# file: PATH``) are written into a temporary folder and its bash blocks run there,
once as the page gives them (``--config-dir``) and once with ``hydra.searchpath`` in place of
``--config-dir``. The runs also show that caches go where the config says: with HOME pointed
at an empty folder nothing is written under ``~/.cache``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PAGE = PROJECT_ROOT / "docs" / "extending.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
FILE_MARKER = re.compile(r"^# file: (\S+)\n")
CONFIG_DIR_FLAG = "--config-dir my_project/configs"
# Library settings of the machine that would send caches elsewhere than the run says.
UNSET = ("HF_HOME", "HF_DATASETS_CACHE", "XDG_CACHE_HOME", "MPLCONFIGDIR", "HYDRA_FULL_ERROR")


def blocks(page: Path = PAGE) -> list[tuple[str, str]]:
    """``(language, text)`` of every fenced block of ``page``, in order."""
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(page.read_text(encoding="utf-8"))]


def files_of(page: Path = PAGE) -> dict[str, str]:
    """The files the page shows: path -> content (blocks of one path are joined in order)."""
    files: dict[str, str] = {}
    for language, text in blocks(page):
        marker = FILE_MARKER.match(text)
        if language in ("python", "yaml") and marker:
            files[marker.group(1)] = files.get(marker.group(1), "") + text[marker.end() :]
    return files


def commands_of(page: Path = PAGE) -> list[str]:
    """The page's shell commands, one per line, in order."""
    lines = []
    for language, text in blocks(page):
        if language == "bash":
            joined = text.replace("\\\n", " ")
            lines += [line.strip() for line in joined.splitlines() if line.strip()]
    return [line for line in lines if not line.startswith("#")]


def write_project(folder: Path) -> None:
    for relative, content in files_of().items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")


def environment(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(
        HOME=str(home),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        HF_DATASETS_OFFLINE="1",
        HF_HUB_OFFLINE="1",
        OMP_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p),
        **extra,
    )
    return env


def run_page(folder: Path, env: dict[str, str], searchpath: bool) -> dict[str, list[str]]:
    """Run the page's commands in ``folder``: all of them, or with ``searchpath`` those that
    name the config folder, with ``hydra.searchpath`` in place of ``--config-dir`` (the data
    is written first). A train command also gets ``paths.log_dir`` inside ``folder``, so that
    nothing is written elsewhere. Returns each command as run with what it wrote under HOME."""
    home = Path(env["HOME"])
    ran: dict[str, list[str]] = {}
    for command in commands_of():
        if searchpath:
            if CONFIG_DIR_FLAG not in command and "make_data" not in command:
                continue
            absolute = (folder / "my_project" / "configs").as_posix()
            command = command.replace(
                CONFIG_DIR_FLAG, shlex.quote(f"hydra.searchpath=[file://{absolute}]")
            )
        if "elmo-tasks train" in command:
            command += f" paths.log_dir={folder / 'outputs'}"
        before = set(home.rglob("*"))
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"{command}\nexit {done.returncode}\n{done.stderr[-4000:]}"
        assert "Traceback" not in done.stderr, f"{command}\n{done.stderr[-4000:]}"
        if "elmo-tasks predict" in command:  # the trusted run predicts with the user's classes
            assert '"label": ' in done.stdout and '"probabilities"' in done.stdout, done.stdout
        ran[command] = sorted(str(p.relative_to(home)) for p in set(home.rglob("*")) - before)
    return ran


def test_the_page_shows_each_kind_and_runs_it_through_both_ways() -> None:
    files = files_of()
    assert {
        "my_project/myheads.py",
        "my_project/mytaggers.py",
        "my_project/myencoders.py",
        "my_project/configs/task/reviews.yaml",
        "my_project/configs/experiment/reviews_2x2.yaml",
    } <= set(files)
    commands = commands_of()
    assert any(CONFIG_DIR_FLAG in c and "train -m" in c for c in commands)
    assert any("elmo-tasks compare" in c for c in commands)
    assert any("elmo-tasks predict" in c and "trust=myheads" in c for c in commands)
    assert any("hydra.searchpath=[file://" in c for c in commands)


def check_runs(folder: Path) -> None:
    for name, head in (("reviews_cnn", "CnnOverTime"), ("my_ner_window", "WindowTagger")):
        results = json.loads((folder / "outputs" / "runs" / name / "results.json").read_text())
        assert results["head"] == head and results["test"], results
    assert json.loads((folder / "outputs/runs/reviews_cnn/results.json").read_text())[
        "encoder"
    ] == ("BagOfCharacters")
    sweep = folder / "outputs" / "multiruns" / "reviews_2x2"
    heads = sorted(json.loads(p.read_text())["head"] for p in sweep.glob("*/results.json"))
    assert heads == ["CnnOverTime", "CnnOverTime", "LastToken", "LastToken"]
    comparison = (sweep / "comparison.md").read_text(encoding="utf-8")
    assert "head=cnn" in comparison and "head=last_token" in comparison


@pytest.mark.slow
def test_the_examples_run_with_config_dir_and_write_nothing_to_home(tmp_path: Path) -> None:
    folder, home = tmp_path / "work", tmp_path / "home"
    folder.mkdir()
    home.mkdir()
    write_project(folder)
    ran = run_page(folder, environment(home), searchpath=False)
    check_runs(folder)
    for command, written in ran.items():  # compare's chart may warm matplotlib's own cache
        assert "elmo-tasks train" not in command or written == [], f"{command} wrote {written}"
    assert any((folder / "outputs" / "cache" / "datasets").iterdir())  # paths.datasets_cache


@pytest.mark.slow
def test_the_examples_run_with_hydra_searchpath_and_hf_datasets_cache(tmp_path: Path) -> None:
    folder, home, hf_cache = tmp_path / "work", tmp_path / "home", tmp_path / "hf_cache"
    folder.mkdir()
    home.mkdir()
    write_project(folder)
    ran = run_page(folder, environment(home, HF_DATASETS_CACHE=str(hf_cache)), searchpath=True)
    assert sum("hydra.searchpath=[file:///" in command for command in ran) == 3
    assert not any(CONFIG_DIR_FLAG in command for command in ran)
    for name, head in (("reviews_cnn", "CnnOverTime"), ("my_ner_window", "WindowTagger")):
        results = json.loads((folder / "outputs" / "runs" / name / "results.json").read_text())
        assert results["head"] == head and results["test"], results
    sweep = folder / "outputs" / "multiruns" / "reviews_2x2"
    assert len(list(sweep.glob("*/results.json"))) == 4
    assert any(hf_cache.iterdir())  # HF_DATASETS_CACHE, when set, is the datasets cache
    assert not (folder / "outputs" / "cache" / "datasets").exists()
    assert not (home / ".cache").exists()
