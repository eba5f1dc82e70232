"""A resume that fails leaves the run folder's files as they were.

Hydra writes ``.hydra/config.yaml``, ``hydra.yaml`` and ``overrides.yaml`` into the run folder,
and opens the job's ``.log`` file there, *before* the task function runs: by the time a resume
is refused (a damaged ``last.ckpt``, code that is not trusted) they already describe the
failed attempt instead of the run. :class:`KeepRunFiles`, a Hydra callback (``hydra.callbacks
.keep_run_files`` in conf/config.yaml), reads them when a single run with ``ckpt_path`` starts;
:func:`restore_run_files` puts them back (and removes the ones the attempt created) when that
run fails (the log only when the run failed before training: once a resumed run trains, its
log records that). ``metrics.csv`` has its own mechanism (:mod:`elmo_tasks.core.resume`); checkpoints
are only replaced by a resumed run that trains.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

log = logging.getLogger(__name__)

HYDRA_SUBDIR = ".hydra"
PATTERNS = ("*.log", "*.yaml", f"{HYDRA_SUBDIR}/*")


@dataclass
class KeptFiles:
    """A run folder's files as they were when the run started."""

    run_dir: Path
    files: dict[Path, bytes] = field(default_factory=dict)
    created_dirs: list[Path] = field(default_factory=list)
    training: bool = False
    """Training started: the job's log then records what the resumed run did, and stays."""


_kept: list[KeptFiles] = []  # at most one: the run of this process


def run_files(run_dir: Path) -> list[Path]:
    """The files of ``run_dir`` a starting run may rewrite: Hydra's ``.hydra/`` files, the job
    log, ``hparams.yaml`` (and the other ``*.yaml`` beside them)."""
    return sorted({p for pattern in PATTERNS for p in run_dir.glob(pattern) if p.is_file()})


def keep_run_files(run_dir: str | Path) -> None:
    """Remember the files of ``run_dir`` (:func:`run_files`) as they are now."""
    run_dir = Path(run_dir)
    kept = KeptFiles(run_dir)
    kept.created_dirs = [d for d in (run_dir, run_dir / HYDRA_SUBDIR) if not d.exists()]
    kept.files = {path: path.read_bytes() for path in run_files(run_dir)}
    _kept[:] = [kept]


def forget_run_files() -> None:
    _kept.clear()


def training_started() -> None:
    """From here on a failure keeps the job's log (what the resumed run trained is history);
    the other files are still put back."""
    for kept in _kept:
        kept.training = True


def _restored(kept: KeptFiles, path: Path) -> bool:
    return not (kept.training and path.suffix == ".log")


def restore_run_files() -> None:
    """Put back what :func:`keep_run_files` remembered; files the failed run created go."""
    if not _kept:
        return
    kept = _kept.pop()
    for path in run_files(kept.run_dir):
        if path not in kept.files and _restored(kept, path):
            path.unlink(missing_ok=True)
    for path, data in kept.files.items():
        if _restored(kept, path) and (not path.is_file() or path.read_bytes() != data):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    for folder in reversed(kept.created_dirs):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    log.debug("the run folder's files are as before the failed resume: %s", kept.run_dir)


class KeepRunFiles(Callback):
    """Hydra callback: a single run started with ``ckpt_path`` remembers its run folder's files
    before Hydra rewrites them (see the module's doc)."""

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        forget_run_files()
        if not config.get("ckpt_path"):
            return
        try:
            run_dir = Path(str(config.hydra.run.dir))
        except Exception:  # noqa: BLE001 - a run dir that does not resolve: Hydra will say so
            return
        keep_run_files(run_dir)
