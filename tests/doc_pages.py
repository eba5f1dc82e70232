"""The fenced blocks of README.md and docs/*.md, and how tests/test_doc_blocks.py runs them.

A page's blocks run in order in one temporary working copy of the project (``train.py``,
``conf/``, ``elmo_tasks/``, imported from there), so that ``outputs/``, the data folder
``../shared/data`` (a link to the data folder) and every relative path mean what they mean in
the project root the docs assume, and the checkout stays clean. It also holds the sample files
the docs name as the reader's own (:func:`write_samples`). A ``bash`` block runs with
``bash -euo pipefail``, a ``python`` block as a script of its own (``python -c``); either fails
its page when it exits with a status other than 0. Every Hydra command runs at small sizes
through ``ELMO_TASKS_EXTRA_OVERRIDES`` (:data:`TINY`).

``<!-- doc-test: skip REASON -->``, alone on the line right before a fence: the block does not
run here (it needs the network, a GPU, several nodes or SLURM, or CI runs it); the suite
reports it skipped with REASON. A block whose first line is ``# file: PATH`` (``yaml``,
``python`` ...) is a file of the reader's: it is written to PATH in the page's folder before
the page's commands run (the prose may show a file after the command that reads it), and
not run.

A page's blocks all run even after one fails (each failure is reported; later ones may follow
from the first).
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PAGES = ["README.md", *sorted(f"docs/{p.name}" for p in (PROJECT_ROOT / "docs").glob("*.md"))]
RUN = ("bash", "python")
# Pages whose blocks of these languages another test runs: docs/api.md's python blocks share
# one namespace and a stand-in run; docs/extending.md's commands also run a second way.
OWNED = {
    "docs/api.md": ("tests/test_docs_api.py", ("python",)),
    "docs/extending.md": ("tests/test_extending_doc.py", ("bash", "python")),
}
FENCE = re.compile(r"^```(\S*)[ \t]*$")
MARKER = re.compile(r"^<!--\s*doc-test:\s*skip\b\s*(.*?)\s*-->\s*$")
# The page-level marker of an OWNED page: <!-- doc-test: covered-by TEST: how it runs them -->
COVERED_BY = re.compile(r"^<!--\s*doc-test:\s*covered-by\s+(\S+?):?\s.*-->\s*$")
FILE_LINE = re.compile(r"^# file: (\S+)$")
# Small sizes for every Hydra command (train, pretrain, pretrain-word2vec); each applies where
# the command's config has the key.
TINY = [
    "trainer.max_epochs=1",
    "trainer.max_steps=3",
    "++trainer.limit_val_batches=2",
    "++trainer.limit_test_batches=2",
    "trainer.enable_progress_bar=false",
    "callbacks.rich_progress_bar=null",
    "task.max_train_samples=24",
    "task.max_eval_samples=16",
    "threads=1",
    "hydra.sweeper.n_trials=2",
    "data.batch_size=8",
    "data.unroll_steps=8",
    "word2vec.epochs=1",
]
# Data sets of the data folder, and how a block names them (presets, tasks, paths).
DATA_SETS = {
    "sst2": r"\bsst2(?:_|\b)",
    "sst5": r"\bsst[35](?:_|\b)",
    "tweet_sentiment_extraction": r"\btweet_(?:baseline|elmo|optuna|sentiment)",
    "conll2003": r"\bconll2003",
    "wikitext2": r"\bwikitext2\b",
}


@dataclass
class Block:
    page: str
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    skip: str | None = None
    file: str | None = None

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def owner(self) -> str:
        """Which test runs it: ``skip``, ``file`` (written, not run), another test's file
        (:data:`OWNED`), ``run`` (tests/test_doc_blocks.py) or ``none`` (not a command: yaml,
        text, json ...)."""
        if self.skip is not None:
            return "skip"
        test, languages = OWNED.get(self.page, ("", ()))
        if self.lang in languages:
            return test
        if self.file is not None:
            return "file"
        return "run" if self.lang in RUN else "none"


@dataclass
class PageResult:
    """What running a page did: per block, its status and seconds; what failed, and how."""

    page: str
    ran: list[tuple[str, str, float]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stopped: str | None = None  # a skip reason that stopped the page (a data set is missing)


def parse(page: str, text: str | None = None) -> list[Block]:
    """Every fenced block of ``page`` (relative to the project root), with its marker."""
    if text is None:
        text = (PROJECT_ROOT / page).read_text(encoding="utf-8")
    lines, blocks, index = text.split("\n"), [], 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        if end == len(lines):
            raise ValueError(f"{page}:{index + 1}: the fence is never closed")
        block = Block(page, index + 1, opening.group(1), "\n".join(lines[index + 1 : end]) + "\n")
        marker = MARKER.match(lines[index - 1]) if index else None
        if marker:
            if not marker.group(1):
                raise ValueError(f"{page}:{index}: 'doc-test: skip' needs a reason")
            block.skip = marker.group(1)
        named = FILE_LINE.match(lines[index + 1]) if end > index + 1 else None
        if named and block.lang != "bash":
            block.file = named.group(1)
            block.code = "\n".join(lines[index + 2 : end]) + "\n"
        blocks.append(block)
        index = end + 1
    return blocks


def stray_markers(page: str) -> list[int]:
    """Lines of ``doc-test`` markers that are neither a skip right before a fence nor the
    ``covered-by`` line naming the test of an :data:`OWNED` page."""
    lines = (PROJECT_ROOT / page).read_text(encoding="utf-8").split("\n")
    owner = OWNED.get(page, ("",))[0]

    def placed(number: int, line: str) -> bool:
        covered = COVERED_BY.match(line)
        if covered:
            return covered.group(1) == owner
        return (
            bool(MARKER.match(line))
            and number + 1 < len(lines)
            and bool(FENCE.match(lines[number + 1]))
        )

    return [n + 1 for n, line in enumerate(lines) if "doc-test:" in line and not placed(n, line)]


def covered_by(page: str) -> str | None:
    """The test that a page's ``covered-by`` marker names, if it has one."""
    text = (PROJECT_ROOT / page).read_text(encoding="utf-8")
    found = [COVERED_BY.match(line) for line in text.split("\n")]
    return next((m.group(1) for m in found if m), None)


def data_sets_named(code: str) -> list[str]:
    return [name for name, pattern in DATA_SETS.items() if re.search(pattern, code)]


def environment(folder: Path, data_dir: Path) -> dict[str, str]:
    """The environment of a page's blocks: the working copy's package and this interpreter
    first, the data folder, offline hubs, one thread per process (pages run side by side),
    tiny sizes."""
    bin_dir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
        "PYTHONPATH": os.pathsep.join(
            p for p in [str(folder), os.environ.get("PYTHONPATH", "")] if p
        ),
        "ELMO_TASKS_DATA": str(data_dir),
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
        "ELMO_TASKS_EXTRA_OVERRIDES": " ".join(TINY),
    }


def working_copy(folder: Path, data_dir: Path) -> None:
    """The project as the docs assume it: train.py, conf/ and elmo_tasks/ copied, and
    ../shared/data linked to the data folder."""
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(PROJECT_ROOT / "train.py", folder / "train.py")
    for name in ("conf", "elmo_tasks"):
        shutil.copytree(PROJECT_ROOT / name, folder / name, symlinks=True, ignore=skip)
    shared = folder.parent / "shared"
    shared.mkdir(exist_ok=True)
    if not (shared / "data").exists():
        (shared / "data").symlink_to(data_dir.resolve(), target_is_directory=True)


def write_samples(folder: Path) -> None:
    """The reader's own files that the docs name: reviews.txt, my.csv (review, stars),
    train.csv, validation.csv and test.csv (text, label), train.conll and test.conll, a text
    corpus (corpus/train/*.txt.gz, corpus/heldout.txt), and options.json + weights.hdf5 (the
    mini biLM)."""
    from elmo_tasks.data.synthetic import generate
    from elmo_tasks.elmo.hub import packaged_files
    from tests.tiny_runs import write_tagging

    reviews = generate({"train": 160, "validation": 20, "test": 20}, seed=0)
    texts = [row["text"] for rows in reviews.values() for row in rows]
    (folder / "reviews.txt").write_text("\n".join(texts[-4:]) + "\n", encoding="utf-8")
    stars = {"negative": 1, "positive": 5}
    rows = [f'"{row["text"]}",{stars[row["label"]]}' for row in reviews["train"]]
    (folder / "my.csv").write_text("review,stars\n" + "\n".join(rows) + "\n", encoding="utf-8")
    for split, name in (("train", "train"), ("validation", "validation"), ("test", "test")):
        rows = [f'"{row["text"]}",{row["label"]}' for row in reviews[split]]
        (folder / f"{name}.csv").write_text(
            "text,label\n" + "\n".join(rows) + "\n", encoding="utf-8"
        )
    conll = write_tagging(folder / "conll", count=60)
    shutil.copy(conll["train"], folder / "train.conll")
    shutil.copy(conll["dev"], folder / "test.conll")
    corpus = folder / "corpus"
    (corpus / "train").mkdir(parents=True, exist_ok=True)
    with gzip.open(corpus / "train" / "part1.txt.gz", "wt", encoding="utf-8") as handle:
        handle.write("\n".join(texts[:120]) + "\n")
    (corpus / "heldout.txt").write_text("\n".join(texts[120:160]) + "\n", encoding="utf-8")
    for path in packaged_files("mini").values():
        for name in (path.name, f"{path.name}.sha256"):
            if (path.parent / name).is_file():
                shutil.copy(path.parent / name, folder / name)


def run_page(page: str, folder: Path, data_dir: Path, blocks: list[Block]) -> PageResult:
    """Write the page's files, then run its commands in order in ``folder``."""
    result = PageResult(page)
    working_copy(folder, data_dir)
    write_samples(folder)
    for block in blocks:
        if block.owner == "file":
            target = folder / block.file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.code, encoding="utf-8")
    env = environment(folder, data_dir)
    present = {p.name for p in data_dir.iterdir()} if data_dir.is_dir() else set()
    for block in blocks:
        if block.owner != "run":
            continue
        missing = [name for name in data_sets_named(block.code) if name not in present]
        if missing:
            result.stopped = (
                f"{block.where} and the blocks after it need {', '.join(missing)}, "
                f"absent from the data folder {data_dir}"
            )
            return result
        argv = (
            ["bash", "-euo", "pipefail", "-c", block.code]
            if block.lang == "bash"
            else [sys.executable, "-c", block.code]
        )
        start = time.perf_counter()
        done = subprocess.run(
            argv,
            cwd=folder,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=900,
        )
        seconds = time.perf_counter() - start
        result.ran.append((block.where, "ok" if done.returncode == 0 else "FAILED", seconds))
        if done.returncode != 0:
            result.failures.append(
                f"{block.where} ({block.lang}) exited with status {done.returncode}:\n"
                f"{block.code}\n--- stdout (end) ---\n{done.stdout[-2000:]}\n"
                f"--- stderr (end) ---\n{done.stderr[-4000:]}"
            )
    return result
