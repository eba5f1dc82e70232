"""The hdf5 activation cache: exact values, hits, invalidation, corruption, concurrency."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from elmo_tasks.cli.embed import main as embed_main
from elmo_tasks.elmo import ElmoBiLm, batch_to_ids
from elmo_tasks.elmo.random_weights import write_random_elmo
from elmo_tasks.encoders import elmo_cache as cache_module
from elmo_tasks.encoders.elmo_cache import (
    ActivationCache,
    CacheError,
    ensure_cache,
    file_checksum,
    sentence_id,
)
from elmo_tasks.runs.experiment import run
from tests.compose import compose_config
from tests.conftest import tiny_options

SENTENCES = [["the", "cat", "sat"], ["a", "dog", "."], ["the", "cat", "sat"], ["hello"]]


def _manifest(bilm: ElmoBiLm) -> dict:
    return {
        "options_sha256": file_checksum(bilm.options_path),
        "weights_sha256": file_checksum(bilm.weights_path),
    }


@pytest.fixture()
def bilm(tiny_elmo_files) -> ElmoBiLm:
    return ElmoBiLm(tiny_elmo_files.options_file, tiny_elmo_files.weight_file)


def _count_builds(monkeypatch) -> list[int]:
    calls = []
    original = cache_module.write_activations

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(cache_module, "write_activations", counting)
    return calls


def test_cached_values_equal_the_biLM(bilm, tmp_path):
    cache = ensure_cache(bilm, _manifest(bilm), SENTENCES, tmp_path)
    assert cache.manifest["n_sentences"] == 3  # the repeated sentence is stored once
    with torch.inference_mode():
        out = bilm(batch_to_ids(SENTENCES))
    for row, sentence in enumerate(SENTENCES):
        stored = cache.get(sentence)
        assert stored.shape == (3, len(sentence) + 2, bilm.get_output_dim())
        for layer in range(3):
            np.testing.assert_allclose(
                stored[layer],
                out["activations"][layer][row, : len(sentence) + 2].numpy(),
                atol=1e-6,
            )


def test_memory_layer_serves_the_build_and_repeated_reads_and_keeps_its_budget(
    bilm, tmp_path, monkeypatch
):
    monkeypatch.setattr(cache_module, "MEMORY", cache_module.MemoryCache(budget_bytes=10**9))
    cache = ensure_cache(bilm, _manifest(bilm), SENTENCES, tmp_path)
    with h5py.File(cache.path, "r") as handle:
        on_disk = handle[sentence_id(SENTENCES[0])][...]
    cache.handle.close()  # what the build computed is served from memory, not read back
    built = cache.get(SENTENCES[0])
    np.testing.assert_array_equal(built, on_disk)
    assert not built.flags.writeable

    # A build keeps no more than the budget in memory.
    monkeypatch.setattr(cache_module, "MEMORY", cache_module.MemoryCache(budget_bytes=built.nbytes))
    ensure_cache(
        bilm, _manifest(bilm), SENTENCES + [["another", "sentence"]], tmp_path / "small_budget"
    )
    assert 0 < cache_module.MEMORY.bytes <= built.nbytes

    # Another process: the first read comes from the file, the next ones from memory.
    monkeypatch.setattr(cache_module, "MEMORY", cache_module.MemoryCache(budget_bytes=10**9))
    reopened = ActivationCache(cache.path)
    first = reopened.get(SENTENCES[0])
    reopened.handle.close()
    assert reopened.get(SENTENCES[0]) is first and not first.flags.writeable
    assert reopened.lookup(["never", "cached"]) is None
    with pytest.raises(KeyError, match="never cached"):
        reopened.get(["never", "cached"])

    small = cache_module.MemoryCache(budget_bytes=2 * first.nbytes)
    for name in "abc":
        small.put(("file", name), first.copy())
    assert small.get(("file", "a")) is None  # the least recently used went first
    assert small.get(("file", "b")) is not None and small.bytes == 2 * first.nbytes
    small.put(("file", "d"), first.copy())
    assert small.get(("file", "c")) is None and small.get(("file", "b")) is not None


def test_second_call_is_a_hit_and_changes_invalidate(bilm, tmp_path, monkeypatch):
    builds = _count_builds(monkeypatch)
    first = ensure_cache(bilm, _manifest(bilm), SENTENCES, tmp_path)
    ensure_cache(bilm, _manifest(bilm), SENTENCES, tmp_path)
    assert len(builds) == 1
    # Other tokens (a changed tokenizer) or other weights name another file.
    retokenized = [[t.upper() for t in s] for s in SENTENCES]
    assert ensure_cache(bilm, _manifest(bilm), retokenized, tmp_path).path != first.path
    options_file, weight_file = write_random_elmo(tmp_path / "other", tiny_options(), seed=1)
    other = ElmoBiLm(options_file, weight_file)
    assert ensure_cache(other, _manifest(other), SENTENCES, tmp_path).path != first.path
    assert len(builds) == 3


@pytest.mark.parametrize("damage", ["flip_bytes", "truncate", "drop_checksum"])
def test_corrupted_or_partial_cache_is_rebuilt(bilm, tmp_path, monkeypatch, damage):
    path = ensure_cache(bilm, _manifest(bilm), SENTENCES, tmp_path).path
    data = bytearray(path.read_bytes())
    if damage == "flip_bytes":
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "truncate":
        path.write_bytes(bytes(data[: len(data) // 3]))
    else:
        path.with_name(path.name + ".sha256").unlink()
    with pytest.raises(CacheError):
        ActivationCache(path)
    builds = _count_builds(monkeypatch)
    rebuilt = ensure_cache(bilm, _manifest(bilm), SENTENCES, tmp_path)
    assert len(builds) == 1 and rebuilt.path == path
    assert rebuilt.get(SENTENCES[0]).shape[1] == 5


def test_cache_for_other_weights_is_refused(bilm, tmp_path):
    path = ensure_cache(bilm, _manifest(bilm), SENTENCES, tmp_path).path
    with pytest.raises(CacheError, match="weights_sha256"):
        ActivationCache(path, expected={"weights_sha256": "0" * 64})


def _build_in_process(args):
    options_file, weight_file, directory = args
    model = ElmoBiLm(options_file, weight_file)
    cache = ensure_cache(model, _manifest(model), SENTENCES, directory)
    return str(cache.path), cache.get(SENTENCES[1]).tolist()


def test_two_processes_building_the_same_cache_share_one_file(tiny_elmo_files, tmp_path):
    args = (
        str(tiny_elmo_files.options_file),
        str(tiny_elmo_files.weight_file),
        str(tmp_path / "shared"),
    )
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        (path_a, values_a), (path_b, values_b) = pool.map(_build_in_process, [args, args])
    assert path_a == path_b and values_a == values_b
    ActivationCache(path_a)  # complete and intact
    assert not list(Path(path_a).parent.glob("*.tmp"))


def test_embed_command_writes_layers_index_and_manifest(tiny_elmo_files, tmp_path, capsys):
    text = tmp_path / "input.txt"
    text.write_text("\n".join(" ".join(s) for s in SENTENCES) + "\n")
    for layers, expected_layers in (("all", 3), ("top", 1), ("average", 1)):
        out = tmp_path / f"{layers}.h5"
        code = embed_main(
            [
                "--options",
                str(tiny_elmo_files.options_file),
                "--weights",
                str(tiny_elmo_files.weight_file),
                "--input",
                str(text),
                "--output",
                str(out),
                "--layers",
                layers,
                "--dtype",
                "float16",
            ]
        )
        assert code == 0
        with h5py.File(out) as handle:
            ids = [x.decode() for x in handle["sentence_ids"][...]]
            assert ids == [sentence_id(s) for s in SENTENCES]
            assert handle[ids[0]].shape[0] == expected_layers and handle[ids[0]].dtype == np.float16
            assert handle.attrs["weights_sha256"] == file_checksum(tiny_elmo_files.weight_file)
    assert "wrote 4 sentences (3 distinct)" in capsys.readouterr().out
    assert (
        tmp_path / "all.h5.sha256"
    ).read_text() == f"{file_checksum(tmp_path / 'all.h5')}  all.h5\n"


def test_embed_checks_its_input_before_writing(tiny_elmo_files, tmp_path, capsys):
    files = [f"options={tiny_elmo_files.options_file}", f"weights={tiny_elmo_files.weight_file}"]
    text = tmp_path / "input.txt"
    text.write_bytes(b"a good film\nun film tr\xe8s bon\n")
    out = tmp_path / "out.h5"
    out.write_bytes(b"earlier output")
    assert embed_main([*files, f"input={text}", f"output={out}"]) == 1
    assert capsys.readouterr().err.startswith(
        f"python -m elmo_tasks.embed: error: {text}, line 2: not valid utf-8 "
        "(byte 0xe8 at byte 11 of the line); give the file's encoding, e.g. "
        "encoding=latin-1"
    )
    assert out.read_bytes() == b"earlier output"
    assert embed_main([*files, f"input={text}", f"output={out}", "encoding=latin-1"]) == 0
    with h5py.File(out) as handle:
        assert len(handle["sentence_ids"]) == 2
    # a usage error: exit status 2, before any work
    assert embed_main([*files, f"input={text}", f"output={out / 'x.h5'}"]) == 2
    assert "cannot write into" in capsys.readouterr().err


def _train_losses(metrics_csv: Path) -> list[float]:
    import csv

    with metrics_csv.open() as handle:
        return [
            float(r["train/loss_epoch"])
            for r in csv.DictReader(handle)
            if r.get("train/loss_epoch")
        ]


def test_training_on_the_cache_gives_the_same_metrics(tmp_path, data_dir, elmo_fixture_dir):
    if not (data_dir / "sst2").is_dir():
        pytest.skip(f"{data_dir / 'sst2'} not found (set ELMO_TASKS_DATA)")
    results = {}
    for name, cache_dir in (("cached", str(tmp_path / "elmo_cache")), ("direct", "null")):
        cfg = compose_config(
            tmp_path / name,
            [
                "experiment=sst2_elmo",
                f"paths.data_dir={data_dir}",
                "task.max_train_samples=160",
                "task.max_eval_samples=64",
                "trainer.max_epochs=2",
                "callbacks.rich_progress_bar=null",
                "trainer.enable_progress_bar=false",
                f"encoder.options_file={elmo_fixture_dir}/options.json",
                f"encoder.weight_file={elmo_fixture_dir}/lm_weights.hdf5",
                f"encoder.cache_dir={cache_dir}",
                "optim.optimizer.lr=0.01",
            ],
        )
        run(cfg)
        results[name] = json.loads((tmp_path / name / "results.json").read_text())
    assert list((tmp_path / "elmo_cache").glob("elmo-*.h5"))
    losses = {name: _train_losses(tmp_path / name / "metrics.csv") for name in results}
    assert len(losses["direct"]) == 2 and losses["direct"][1] != losses["direct"][0]
    assert losses["cached"] == pytest.approx(losses["direct"], abs=1e-5)
    for split in ("val", "test"):
        for metric, value in results["direct"][split].items():
            assert results["cached"][split][metric] == pytest.approx(value, abs=1e-6), (
                split,
                metric,
            )


def test_embed_in_bf16_is_close_to_float32_and_says_so(tiny_elmo_files, tmp_path):
    text = tmp_path / "input.txt"
    text.write_text("\n".join(" ".join(s) for s in SENTENCES) + "\n")
    stored = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / f"{precision}.h5"
        code = embed_main(
            [
                f"options={tiny_elmo_files.options_file}",
                f"weights={tiny_elmo_files.weight_file}",
                f"input={text}",
                f"output={out}",
                f"precision={precision}",
            ]
        )
        assert code == 0
        with h5py.File(out) as handle:
            assert handle.attrs["precision"] == precision
            stored[precision] = {key: handle[key][...] for key in handle if key != "sentence_ids"}
    assert stored["fp32"].keys() == stored["bf16"].keys()
    differences = [np.abs(stored["fp32"][k] - stored["bf16"][k]).max() for k in stored["fp32"]]
    scale = max(np.abs(v).max() for v in stored["fp32"].values())
    assert 0 < max(differences) < 0.05 * scale  # bfloat16 products: close, not exact
