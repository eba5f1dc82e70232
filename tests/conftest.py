"""Shared fixtures: where the data lives, the AllenNLP ELMo fixture, tiny random biLMs."""

from __future__ import annotations

import json
import os

# Nothing in the suite may wait on the network: HF datasets and hub calls fail at once offline.
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from elmo_tasks.elmo import ElmoOptions  # noqa: E402
from elmo_tasks.elmo.random_weights import write_random_elmo  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = PROJECT_ROOT.parent / "shared" / "data"

ELMO_FIXTURE_FILES = (
    "options.json",
    "lm_weights.hdf5",
    "sentences.json",
    "lm_embeddings_0.hdf5",
    "vocab_test.txt",
    "elmo_token_embeddings.hdf5",
)


def tiny_options(**overrides) -> ElmoOptions:
    """A biLM small enough to build in milliseconds; keyword arguments override fields."""
    fields = dict(
        char_embedding_dim=4,
        filters=[(1, 4), (2, 8), (3, 8)],
        n_highway=1,
        lstm_dim=8,
        projection_dim=4,
        n_layers=2,
        cell_clip=3.0,
        proj_clip=3.0,
        use_skip_connections=True,
    )
    fields.update(overrides)
    return ElmoOptions(**fields)


@dataclass(frozen=True)
class ElmoFiles:
    options_file: Path
    weight_file: Path
    options: ElmoOptions


# The tests run tiny models, for which one intra-op thread is fastest; more threads can make
# them many times slower when other jobs keep the cores busy (as on a shared CI machine).
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``$ELMO_TASKS_DATA``, or ``../shared/data`` relative to the project root."""
    return Path(os.environ.get("ELMO_TASKS_DATA", DEFAULT_DATA_DIR)).expanduser()


@pytest.fixture(scope="session")
def elmo_fixture_dir(data_dir: Path) -> Path:
    """The AllenNLP ELMo test fixture; skips the test when it is not there."""
    directory = data_dir / "elmo_fixture"
    if not directory.is_dir():
        pytest.skip(
            f"ELMo fixture not found at {directory} (set ELMO_TASKS_DATA to the shared data folder)"
        )
    missing = [name for name in ELMO_FIXTURE_FILES if not (directory / name).is_file()]
    if missing:
        pytest.skip(f"ELMo fixture at {directory} lacks {', '.join(missing)}")
    return directory


@pytest.fixture(scope="session")
def fixture_options_file(elmo_fixture_dir: Path) -> Path:
    return elmo_fixture_dir / "options.json"


@pytest.fixture(scope="session")
def fixture_weight_file(elmo_fixture_dir: Path) -> Path:
    return elmo_fixture_dir / "lm_weights.hdf5"


@pytest.fixture(scope="session")
def fixture_sentences(elmo_fixture_dir: Path) -> list[list[str]]:
    """sentences.json: 3 lists of 10 whitespace-tokenised sentences."""
    return json.loads((elmo_fixture_dir / "sentences.json").read_text(encoding="utf-8"))


@pytest.fixture()
def tiny_elmo_files(tmp_path: Path) -> ElmoFiles:
    """options.json + weights.hdf5 of a seeded random tiny biLM, written to ``tmp_path``."""
    options = tiny_options()
    options_file, weight_file = write_random_elmo(tmp_path / "tiny_elmo", options, seed=0)
    return ElmoFiles(options_file, weight_file, options)


def assert_same_parameters(module: torch.nn.Module, reference: torch.nn.Module) -> None:
    """Every parameter and buffer of ``module`` equals ``reference``'s bit for bit (a save/load
    or export round trip copies numbers: no rounding is allowed)."""
    got, want = module.state_dict(), reference.state_dict()
    assert got.keys() == want.keys(), sorted(set(got) ^ set(want))
    for name, tensor in want.items():
        assert got[name].dtype == tensor.dtype and torch.equal(got[name], tensor), name
