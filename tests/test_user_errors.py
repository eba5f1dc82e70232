"""A user's mistake reads like help, from every command: the real commands run as subprocesses
over a table of bad inputs, and each prints one message (what, where, the fix) without a
traceback and exits with 2 for a usage or config mistake, 1 otherwise. ``HYDRA_FULL_ERROR=1``
still shows the traceback.

Every row fails before any training (tiny files written here, word embeddings or the packaged
``mini`` biLM, offline). Rows that only repeat a path another row covers are marked slow.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from elmo_tasks.data.conll import read_conll
from elmo_tasks.data.tables import read_table
from elmo_tasks.data.tweeteval import read_tweeteval

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ENV = {
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_OFFLINE": "1",
    "OMP_NUM_THREADS": "1",
    "HYDRA_FULL_ERROR": "",
}
TRAIN = [
    sys.executable,
    "train.py",
    "experiment=none",
    "encoder=word_embedding",
    "trainer.max_epochs=1",
]
CLASSIFY = [*TRAIN, "task=text_classification", "task.validation_file={tmp}/ok.tsv"]
TAG = [*TRAIN, "task=token_classification", "head=tagger_crf"]

FILES = {
    "ok.tsv": b"text\tlabel\ngood film\t1\nbad film\t0\nfine film\t1\n",
    "latin1.tsv": b"text\tlabel\ngood film\t1\ncaf\xe9 film\t0\n",  # first non-ASCII byte on line 3
    "ragged.tsv": b"text\tlabel\ngood film\t1\nbad\tfilm\t0\n",
    "header.tsv": b"text\tlabel\n",
    "columns.tsv": b"sentence\tlabel\ngood film\t1\n",
    "unseen.tsv": b"text\tlabel\ngood film\t1\nbad film\t7\n",
    "bad.jsonl": b'{"text": "good film", "label": "pos"}\nnot json\n',
    "ok.conll": b"EU B-ORG\nrejects O\n\nGerman B-MISC\ncall O\n",
    "ragged.conll": b"EU B-ORG\nrejects O\n\nGerman B-MISC NNP\ncall O\n",
    "latin1.conll": b"EU B-ORG\nrejects O\n\nGerm\xe4n B-MISC\ncall O\n",
    "in.txt": b"good film\n",
    "not_a_checkpoint.ckpt": b"this is not a checkpoint\n",
    "data/sst2/train.tsv": b"sentence\tlabel\ngood\t1\ncaf\xe9\t0\n",
    "data/sst2/dev.tsv": b"sentence\tlabel\ngood\t1\n",
    "data/sst2/test.tsv": b"sentence\tlabel\ngood\t1\n",
}


@dataclass(frozen=True)
class Case:
    argv: list[str]
    status: int
    says: list[str]  # substrings of stderr (``{tmp}`` is the folder of the files)
    env: tuple[tuple[str, str], ...] = ()


CASES = {
    # --- train.py: data files (exit 1)
    "non-UTF-8 table": Case(
        [*CLASSIFY, "task.train_file={tmp}/latin1.tsv"],
        1,
        [
            "error: {tmp}/latin1.tsv, line 3: byte 0xe9",
            "not valid UTF-8",
            "task.encoding=latin-1",
            "convert",
        ],
    ),
    "non-UTF-8 CoNLL file": Case(
        [*TAG, "task.train_file={tmp}/latin1.conll"],
        1,
        ["{tmp}/latin1.conll, line 4: byte 0xe4", "task.encoding=latin-1"],
    ),
    "ragged tsv row": Case(
        [*CLASSIFY, "task.train_file={tmp}/ragged.tsv"],
        1,
        ["{tmp}/ragged.tsv, line 3: expected 2 fields (text, label), found 3", "replace that tab"],
    ),
    "header-only file": Case(
        [*CLASSIFY, "task.train_file={tmp}/header.tsv"],
        1,
        ["{tmp}/header.tsv: no data rows (only the header, line 1)"],
    ),
    "wrong label column": Case(
        [*CLASSIFY, "task.train_file={tmp}/columns.tsv"],
        1,
        [
            "{tmp}/columns.tsv: no column 'text'; available columns: 'sentence', 'label'",
            "task.text_column=",
        ],
    ),
    "label unseen in train": Case(
        [*CLASSIFY, "task.train_file={tmp}/ok.tsv", "task.test_file={tmp}/unseen.tsv"],
        1,
        [
            "{tmp}/unseen.tsv, line 3: unknown label '7'; known labels: '0', '1'",
            "add examples of it",
        ],
    ),
    "line that is not JSON": Case(
        [*CLASSIFY, "task.train_file={tmp}/bad.jsonl"],
        1,
        ["{tmp}/bad.jsonl, line 2: not valid JSON", "one JSON object"],
    ),
    "ragged CoNLL line": Case(
        [*TAG, "task.train_file={tmp}/ragged.conll"],
        1,
        ["{tmp}/ragged.conll, line 4: expected 2 columns (as on the first token line), got 3"],
    ),
    "missing data file": Case(
        [*CLASSIFY, "task.train_file={tmp}/nowhere.tsv"],
        1,
        [
            "error: data for task=text_classification not found",
            "{tmp}/nowhere.tsv   <- task.train_file",
        ],
    ),
    "options file that is not JSON": Case(
        [
            *CLASSIFY,
            "task.train_file={tmp}/ok.tsv",
            "encoder=elmo",
            "encoder.options_file={tmp}/ok.tsv",
            "encoder.weight_file=mini",
        ],
        1,
        ["error: {tmp}/ok.tsv: not valid JSON"],
    ),
    "hub dataset offline": Case(
        [*CLASSIFY, "task.reader=hub", "+task.hub_name=no_such_dataset", "task.train_file=train"],
        1,
        ["cannot load hub dataset no_such_dataset [train]", "offline mode is on"],
    ),
    # --- train.py: config mistakes (exit 2)
    "too few rows to hold out": Case(
        [*TRAIN, "task=text_classification", "task.train_file={tmp}/ok.tsv"],
        1,
        [
            "{tmp}/ok.tsv: a validation fraction of 0.1 of its 3 rows holds out 0",
            "task.validation_file=",
        ],
    ),
    "??? value not given": Case(
        [*TRAIN, "task=text_classification"],
        2,
        ["error: task.train_file must be given", "task.train_file=/path/to"],
    ),
    "unknown encoding": Case(
        [*CLASSIFY, "task.train_file={tmp}/ok.tsv", "task.encoding=utf-9"],
        2,
        ["task.encoding='utf-9': not a known text encoding"],
    ),
    "override that does not parse": Case(
        [*CLASSIFY, "trainer.max_epochs=[1"],
        2,
        ["error: trainer.max_epochs=[1: not a valid override", "quote a value"],
    ),
    "interpolation that does not resolve": Case(
        [*CLASSIFY, "task.train_file=${nope}/a.tsv"],
        2,
        ["task.train_file", "Interpolation key 'nope' not found", "${other.key}"],
    ),
    "value of the wrong type": Case(
        [*CLASSIFY, "task.train_file={tmp}/ok.tsv", "trainer.max_epochs=abc"],
        2,
        ["trainer.max_epochs='abc': must be a whole number"],
    ),
    "misspelt key": Case(
        [*CLASSIFY, "task.train_fil={tmp}/ok.tsv"], 2, ["did you mean task.train_file="]
    ),
    # --- the other commands
    "predict: device name": Case(
        [
            sys.executable,
            "-m",
            "elmo_tasks.predict",
            "run_dir={tmp}/nowhere",
            "input={tmp}/in.txt",
            "device=tpu",
        ],
        2,
        ["predict: device=tpu: not a device name"],
    ),
    "predict: run folder missing": Case(
        [sys.executable, "-m", "elmo_tasks.predict", "run_dir={tmp}/nowhere", "input={tmp}/in.txt"],
        1,
        ["predict: run_dir {tmp}/nowhere is not a folder"],
    ),
    "predict: unknown argument": Case(
        [sys.executable, "-m", "elmo_tasks.predict", "run_dir={tmp}", "inptu=x"],
        2,
        ["did you mean input=x?"],
    ),
    "embed: options not JSON": Case(
        [
            sys.executable,
            "-m",
            "elmo_tasks.embed",
            "options={tmp}/ok.tsv",
            "weights=mini",
            "input={tmp}/in.txt",
            "output={tmp}/out.h5",
        ],
        1,
        ["{tmp}/ok.tsv: not valid JSON"],
    ),
    "embed: no such text column": Case(
        [
            sys.executable,
            "-m",
            "elmo_tasks.embed",
            "options=mini",
            "weights=mini",
            "input={tmp}/ok.tsv",
            "text_column=sentence",
            "output={tmp}/out.h5",
        ],
        1,
        ["{tmp}/ok.tsv: no column 'sentence'", "text_column=..."],
    ),
    "embed: device name": Case(
        [
            sys.executable,
            "-m",
            "elmo_tasks.embed",
            "options=mini",
            "weights=mini",
            "input={tmp}/in.txt",
            "output={tmp}/out.h5",
            "device=tpu",
        ],
        2,
        ["device=tpu: not a device"],
    ),
    "compare: not a folder": Case(
        [sys.executable, "-m", "elmo_tasks.compare", "paths={tmp}/nowhere"],
        2,
        ["compare: not a folder: {tmp}/nowhere"],
    ),
    "export: run folder missing": Case(
        [
            sys.executable,
            "-m",
            "elmo_tasks.cli.export",
            "run_dir={tmp}/nowhere",
            "out={tmp}/export",
        ],
        1,
        ["export: run_dir {tmp}/nowhere is not a folder"],
    ),
    "pretrain-export: not a checkpoint": Case(
        [
            sys.executable,
            "-m",
            "elmo_tasks.cli.pretrain_export",
            "checkpoint={tmp}/not_a_checkpoint.ckpt",
            "export_dir={tmp}/pe",
        ],
        1,
        [
            "pretrain-export: error: cannot read checkpoint {tmp}/not_a_checkpoint.ckpt",
            "not a PyTorch checkpoint",
        ],
    ),
    "task-corpus: unknown preset": Case(
        [
            sys.executable,
            "-m",
            "elmo_tasks.cli.task_corpus",
            "tasks=sst22",
            "output={tmp}/corpus.txt",
        ],
        2,
        ["'sst22' is not a task preset; did you mean tasks=sst2?"],
    ),
    "task-corpus: non-UTF-8 data": Case(
        [
            sys.executable,
            "-m",
            "elmo_tasks.cli.task_corpus",
            "tasks=sst2",
            "output={tmp}/corpus.txt",
            "data_dir={tmp}/data",
        ],
        1,
        ["{tmp}/data/sst2/train.tsv, line 3: byte 0xe9"],
    ),
    "pretrain: override that does not parse": Case(
        [sys.executable, "-m", "elmo_tasks.pretrain", "trainer.max_epochs=[1"],
        2,
        ["error: trainer.max_epochs=[1: not a valid override"],
    ),
    "pretrain: corpus missing": Case(
        [
            sys.executable,
            "-m",
            "elmo_tasks.pretrain",
            "model=mini",
            "data.train_files={tmp}/nowhere.txt",
        ],
        1,
        ["pretraining data not found"],
    ),
}
SLOW = {
    "too few rows to hold out",
    "non-UTF-8 CoNLL file",
    "header-only file",
    "wrong label column",
    "label unseen in train",
    "line that is not JSON",
    "missing data file",
    "options file that is not JSON",
    "hub dataset offline",
    "unknown encoding",
    "value of the wrong type",
    "misspelt key",
    "predict: run folder missing",
    "predict: unknown argument",
    "embed: no such text column",
    "export: run folder missing",
    "task-corpus: non-UTF-8 data",
    "pretrain: corpus missing",
    "embed: device name",
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bad_inputs")
    for name, content in FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    return folder


def run(
    argv: list[str], folder: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    argv = [arg.replace("{tmp}", str(folder)) for arg in argv]
    if argv[1] == "train.py" or argv[2:3] == [
        "elmo_tasks.pretrain"
    ]:  # Hydra apps: a run folder of their own
        argv.append(f"hydra.run.dir={tempfile.mkdtemp(dir=folder, prefix='run_')}")
    full_env = {**os.environ, **ENV, **(env or {})}
    return subprocess.run(
        argv, cwd=PROJECT_ROOT, env=full_env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in CASES]
)
def test_a_bad_input_is_one_message_with_its_exit_status(name: str, files: Path) -> None:
    case = CASES[name]
    result = run(case.argv, files, dict(case.env))
    shown = f"exit {result.returncode}\n{result.stderr[-3000:]}"
    assert result.returncode == case.status, shown
    for text in case.says:
        assert text.replace("{tmp}", str(files)) in result.stderr, shown
    assert "Traceback" not in result.stderr and "Error executing job" not in result.stderr, shown


def test_hydra_full_error_still_shows_the_traceback(files: Path) -> None:
    result = run([*CLASSIFY, "task.train_file={tmp}/ragged.tsv"], files, {"HYDRA_FULL_ERROR": "1"})
    assert result.returncode == 1
    assert f"error: {files}/ragged.tsv, line 3: expected 2 fields" in result.stderr
    assert "Traceback" in result.stderr and "DataFormatError" in result.stderr


# --------------------------------------------------------------------------- task.encoding, in process


def test_the_encoding_message_names_the_line_of_the_first_bad_byte(files: Path) -> None:
    big = files / "late.tsv"
    big.write_bytes(
        b"text\tlabel\n"
        + b"".join(b"plain line %d\t1\n" % i for i in range(5000))
        + b"na\xefve\t0\n"
    )
    with pytest.raises(
        ValueError,
        match=r"late\.tsv, line 5002: byte 0xef \(byte 3 of the line\) is not valid UTF-8",
    ):
        read_table(big)
    mapping = files / "tweets"
    mapping.mkdir()
    (mapping / "mapping.txt").write_bytes(b"0\tnegative\n1\tpositive\n")
    (mapping / "val_text.txt").write_bytes(b"fine\ncaf\xe9\n")
    (mapping / "val_labels.txt").write_bytes(b"1\n0\n")
    with pytest.raises(
        ValueError, match=r"val_text\.txt, line 2: byte 0xe9 .*task\.encoding=latin-1"
    ):
        read_tweeteval(mapping, "val")
    assert read_tweeteval(mapping, "val", encoding="latin-1").dataset["text"][:] == ["fine", "café"]


def test_task_encoding_reads_a_latin_1_file(files: Path) -> None:
    table = read_table(files / "latin1.tsv", encoding="latin-1")
    assert table.dataset["text"][:] == ["good film", "café film"]
    assert read_conll(files / "latin1.conll", encoding="latin-1")[1].tokens == ["Germän", "call"]
    jsonl = files / "latin1.jsonl"
    jsonl.write_bytes(b'{"text": "na\xefve", "label": "pos"}\n')
    with pytest.raises(ValueError, match=r"latin1\.jsonl, line 1: byte 0xef"):
        read_table(jsonl)
    assert read_table(jsonl, encoding="latin-1").dataset["text"][:] == ["naïve"]


@pytest.mark.slow
def test_train_py_with_task_encoding_latin_1_trains(files: Path) -> None:
    result = run(
        [
            *CLASSIFY,
            "task.train_file={tmp}/latin1.tsv",
            "task.encoding=latin-1",
            "logger=[]",
            "callbacks.rich_progress_bar=null",
            "threads=1",
        ],
        files,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_preflight_names_every_value_that_does_not_resolve() -> None:
    from omegaconf import OmegaConf

    from elmo_tasks.core.config_values import ConfigValueError
    from elmo_tasks.runs.preflight import check_interpolations

    cfg = OmegaConf.create(
        {
            "task": {
                "train_file": "${nope}",
                "files": ["${oc.env:ELMO_TASKS_NO_SUCH_VARIABLE}"],
                "fine": "${task.files}",
                "unset": "???",
                "from_unset": "${task.unset}",
            }
        }
    )
    with pytest.raises(ConfigValueError) as caught:
        check_interpolations(cfg)
    message = str(caught.value)
    assert caught.value.exit_status == 2
    assert "task.train_file=${nope}: Interpolation key 'nope' not found" in message
    assert "task.files[0]=${oc.env:ELMO_TASKS_NO_SUCH_VARIABLE}" in message
    assert (
        "fine" not in message and "from_unset" not in message
    )  # a ??? value is reported as missing instead
