"""One activation cache shared by runs of different encoders (ELMo alone and the paper's
"+ELMo" with ELMo at the output too, which reads two mixes of the same layers): built once
when they start together, intact (every file matches its checksum), and a build killed by
one kind of run is cleaned up and redone by the other (docs/reliability.md). That the files
then serve every kind of run without a build: tests/test_cache_compositions.py."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from elmo_tasks.encoders.elmo_cache import ActivationCache
from tests.conftest import PROJECT_ROOT
from tests.test_faults import (
    TRACEBACK_MARKERS,
    _environment,
    command,
    elmo_task,
    killed_while_paused,
    temporaries,
    tiny_task,
)
from tests.test_resume import write_tiny_sentiment


def baseline_elmo_task(files: dict[str, Path], cache_dir: Path, *extra: str) -> list[str]:
    """Word embeddings + the mini biLM's ELMo, at the BiLSTM's input and output."""
    elmo = "encoder.encoders.elmo"
    return tiny_task(
        files,
        "encoder=concat",
        "encoder.encoders.words.dim=16",
        f"{elmo}.options_file=mini",
        f"{elmo}.weight_file=mini",
        f"{elmo}.cache_dir={cache_dir}",
        f"{elmo}.at_output=true",
        "head.contextualizer=bilstm",
        "head.contextualizer_dim=16",
        *extra,
    )


def _intact(cache: Path) -> list[Path]:
    files = sorted(cache.glob("*.h5"))
    for path in files:
        ActivationCache(path).close()  # raises unless complete and matching its checksum
    return files


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    return write_tiny_sentiment(tmp_path / "data")


@pytest.mark.slow
def test_elmo_and_baseline_elmo_started_together_build_one_cache(files, tmp_path):
    cache = tmp_path / "cache"
    runs = {
        "elmo": elmo_task(files, cache, f"hydra.run.dir={tmp_path / 'elmo'}"),
        "baseline_elmo": baseline_elmo_task(files, cache, f"hydra.run.dir={tmp_path / 'both'}"),
    }
    processes = [
        subprocess.Popen(
            [sys.executable, *args],
            cwd=PROJECT_ROOT,
            env=_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for args in runs.values()
    ]
    outputs = [p.communicate(timeout=400)[0].decode(errors="replace") for p in processes]
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]
        assert not any(marker in output for marker in TRACEBACK_MARKERS), output[-3000:]
    built = "\n".join(outputs).count("building ELMo activation cache")
    hits = "\n".join(outputs).count("ELMo activation cache hit")
    assert len(_intact(cache)) == 3 and built == 3 and hits == 3, "each split built once, by one"
    assert not temporaries(cache) and not list(cache.glob("*.tmp"))


@pytest.mark.slow
def test_a_build_killed_in_an_elmo_run_is_redone_by_a_baseline_elmo_run(files, tmp_path):
    cache = tmp_path / "cache"
    elmo = elmo_task(files, cache, f"hydra.run.dir={tmp_path / 'elmo'}")
    assert killed_while_paused("cache", tmp_path / "paused", elmo) == -signal.SIGKILL
    assert temporaries(cache), "the killed build leaves its temporary file"
    result = command(baseline_elmo_task(files, cache, f"hydra.run.dir={tmp_path / 'both'}"))
    assert result.status == 0, result.output[-3000:]
    assert re.search(r"removed \S+\.tmp .*killed", result.output), result.output[-3000:]
    assert len(_intact(cache)) == 3 and not temporaries(cache)
    assert result.output.count("building ELMo activation cache") == 3
    assert (tmp_path / "both" / "results.json").is_file()
