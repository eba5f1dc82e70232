"""biLM pretraining: vocabulary, streamed BPTT windows, softmax layers, training, export,
resume, the Hydra entry point and the word2vec baseline — on tiny synthetic corpora."""

from __future__ import annotations

import csv
import gzip
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from elmo_tasks.cli.pretrain_export import main as export_main
from elmo_tasks.data.tokenize import whitespace_tokenize
from elmo_tasks.elmo import ElmoBiLm, batch_to_ids, load_options
from elmo_tasks.elmo.characters import token_to_char_ids
from elmo_tasks.pretraining.corpus import LmStreamDataset
from elmo_tasks.pretraining.language_model import (
    AdaptiveSoftmax,
    BiLmPretrainer,
    FullSoftmax,
    LogUniformSampler,
    SampledSoftmax,
)
from elmo_tasks.pretraining.run import build_pretrainer, compose_pretrain_config, run
from elmo_tasks.pretraining.text import (
    Vocabulary,
    build_vocabulary,
    read_sentences,
    read_vocabulary,
    resolve_files,
    write_vocabulary,
)
from tests.conftest import PROJECT_ROOT, assert_same_parameters

SUBJECTS = ["the cat", "a dog", "my bird", "the fish"]
VERBS = ["eats", "sees", "likes"]
OBJECTS = ["the food", "a ball", "the water"]


def _pattern_lines(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} ." for _ in range(n)]


@pytest.fixture()
def corpus(tmp_path: Path) -> dict[str, Path]:
    """A repetitive toy language: train.txt.gz (gzip, to exercise it) and valid.txt."""
    train, valid = tmp_path / "corpus" / "train.txt.gz", tmp_path / "corpus" / "valid.txt"
    train.parent.mkdir()
    with gzip.open(train, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(_pattern_lines(300)) + "\n\n")
    valid.write_text("\n".join(_pattern_lines(40, seed=1)) + "\n", encoding="utf-8")
    return {"train": train, "valid": valid}


def _config(tmp_path: Path, corpus: dict[str, Path], out: str, *overrides: str):
    return compose_pretrain_config(
        tmp_path / out,
        [
            "model=tiny",
            f"data.train_files={corpus['train']}",
            f"data.validation_files={corpus['valid']}",
            "data.test_files=null",
            "data.batch_size=8",
            "data.unroll_steps=10",
            "trainer.enable_progress_bar=false",
            "+trainer.enable_model_summary=false",
            "trainer.log_every_n_steps=1",
            "optim.optimizer.lr=0.01",
            *overrides,
        ],
    )


def _rows(batch: dict, key: str, words: list[str]) -> list[list[str]]:
    return [[words[i] for i in row] for row in batch[key].tolist()]


# -- vocabulary and files -----------------------------------------------------------------


def test_vocabulary_is_sorted_by_frequency_after_the_special_tokens(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("b a c a\n\nb a d <UNK>\nz\n", encoding="utf-8")
    assert build_vocabulary([text]) == ["<S>", "</S>", "<UNK>", "a", "b", "c", "d", "z"]
    assert build_vocabulary([text], min_count=2) == ["<S>", "</S>", "<UNK>", "a", "b"]
    assert build_vocabulary([text], max_size=4) == ["<S>", "</S>", "<UNK>", "a"]
    assert build_vocabulary([text], lowercase=True, tokenizer="whitespace")[3] == "a"

    path = tmp_path / "vocab.txt"
    write_vocabulary(build_vocabulary([text]), path)
    assert path.read_text().splitlines()[:4] == ["<S>", "</S>", "<UNK>", "a"]
    assert read_vocabulary(path) == build_vocabulary([text])
    vocab = Vocabulary(read_vocabulary(path))
    assert vocab.encode(["a", "never-seen"]) == [3, vocab.unk]


def test_vocabulary_file_errors_name_the_file_and_line(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("<S>\n</S>\nthe\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"vocab.txt: the vocabulary must contain <UNK>"):
        read_vocabulary(path)
    path.write_text("<S>\n</S>\n<UNK>\nthe\nthe\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"vocab.txt, line 5: 'the' already on line 4"):
        read_vocabulary(path)


def test_files_from_a_path_a_glob_or_a_list(tmp_path):
    for name in ("b.txt", "a.txt", "c.txt.gz"):
        (tmp_path / name).write_text("x\n")
    assert resolve_files(str(tmp_path / "*.txt")) == [tmp_path / "a.txt", tmp_path / "b.txt"]
    assert resolve_files([str(tmp_path / "b.txt"), str(tmp_path / "*.gz")]) == [
        tmp_path / "b.txt",
        tmp_path / "c.txt.gz",
    ]
    with pytest.raises(
        FileNotFoundError, match=r"data.validation_files: no file matches .*missing"
    ):
        resolve_files(str(tmp_path / "missing*.txt"), "data.validation_files")


# -- streamed windows ---------------------------------------------------------------------


def test_windows_are_contiguous_streams_with_shifted_targets(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("a b c\nd e\n\nf g h i\n", encoding="utf-8")
    words = build_vocabulary([text])
    dataset = LmStreamDataset(
        [text], Vocabulary(words), batch_size=2, unroll_steps=3, pad_last=True
    )
    batches = list(dataset)
    assert len(batches) == 3

    # Row 0 reads "a b c" then "f g h i"; row 1 reads "d e" and then runs out.
    assert _rows(batches[0], "forward_inputs", words) == [["<S>", "a", "b"], ["<S>", "d", "e"]]
    assert _rows(batches[0], "forward_targets", words) == [["a", "b", "c"], ["d", "e", "</S>"]]
    assert _rows(batches[0], "backward_inputs", words) == [["</S>", "c", "b"], ["</S>", "e", "d"]]
    assert _rows(batches[0], "backward_targets", words) == [["c", "b", "a"], ["e", "d", "<S>"]]
    assert _rows(batches[1], "forward_inputs", words)[0] == ["c", "<S>", "f"]
    assert _rows(batches[1], "forward_targets", words)[0] == ["</S>", "f", "g"]
    assert _rows(batches[1], "backward_inputs", words)[0] == ["a", "</S>", "i"]
    assert _rows(batches[1], "backward_targets", words)[0] == ["<S>", "i", "h"]
    assert _rows(batches[2], "forward_targets", words)[0] == ["h", "i", "</S>"]
    assert _rows(batches[2], "backward_targets", words)[0] == ["g", "f", "<S>"]
    assert batches[1]["mask"].tolist() == [[True] * 3, [False] * 3]

    # Characters are those of the input tokens; padding positions are all-zero.
    assert batches[0]["forward_char_ids"].shape == (2, 3, 50)
    assert batches[0]["forward_char_ids"][0, 1].tolist() == token_to_char_ids("a")
    assert batches[0]["backward_char_ids"][0, 0].tolist() == token_to_char_ids("</S>")
    assert not batches[1]["forward_char_ids"][1].any()

    # Training mode stops at the first row that runs dry, as bilm-tf does.
    dataset.pad_last = False
    assert len(list(dataset)) == 1


def test_forward_targets_are_the_next_input_and_backward_the_previous(corpus):
    words = build_vocabulary([corpus["train"]])
    dataset = LmStreamDataset([corpus["train"]], Vocabulary(words), batch_size=3, unroll_steps=7)
    batches = list(dataset)
    forward = torch.cat([b["forward_inputs"] for b in batches], dim=1)
    targets = torch.cat([b["forward_targets"] for b in batches], dim=1)
    bos = words.index("<S>")
    # Within a row, the target of step t is the input of step t + 1 (except before a new <S>).
    continues = forward[:, 1:] != bos
    assert torch.equal(targets[:, :-1][continues], forward[:, 1:][continues])
    backward = torch.cat([b["backward_inputs"] for b in batches], dim=1)
    back_targets = torch.cat([b["backward_targets"] for b in batches], dim=1)
    eos = words.index("</S>")
    continues = backward[:, 1:] != eos
    assert torch.equal(back_targets[:, :-1][continues], backward[:, 1:][continues])


def test_shards_of_ranks_and_workers_cover_every_line_once(tmp_path, corpus):
    lines = [whitespace_tokenize(line) for line in _pattern_lines(300)]
    shards = [
        list(read_sentences([corpus["train"]], whitespace_tokenize, shard=s, n_shards=3))
        for s in range(3)
    ]
    assert sorted(map(tuple, sum(shards, []))) == sorted(map(tuple, lines))
    assert all(abs(len(s) - 100) <= 1 for s in shards)
    files = []
    for i in range(4):
        files.append(tmp_path / f"part{i}.txt")
        files[-1].write_text(f"file {i}\n")
    assert [s for s in read_sentences(files, whitespace_tokenize, shard=1, n_shards=2)] == [
        ["file", "1"],
        ["file", "3"],
    ]

    words = build_vocabulary([corpus["train"]])
    dataset = LmStreamDataset(
        [corpus["train"]], Vocabulary(words), batch_size=2, unroll_steps=5, rank=1, world_size=2
    )
    loader = DataLoader(dataset, batch_size=None, num_workers=2)
    streams = [batch["stream"] for batch in loader]
    assert set(streams) == {2, 3}  # rank 1's two workers
    assert streams[:4] == [2, 3, 2, 3]  # taken from the workers in turn


def test_skipped_batches_resume_the_stream_and_quota_repeats_it(corpus):
    words = build_vocabulary([corpus["train"]])
    dataset = LmStreamDataset(
        [corpus["train"]],
        Vocabulary(words),
        batch_size=4,
        unroll_steps=6,
        shuffle=True,
        shuffle_buffer=20,
        seed=3,
    )
    full = list(dataset)
    dataset.skip_batches = 5
    resumed = list(dataset)
    assert len(resumed) == len(full) - 5
    assert all(
        torch.equal(a["forward_char_ids"], b["forward_char_ids"]) for a, b in zip(full[5:], resumed)
    )
    dataset.set_epoch(1)
    dataset.skip_batches = 0
    assert not torch.equal(
        list(dataset)[0]["forward_inputs"], full[0]["forward_inputs"]
    )  # reshuffled
    dataset.batches_per_epoch = 3 * len(full)
    assert len(list(dataset)) == 3 * len(full)


# -- softmax layers -----------------------------------------------------------------------


def test_sampled_softmax_equals_full_softmax_when_the_sample_covers_the_vocabulary():
    torch.manual_seed(0)
    vocab, dim = 20, 8
    sampled = SampledSoftmax(dim, vocab, num_samples=4000)
    hidden, targets = torch.randn(64, dim), torch.randint(0, vocab, (64,))
    full = sampled.full_nll(hidden, targets)
    nll = sampled(hidden, targets)
    assert torch.allclose(nll, full, atol=1e-4), (nll - full).abs().max()
    nll.mean().backward()
    assert sampled.weight.grad is not None

    sampled.eval()
    assert torch.equal(sampled(hidden, targets), full)


def test_sampled_softmax_with_few_samples_is_a_logq_corrected_estimate():
    torch.manual_seed(0)
    sampler = LogUniformSampler(1000)
    assert torch.isclose(
        sampler.probability(torch.arange(1000)).sum().float(), torch.tensor(1.0), atol=1e-6
    )
    ids, log_q = sampler.sample(100, torch.device("cpu"))
    assert len(ids) == len(set(ids.tolist())) <= 100 and (log_q <= 0).all()
    assert (ids < 100).float().mean() > 0.5  # frequent (low) ids dominate
    sampled = SampledSoftmax(8, 1000, num_samples=100)
    hidden, targets = torch.randn(32, 8), torch.randint(0, 1000, (32,))
    nll = sampled(hidden, targets)
    assert nll.shape == (32,) and torch.isfinite(nll).all() and (nll >= 0).all()


def test_adaptive_softmax_gives_exact_log_likelihoods_and_checks_cutoffs():
    torch.manual_seed(0)
    adaptive = AdaptiveSoftmax(16, 50, cutoffs=[10, 30, 5000])
    hidden = torch.randn(4, 16)
    log_probs = adaptive.adaptive.log_prob(hidden)
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(4), atol=1e-5)
    targets = torch.tensor([0, 12, 35, 49])
    assert torch.allclose(
        adaptive(hidden, targets), -log_probs[torch.arange(4), targets], atol=1e-5
    )
    with pytest.raises(ValueError, match=r"model.cutoffs=\[2000, 10000\].*50 words"):
        AdaptiveSoftmax(8, 50, cutoffs=[2000, 10000])
    with pytest.raises(ValueError, match=r"model.div_value=4.0 .* 0 dimensions"):
        AdaptiveSoftmax(8, 50, cutoffs=[10, 30])


def test_language_model_path_matches_elmo_inference():
    """The LM run on a window ``<S> w1..wn`` / ``</S> wn..w1`` computes the top layer
    ``ElmoBiLm`` gives for the sentence ``w1..wn`` (up to float32 rounding)."""
    from tests.conftest import tiny_options

    torch.manual_seed(0)
    module = BiLmPretrainer(
        tiny_options().to_dict(), ["<S>", "</S>", "<UNK>", "cat"], softmax="full"
    ).eval()
    sentence = ["the", "cat", "sat", "down", "."]
    forward = torch.tensor([[token_to_char_ids(t) for t in ["<S>", *sentence]]])
    backward = torch.tensor([[token_to_char_ids(t) for t in ["</S>", *sentence[::-1]]]])
    with torch.no_grad():
        hidden_f, hidden_b, _ = module.lm_hidden(forward, backward)
        top = ElmoBiLm.from_module(module.bilm)(batch_to_ids([sentence]))["activations"][-1][0]
    p = module.options.projection_dim
    # Two code paths (directions apart over 6 steps vs together over 7, other matrix shapes):
    # float32 rounding may differ; |top layer| <= 6 (ulp 4.8e-7), ~20 ulps allowed.
    torch.testing.assert_close(hidden_f[0], top[:-1, :p], rtol=0, atol=1e-5)
    torch.testing.assert_close(hidden_b[0], top[1:, p:].flip(0), rtol=0, atol=1e-5)


# -- training, export, resume -------------------------------------------------------------


def _metric_series(metrics_csv: Path, key: str) -> list[float]:
    with metrics_csv.open() as handle:
        return [float(row[key]) for row in csv.DictReader(handle) if row.get(key)]


def test_perplexity_falls_and_the_export_loads_with_identical_activations(tmp_path, corpus):
    # The held-out "test" file is the validation file, so both perplexities of the final
    # weights must agree.
    cfg = _config(
        tmp_path, corpus, "run", "trainer.max_steps=45", f"data.test_files={corpus['valid']}"
    )
    val_ppl = run(cfg)

    out = tmp_path / "run"
    train_ppl = _metric_series(out / "metrics.csv", "train/ppl")
    val_series = _metric_series(out / "metrics.csv", "val/ppl")
    vocab_size = len((out / "vocab.txt").read_text().splitlines())
    assert val_series[0] > 2 * val_series[-1], (
        val_series
    )  # from the sanity-free first validation on
    assert train_ppl[-1] < train_ppl[0]
    assert val_ppl == pytest.approx(val_series[-1]) and val_ppl < vocab_size / 3

    export = out / "export"
    info = json.loads((export / "pretrain_info.json").read_text())
    assert info["steps"] == 45 and info["val_ppl"] == pytest.approx(val_ppl)
    assert info["test_ppl"] == pytest.approx(val_ppl, rel=1e-5) and info["test_files"] == [
        str(corpus["valid"])
    ]
    assert info["train_files"] == [str(corpus["train"])] and info["train_tokens_per_s"] > 0
    assert json.loads((export / "options.json").read_text())["char_cnn"]["n_characters"] == 262
    assert load_options(export / "options.json").extra["n_tokens_vocab"] == vocab_size
    assert (export / "vocab.txt").read_text() == (out / "vocab.txt").read_text()

    trained = BiLmPretrainer.from_checkpoint(out / "checkpoints" / "last.ckpt")
    loaded_bilm = ElmoBiLm(export / "options.json", export / "weights.hdf5")
    assert_same_parameters(loaded_bilm.bilm, trained.bilm)  # the export is bit-exact
    sentences = [["the", "cat", "eats", "a", "ball", "."], ["unseen", "words", "too"]]
    char_ids = batch_to_ids(sentences)
    loaded = loaded_bilm(char_ids)["activations"]
    # The module in training (parameters requiring grad: the autograd kernels) against the
    # loaded, frozen one (the no-grad kernels): two code paths, so float32 rounding differs.
    in_training = ElmoBiLm.from_module(trained.bilm)(char_ids)["activations"]
    for got, want in zip(loaded, in_training):
        # |activations| <= 6 here (ulp 4.8e-7); seen: 1-4 ulps; 1e-5 allows ~20 over the stages
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    # The same no-grad path on the same parameters: bit-exact.
    frozen = ElmoBiLm.from_module(trained.bilm.requires_grad_(False))(char_ids)["activations"]
    assert all(torch.equal(a, b) for a, b in zip(frozen, loaded))
    # Lightning's own loader rebuilds it alone too (vocabulary from the checkpoint).
    alone = BiLmPretrainer.load_from_checkpoint(
        out / "checkpoints" / "last.ckpt", map_location="cpu"
    )
    assert (
        alone.vocabulary == trained.vocabulary and alone.hparams.softmax == trained.hparams.softmax
    )
    assert all(
        torch.equal(a, b)
        for a, b in zip(alone.state_dict().values(), trained.state_dict().values())
    )

    # On demand from a checkpoint: the same weights.
    export_main([str(out / "checkpoints" / "last.ckpt"), str(tmp_path / "again")])
    again = ElmoBiLm(tmp_path / "again" / "options.json", tmp_path / "again" / "weights.hdf5")(
        char_ids
    )["activations"]
    assert all(torch.equal(a, b) for a, b in zip(loaded, again))  # both loaded: bit-exact
    assert json.loads((tmp_path / "again" / "pretrain_info.json").read_text())["steps"] == 45


def test_resume_from_a_checkpoint_continues_at_the_right_step(tmp_path, corpus):
    """A run resumed from a mid-epoch checkpoint ends with the very weights of the run
    that was not interrupted (same step, data position, LSTM states and random draws:
    dropout and the sampled softmax are on)."""
    from omegaconf import open_dict

    def config(out: str, *overrides: str):
        cfg = _config(
            tmp_path,
            corpus,
            out,
            "model.dropout=0.3",
            "model.softmax=sampled",
            "model.num_samples=8",
            "data.batch_size=4",
            *overrides,
        )
        with open_dict(cfg):
            cfg.callbacks.every_7_steps = {
                "_target_": "pytorch_lightning.callbacks.ModelCheckpoint",
                "dirpath": str(tmp_path / out / "steps"),
                "filename": "step{step}",
                "every_n_train_steps": 7,
                "save_top_k": -1,
                "auto_insert_metric_name": False,
            }
        return cfg

    run(config("whole", "trainer.max_steps=30"))
    middle = tmp_path / "whole" / "steps" / "step21.ckpt"
    saved = torch.load(middle, weights_only=True)
    assert saved["global_step"] == 21 and saved["pretrain"]["data_position"]["batches"] == 21
    run(config("resumed", "trainer.max_steps=30", f"ckpt_path={middle}"))

    whole = torch.load(tmp_path / "whole" / "checkpoints" / "last.ckpt", weights_only=True)
    resumed = torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", weights_only=True)
    assert resumed["global_step"] == whole["global_step"] == 30
    assert resumed["epoch"] == whole["epoch"]
    for name, tensor in whole["state_dict"].items():
        assert torch.allclose(tensor, resumed["state_dict"][name], atol=1e-6), name
    info = json.loads((tmp_path / "resumed" / "export" / "pretrain_info.json").read_text())
    assert info["steps"] == 30


def test_init_from_existing_weights_and_other_softmaxes(tmp_path, corpus, tiny_elmo_files):
    cfg = _config(
        tmp_path,
        corpus,
        "adapt",
        "model.softmax=adaptive",
        "model.cutoffs=[5,10]",
        "model.div_value=2",
        f"model.init_from={{options_file: {tiny_elmo_files.options_file}, weight_file: {tiny_elmo_files.weight_file}}}",
    )
    words = build_vocabulary([corpus["train"]])
    module = build_pretrainer(cfg, words, corpus={})
    assert (
        module.options.lstm_dim == tiny_elmo_files.options.lstm_dim
    )  # the architecture of init_from
    published = ElmoBiLm(tiny_elmo_files.options_file, tiny_elmo_files.weight_file)
    assert_same_parameters(module.bilm, published.bilm)  # starts from those very weights
    char_ids = batch_to_ids([["the", "cat"]])
    start = ElmoBiLm.from_module(module.bilm)(char_ids)["activations"]  # autograd kernels
    for got, want in zip(start, published(char_ids)["activations"]):  # no-grad kernels
        # two code paths: float32 rounding; |activations| <= 6 (ulp 4.8e-7), ~20 ulps allowed
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    assert isinstance(module.softmax, AdaptiveSoftmax)

    cfg = _config(
        tmp_path,
        corpus,
        "sampled",
        "model.softmax=sampled",
        "model.num_samples=8",
        "trainer.max_steps=3",
    )
    assert run(cfg) is not None
    full = _config(tmp_path, corpus, "full", "model.softmax=full")
    assert isinstance(build_pretrainer(full, words, corpus={}).softmax, FullSoftmax)


@pytest.mark.slow
def test_hydra_entry_point_trains_and_exports(tmp_path, corpus):
    """The command, with its progress bar: epochs counted without a total (training is bounded
    by steps, not ``Epoch 1/-2``), and the final perplexities printed as pretrain_info.json
    has them. Your own files need nothing from the data folder (an empty one here)."""
    run_dir, empty = tmp_path / "cli", tmp_path / "empty_data"
    empty.mkdir()
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    env["ELMO_TASKS_DATA"] = str(empty)
    command = [
        sys.executable,
        "-m",
        "elmo_tasks.pretrain",
        "model=tiny",
        "trainer.max_steps=5",
        f"data.train_files={corpus['train']}",
        f"data.validation_files={corpus['valid']}",
        f"data.test_files={corpus['valid']}",
        "data.batch_size=4",
        "data.unroll_steps=5",
        "data.batches_per_epoch=3",
        f"hydra.run.dir={run_dir}",
        f"paths.log_dir={tmp_path / 'logs'}",
    ]
    result = subprocess.run(
        command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    export = run_dir / "export"
    for name in ("options.json", "weights.hdf5", "vocab.txt", "pretrain_info.json"):
        assert (export / name).is_file(), name
    info = json.loads((export / "pretrain_info.json").read_text())
    assert info["steps"] == 5
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    ElmoBiLm(export / "options.json", export / "weights.hdf5")(batch_to_ids([["a", "dog"]]))
    output = result.stdout + result.stderr
    assert "Epoch 1 " in output and not re.search(r"Epoch \d+/-", output), output[-3000:]
    summary = result.stdout[result.stdout.index("pretraining finished after 5 steps") :]
    assert (
        f"validation perplexity: {info['val_ppl']:.2f} (forward {info['val_ppl_forward']:.2f}, "
        f"backward {info['val_ppl_backward']:.2f})" in summary
    )
    assert f"test perplexity: {info['test_ppl']:.2f}" in summary
    assert f"exported biLM: {export}/options.json" in summary


@pytest.mark.slow
def test_your_own_files_get_no_held_out_text_from_the_data_folder(tmp_path, corpus):
    """Only a training file given, an empty data folder: WikiText-2's validation and test texts
    are the defaults only beside WikiText-2's training text, so the run validates and tests on
    nothing and needs nothing from the data folder."""
    empty = tmp_path / "empty_data"
    empty.mkdir()
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    env["ELMO_TASKS_DATA"] = str(empty)
    result = subprocess.run(
        [sys.executable, "-m", "elmo_tasks.pretrain", "model=tiny", "trainer.max_steps=2"]
        + [f"data.train_files={corpus['train']}", "data.batch_size=4", "data.unroll_steps=5"]
        + ["trainer.enable_progress_bar=false", f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    info = json.loads((tmp_path / "run" / "export" / "pretrain_info.json").read_text())
    assert info["steps"] == 2 and info["validation_files"] == info["test_files"] == []
    assert info["val_ppl"] is None and info["test_ppl"] is None


def test_word2vec_baseline_writes_vectors_the_word_embedding_encoder_reads(tmp_path, corpus):
    pytest.importorskip(
        "gensim", reason="needs the word2vec extra: pip install 'elmo-tasks[word2vec]'"
    )
    from elmo_tasks.encoders import WordEmbeddingEncoder
    from elmo_tasks.encoders.word_embedding import read_vectors
    from elmo_tasks.pretraining.word2vec import run as run_word2vec

    cfg = _config(
        tmp_path, corpus, "w2v", "word2vec.dim=12", "word2vec.min_count=1", "word2vec.epochs=2"
    )
    path = run_word2vec(cfg)
    assert path == tmp_path / "w2v" / "word2vec.txt"
    vectors, dim = read_vectors(path, None, lowercase=False)
    assert dim == 12 and {"cat", "dog", "eats", "."} <= set(vectors)
    encoder = WordEmbeddingEncoder(
        vocabulary=["the", "cat", "zebra"], dim=12, pretrained_file=str(path)
    )
    assert encoder.output_dim == 12


def test_sampled_softmax_matches_the_masked_concatenation_it_computes(monkeypatch):
    """The loss and its gradients equal the textbook form: logits of the true word and of
    every sample, logQ subtracted, accidental hits masked, one log-sum-exp."""
    torch.manual_seed(0)
    vocab, dim = 30, 6
    softmax = SampledSoftmax(dim, vocab, num_samples=12).double()
    with torch.no_grad():
        softmax.weight.normal_()
        softmax.bias.normal_()
    hidden = torch.randn(40, dim, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, vocab, (40,))
    sampled = torch.tensor([17, 3, 25, 0, 9, 11])  # unsorted on purpose
    log_q = softmax.sampler.log_q(sampled, 12).double()
    assert (sampled.unsqueeze(0) == targets.unsqueeze(1)).any()  # some accidental hits

    def textbook():
        true = (
            (hidden * softmax.weight[targets]).sum(-1)
            + softmax.bias[targets]
            - softmax.sampler.log_q(targets, 12)
        )
        logits = hidden @ softmax.weight[sampled].t() + softmax.bias[sampled] - log_q
        logits = logits.masked_fill(sampled.unsqueeze(0) == targets.unsqueeze(1), float("-inf"))
        return torch.logsumexp(torch.cat([true.unsqueeze(1), logits], dim=1), dim=1) - true

    weights = torch.rand(40, dtype=torch.float64)
    expected = textbook()
    expected_grads = torch.autograd.grad(
        (expected * weights).sum(), [hidden, softmax.weight, softmax.bias]
    )
    nll = softmax.sampled_nll(hidden, targets, sampled, log_q)
    grads = torch.autograd.grad((nll * weights).sum(), [hidden, softmax.weight, softmax.bias])
    torch.testing.assert_close(nll, expected, rtol=0, atol=1e-12)
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    # A sample of one word that is the row's target: the row's loss is 0, its gradient finite.
    only = torch.tensor([int(targets[0])])
    nll = softmax.sampled_nll(
        hidden[:1], targets[:1], only, softmax.sampler.log_q(only, 12).double()
    )
    assert nll.item() == 0.0
    assert all(
        torch.isfinite(g).all() for g in torch.autograd.grad(nll.sum(), [hidden, softmax.weight])
    )


def test_sampled_logsumexp_under_bf16_autocast_keeps_float32_sums_and_parameter_dtypes():
    from elmo_tasks.pretraining.sampled_logsumexp import sampled_logsumexp

    torch.manual_seed(0)
    hidden = torch.randn(16, 8, requires_grad=True)
    weight, bias = torch.randn(10, 8, requires_grad=True), torch.randn(10, requires_grad=True)
    rows, columns = torch.tensor([0, 5]), torch.tensor([3, 9])
    exact = sampled_logsumexp(hidden, weight, bias, rows, columns)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = sampled_logsumexp(hidden, weight, bias, rows, columns)
    assert low.dtype == torch.float32
    torch.testing.assert_close(low, exact, rtol=0, atol=0.1)
    grads = torch.autograd.grad(low.sum(), [hidden, weight, bias])
    assert [g.dtype for g in grads] == [torch.float32] * 3
    logits = (hidden @ weight.t() + bias).index_put((rows, columns), torch.tensor(float("-inf")))
    expected = torch.autograd.grad(torch.logsumexp(logits, dim=1).sum(), [hidden, weight, bias])
    for got, want in zip(grads, expected):
        torch.testing.assert_close(got, want, rtol=0, atol=0.05)
