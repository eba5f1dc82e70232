"""ElmoBiLm and Elmo behaviour: statefulness, gradients, caching, shapes, precision, bad input."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from elmo_tasks.core.integrity import seal
from elmo_tasks.elmo import (
    Elmo,
    ElmoBiLm,
    ElmoInputError,
    batch_to_ids,
    remove_sentence_boundaries,
)
from elmo_tasks.elmo.random_weights import write_random_elmo

from ..conftest import tiny_options


@pytest.fixture()
def bilm(fixture_options_file, fixture_weight_file) -> ElmoBiLm:
    return ElmoBiLm(fixture_options_file, fixture_weight_file)


@pytest.fixture(scope="module")
def sentences(fixture_sentences) -> list[list[str]]:
    """The 30 fixture sentences, tokenised and cut to at most 14 tokens (keeps the tests fast)."""
    return [s.split()[:14] for group in fixture_sentences for s in group]


@pytest.fixture(scope="module")
def vocab(elmo_fixture_dir) -> list[str]:
    return (elmo_fixture_dir / "vocab_test.txt").read_text(encoding="utf-8").split("\n")


def make_elmo(options_file, weight_file, **kwargs) -> Elmo:
    kwargs.setdefault("dropout", 0.0)
    return Elmo(options_file, weight_file, num_output_representations=kwargs.pop("n", 1), **kwargs)


# --------------------------------------------------------------------------- statelessness


@pytest.mark.parametrize("row", [0, 1, 2])
def test_stateless_sentence_alone_equals_sentence_in_batch(
    bilm, sentences, row, fixture_options_file, fixture_weight_file
):
    short = ["The", "cat", "sat", "."]
    longer = [s for s in sentences if len(s) >= 12][:2]
    batch = longer[:row] + [short] + longer[row:]
    alone = bilm(batch_to_ids([short]))
    together = bilm(batch_to_ids(batch))
    n = len(short) + 2
    for k in range(3):
        torch.testing.assert_close(
            together["activations"][k][row, :n], alone["activations"][k][0], rtol=0, atol=1e-6
        )
        assert torch.all(together["activations"][k][row, n:] == 0)
    assert together["mask"][row].sum() == n

    elmo = make_elmo(fixture_options_file, fixture_weight_file).eval()
    rep_alone = elmo(batch_to_ids([short]))["elmo_representations"][0]
    rep_together = elmo(batch_to_ids(batch))["elmo_representations"][0]
    torch.testing.assert_close(rep_together[row, : len(short)], rep_alone[0], rtol=0, atol=1e-6)


def test_stateless_repeated_calls_give_identical_results(bilm, sentences):
    ids = batch_to_ids(sentences[:4])
    first = bilm(ids)["activations"]
    second = bilm(ids)["activations"]
    for a, b in zip(first, second):
        assert torch.equal(a, b)


def test_extra_padding_columns_change_nothing(bilm, fixture_options_file, fixture_weight_file):
    ids = batch_to_ids([["a", "b"], ["c"]])
    wide = torch.cat([ids, torch.zeros(2, 3, 50, dtype=torch.long)], dim=1)
    narrow_out, wide_out = bilm(ids), bilm(wide)
    assert wide_out["mask"].shape == (2, 7)
    assert (
        torch.equal(wide_out["mask"][:, :4], narrow_out["mask"])
        and not wide_out["mask"][:, 4:].any()
    )
    for a, b in zip(narrow_out["activations"], wide_out["activations"]):
        assert b.shape == (2, 7, 32)
        torch.testing.assert_close(b[:, :4], a, rtol=0, atol=1e-6)
        assert torch.all(b[:, 4:] == 0)
    elmo = make_elmo(fixture_options_file, fixture_weight_file)
    rep = elmo(wide)["elmo_representations"][0]
    assert rep.shape == (2, 5, 32)
    torch.testing.assert_close(rep[:, :2], elmo(ids)["elmo_representations"][0], rtol=0, atol=1e-6)


# --------------------------------------------------------------------------- statefulness


def test_stateful_carries_state_and_reset_restores(
    fixture_options_file, fixture_weight_file, bilm, sentences
):
    stateful = ElmoBiLm(fixture_options_file, fixture_weight_file, stateful=True)
    ids = batch_to_ids(sentences[:3])
    reference = bilm(ids)["activations"]
    first = stateful(ids)["activations"]
    second = stateful(ids)["activations"]
    for k in range(3):
        torch.testing.assert_close(first[k], reference[k], rtol=0, atol=1e-6)
    # The token layer has no state; the LSTM layers do.
    torch.testing.assert_close(second[0], reference[0], rtol=0, atol=1e-6)
    for k in (1, 2):
        assert (second[k] - reference[k]).abs().max() > 0.1
    stateful.reset_states()
    again = stateful(ids)["activations"]
    for k in range(3):
        torch.testing.assert_close(again[k], reference[k], rtol=0, atol=1e-6)


def test_stateful_smaller_and_larger_batches(
    fixture_options_file, fixture_weight_file, bilm, sentences
):
    def fresh():
        return ElmoBiLm(fixture_options_file, fixture_weight_file, stateful=True)

    first_batch = sentences[0:3]
    small_batch = sentences[3:5]
    large_batch = sentences[5:9]

    model = fresh()
    model(batch_to_ids(first_batch))
    small = model(batch_to_ids(small_batch))["activations"]
    assert small[2].shape[0] == 2
    # Rows 0 and 1 continue from rows 0 and 1 of the first batch: same as a 3-row second call.
    other = fresh()
    other(batch_to_ids(first_batch))
    three_rows = other(batch_to_ids(small_batch + [sentences[9]]))["activations"]
    n = small[2].shape[1]
    torch.testing.assert_close(small[2], three_rows[2][:2, :n], rtol=0, atol=1e-6)

    large = model(batch_to_ids(large_batch))["activations"]
    assert large[2].shape[0] == 4
    # Row 3 never had a state: it equals the stateless result.
    alone = bilm(batch_to_ids([large_batch[3]]))["activations"]
    m = len(large_batch[3]) + 2
    torch.testing.assert_close(large[2][3, :m], alone[2][0], rtol=0, atol=1e-6)
    # Row 2 kept its state from the first batch (it sat out the 2-row call).
    check = fresh()
    check(batch_to_ids(first_batch))
    row2 = check(batch_to_ids([sentences[0], sentences[0], large_batch[2]]))["activations"]
    m = len(large_batch[2]) + 2
    torch.testing.assert_close(large[2][2, :m], row2[2][2, :m], rtol=0, atol=1e-6)
    assert (
        large[2][2, :m] - bilm(batch_to_ids([large_batch[2]]))["activations"][2][0]
    ).abs().max() > 0.1


# --------------------------------------------------------------------------- gradients


def test_requires_grad_true_reaches_every_parameter(
    fixture_options_file, fixture_weight_file, sentences
):
    model = ElmoBiLm(fixture_options_file, fixture_weight_file, requires_grad=True)
    params = dict(model.named_parameters())
    assert params and all(p.requires_grad for p in params.values())
    # Every published array is a parameter (plus the zero padding row of the char embedding).
    with h5py.File(fixture_weight_file, "r") as handle:
        stored = []
        handle.visititems(
            lambda name, obj: stored.append(obj.size) if isinstance(obj, h5py.Dataset) else None
        )
    assert sum(p.numel() for p in params.values()) == sum(stored) + model.options.char_embedding_dim

    out = model(batch_to_ids(sentences[:6]))
    generator = torch.Generator().manual_seed(0)
    loss = sum((a * torch.randn(a.shape, generator=generator)).sum() for a in out["activations"])
    loss.backward()
    for name, parameter in params.items():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name
    # The named groups of the brief, checked through the module tree.
    encoder = model.bilm.char_encoder
    assert encoder.char_embedding.weight.grad.abs().sum() > 0
    assert all(p.grad.abs().sum() > 0 for p in encoder.highway.parameters())
    for layer in model.bilm.lstm.layers:
        assert all(p.grad.abs().sum() > 0 for p in layer.parameters())


def test_requires_grad_false_freezes_bilm_but_not_scalar_mix(
    fixture_options_file, fixture_weight_file, sentences
):
    elmo = make_elmo(fixture_options_file, fixture_weight_file, requires_grad=False, n=2)
    bilm_params = list(elmo.bilm.parameters())
    assert bilm_params and not any(p.requires_grad for p in bilm_params)
    elmo.train()
    assert elmo.training
    assert all(not module.training for module in elmo.bilm.bilm.modules()), (
        "a frozen biLM stays in eval mode"
    )
    ids = batch_to_ids(sentences[:4])
    raw = elmo.bilm(ids)
    assert not any(a.requires_grad for a in raw["activations"])
    out = elmo(ids)
    loss = sum(r.pow(2).sum() for r in out["elmo_representations"])
    loss.backward()
    assert all(p.grad is None for p in bilm_params)
    for mix in elmo.scalar_mixes:
        for parameter in mix.parameters():
            assert parameter.requires_grad
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0


# --------------------------------------------------------------------------- vocab_to_cache


def test_vocab_to_cache_gives_same_activations(
    fixture_options_file, fixture_weight_file, bilm, vocab, sentences
):
    cached = ElmoBiLm(fixture_options_file, fixture_weight_file, vocab_to_cache=vocab)
    batch = sentences[:5] + [vocab[:7], ["unseen-word", vocab[3], "ALSO_UNSEEN"]]
    ids = batch_to_ids(batch)
    word_ids = cached.word_ids_for(batch)
    assert word_ids.shape == ids.shape[:2]
    real = (ids > 0).any(-1)
    assert (word_ids[real] >= 0).any() and (word_ids[real] == -1).any()
    assert torch.all(word_ids[~real] == -1)
    assert word_ids[5, :7].tolist() == list(range(7))
    assert word_ids[6, :3].tolist() == [-1, 3, -1]
    with_cache = cached(ids, word_ids)
    without = bilm(ids)
    assert torch.equal(with_cache["mask"], without["mask"])
    for a, b in zip(with_cache["activations"], without["activations"]):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_word_ids_are_used_when_given(fixture_options_file, fixture_weight_file, bilm, vocab):
    cached = ElmoBiLm(fixture_options_file, fixture_weight_file, vocab_to_cache=vocab)
    ids = batch_to_ids([["x", "y", "z"]])
    word_ids = torch.full((1, 3), vocab.index("good"))
    via_cache = cached(ids, word_ids)["activations"]
    as_text = bilm(batch_to_ids([["good", "good", "good"]]))["activations"]
    for a, b in zip(via_cache, as_text):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


# --------------------------------------------------------------------------- Elmo outputs


def test_elmo_output_shapes_and_mask(fixture_options_file, fixture_weight_file, sentences):
    batch = [sentences[0][:5], sentences[1][:8], sentences[2][:2]]
    ids = batch_to_ids(batch)
    elmo = make_elmo(fixture_options_file, fixture_weight_file, n=2)
    assert elmo.get_output_dim() == 32
    out = elmo(ids)
    assert len(out["elmo_representations"]) == 2
    for rep in out["elmo_representations"]:
        assert rep.shape == (3, 8, 32)
    assert out["mask"].shape == (3, 8)
    assert out["mask"].sum(dim=1).tolist() == [5, 8, 2]

    kept = make_elmo(fixture_options_file, fixture_weight_file, n=1, keep_sentence_boundaries=True)(
        ids
    )
    assert kept["elmo_representations"][0].shape == (3, 10, 32)
    assert kept["mask"].shape == (3, 10)
    assert kept["mask"].sum(dim=1).tolist() == [7, 10, 4]
    torch.testing.assert_close(
        kept["elmo_representations"][0][:, 1:9] * out["mask"].unsqueeze(-1),
        out["elmo_representations"][0],
        rtol=0,
        atol=1e-6,
    )


def test_elmo_default_mix_is_mean_of_layers(
    fixture_options_file, fixture_weight_file, bilm, sentences
):
    ids = batch_to_ids(sentences[:3])
    elmo = make_elmo(fixture_options_file, fixture_weight_file)
    rep = elmo(ids)["elmo_representations"][0]
    raw = bilm(ids)
    layers = [remove_sentence_boundaries(a, raw["mask"])[0] for a in raw["activations"]]
    torch.testing.assert_close(rep, sum(layers) / 3, rtol=0, atol=1e-6)


def test_scalar_mix_parameters_fixed(fixture_options_file, fixture_weight_file, bilm, sentences):
    elmo = make_elmo(
        fixture_options_file, fixture_weight_file, scalar_mix_parameters=[1.0, 2.0, 3.0]
    )
    mix_params = list(elmo.scalar_mixes[0].parameters())
    assert mix_params and not any(p.requires_grad for p in mix_params)
    ids = batch_to_ids(sentences[:2])
    rep = elmo(ids)["elmo_representations"][0]
    raw = bilm(ids)
    layers = [remove_sentence_boundaries(a, raw["mask"])[0] for a in raw["activations"]]
    w = np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum()
    expected = sum(float(w[k]) * layers[k] for k in range(3))
    torch.testing.assert_close(rep, expected, rtol=0, atol=1e-6)


def test_extra_leading_dimension_is_restored(fixture_options_file, fixture_weight_file, sentences):
    batch = [s[:6] for s in sentences[:6]]
    batch[4] = batch[4][:3]
    ids = batch_to_ids(batch)
    elmo = make_elmo(fixture_options_file, fixture_weight_file)
    flat = elmo(ids)
    nested = elmo(ids.view(2, 3, *ids.shape[1:]))
    rep = nested["elmo_representations"][0]
    assert rep.shape == (2, 3, 6, 32)
    assert nested["mask"].shape == (2, 3, 6)
    torch.testing.assert_close(
        rep.reshape(6, 6, 32), flat["elmo_representations"][0], rtol=0, atol=1e-6
    )
    assert torch.equal(nested["mask"].reshape(6, 6), flat["mask"])


# --------------------------------------------------------------------------- inference / precision / device


def test_inference_mode(fixture_options_file, fixture_weight_file, sentences):
    ids = batch_to_ids(sentences[:3])
    elmo = make_elmo(fixture_options_file, fixture_weight_file)
    reference = elmo(ids)["elmo_representations"][0]
    assert reference.requires_grad  # the scalar mix is trainable
    with torch.inference_mode():
        out = elmo(ids)["elmo_representations"][0]
    assert not out.requires_grad
    # bit-exact: the frozen biLM runs its no-grad kernels either way, and the scalar mix's
    # forward kernels are the same with or without autograd's bookkeeping
    torch.testing.assert_close(out, reference.detach(), rtol=0, atol=0)


def test_autocast_bfloat16_close_to_float32(
    fixture_options_file, fixture_weight_file, bilm, sentences
):
    ids = batch_to_ids(sentences[:4])
    reference = bilm(ids)["activations"]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = bilm(ids)["activations"]
    for a, b in zip(reference, out):
        b = b.float()
        assert torch.isfinite(b).all()
        assert (a - b).abs().max() < 0.1
    elmo = make_elmo(fixture_options_file, fixture_weight_file)
    ref_rep = elmo(ids)["elmo_representations"][0]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        rep = elmo(ids)["elmo_representations"][0].float()
    assert torch.isfinite(rep).all() and (rep - ref_rep).abs().max() < 0.1


def test_autocast_saturated_lstm_respects_proj_clip(tmp_path):
    options = tiny_options(use_skip_connections=False, cell_clip=3.0, proj_clip=3.0)
    options_file, weight_file = write_random_elmo(tmp_path, options, seed=1)
    rng = np.random.default_rng(0)
    with h5py.File(weight_file, "r+") as handle:
        for d in (0, 1):
            for layer in (0, 1):
                group = handle[f"RNN_{d}/RNN/MultiRNNCell/Cell{layer}/LSTMCell"]
                for name in ("W_0", "B", "W_P_0"):
                    group[name][...] = rng.uniform(-50, 50, group[name].shape).astype(np.float32)
    seal(weight_file)  # changed on purpose: record the new checksum
    model = ElmoBiLm(options_file, weight_file)
    ids = batch_to_ids([["saturate", "these", "gates", "now"], ["and", "here"]])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(ids)["activations"]
    for k in (1, 2):
        values = out[k].float()
        assert torch.isfinite(values).all()
        assert values.abs().max().item() <= 3.0
        assert values.abs().max().item() == 3.0, "weights should saturate the projection"


@pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device to compare GPU and CPU outputs"
)
def test_cuda_matches_cpu(fixture_options_file, fixture_weight_file, sentences):
    ids = batch_to_ids(sentences[:6])
    elmo = make_elmo(fixture_options_file, fixture_weight_file, n=1).eval()
    cpu = elmo(ids)
    flags = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        elmo_gpu = elmo.to("cuda")
        gpu = elmo_gpu(ids.to("cuda"))
        raw = elmo_gpu.bilm(ids.to("cuda"))
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = flags
    assert gpu["elmo_representations"][0].device.type == "cuda"
    torch.testing.assert_close(
        gpu["elmo_representations"][0].cpu(),
        cpu["elmo_representations"][0].detach(),
        rtol=0,
        atol=1e-5,
    )
    assert torch.equal(gpu["mask"].cpu(), cpu["mask"])
    reference = ElmoBiLm(fixture_options_file, fixture_weight_file)(ids)
    for a, b in zip(raw["activations"], reference["activations"]):
        torch.testing.assert_close(a.cpu(), b, rtol=0, atol=1e-5)


# --------------------------------------------------------------------------- bad input


@pytest.fixture()
def tiny_pair(tiny_elmo_files):
    return (
        ElmoBiLm(tiny_elmo_files.options_file, tiny_elmo_files.weight_file),
        make_elmo(tiny_elmo_files.options_file, tiny_elmo_files.weight_file),
    )


@pytest.mark.parametrize(
    "make_ids, message",
    [
        (lambda: torch.ones(2, 3, 49, dtype=torch.long), r"\(batch, max_len, 50\)"),
        (lambda: batch_to_ids([["a", "b"]]).float(), r"dtype"),
        (
            lambda: torch.cat(
                [batch_to_ids([["a", "b"], ["c"]]), torch.zeros(1, 2, 50, dtype=torch.long)]
            ),
            r"rows \[2\] have no tokens",
        ),
        (lambda: torch.zeros(0, 0, 50, dtype=torch.long), r"empty"),
        (lambda: torch.zeros(0, dtype=torch.long), r"shape"),
        (lambda: batch_to_ids([["a"]])[0], r"shape"),
        (lambda: batch_to_ids([["a"]]) + 300, r"0\.\.261"),
    ],
    ids=["last-dim-49", "float", "empty-row", "empty-tensor", "1d-empty", "2d", "out-of-range"],
)
def test_bad_char_ids_raise(tiny_pair, make_ids, message):
    for module in tiny_pair:
        with pytest.raises(ElmoInputError, match=message):
            module(make_ids())
    assert issubclass(ElmoInputError, ValueError)


def test_word_ids_without_vocab_to_cache(tiny_pair):
    ids = batch_to_ids([["a", "b"]])
    for module in tiny_pair:
        with pytest.raises(ElmoInputError, match="vocab_to_cache"):
            module(ids, torch.zeros(1, 2, dtype=torch.long))


def test_word_ids_of_wrong_shape(tiny_elmo_files):
    model = ElmoBiLm(
        tiny_elmo_files.options_file, tiny_elmo_files.weight_file, vocab_to_cache=["a", "b"]
    )
    with pytest.raises(ElmoInputError, match="shape"):
        model(batch_to_ids([["a", "b"]]), torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(ElmoInputError, match="cached"):
        model(batch_to_ids([["a", "b"]]), torch.tensor([[0, 2]]))


def test_int32_char_ids_are_accepted(tiny_pair):
    """check_char_ids accepts int32 ids, so the forward pass must give the long-id result."""
    ids = batch_to_ids([["int", "ids"], ["x"]])
    bilm, _ = tiny_pair
    expected = bilm(ids)["activations"]
    got = bilm(ids.to(torch.int32))["activations"]
    for a, b in zip(expected, got):
        torch.testing.assert_close(b, a, rtol=0, atol=0)


def test_frozen_bilm_starts_in_eval_mode_and_reuses_token_vectors(tiny_elmo_files):
    bilm = ElmoBiLm(tiny_elmo_files.options_file, tiny_elmo_files.weight_file)
    assert not bilm.bilm.training
    encoded = []
    original = bilm.bilm.char_encoder.forward
    bilm.bilm.char_encoder.forward = lambda ids: encoded.append(ids.shape[0]) or original(ids)
    first = bilm(batch_to_ids([["a", "b", "a"]]))["activations"]
    second = bilm(batch_to_ids([["b", "a", "c"]]))["activations"]
    # <S>, </S>, a, b once; then only c is new.
    assert encoded == [4, 1]
    fresh = ElmoBiLm(tiny_elmo_files.options_file, tiny_elmo_files.weight_file)
    fresh.bilm.token_cache.max_size = 0
    for got, want in zip(second, fresh(batch_to_ids([["b", "a", "c"]]))["activations"]):
        assert torch.allclose(got, want, atol=1e-6)
    assert len(first) == 3


def test_token_vector_cache_empties_when_weights_change(tiny_elmo_files):
    bilm = ElmoBiLm(tiny_elmo_files.options_file, tiny_elmo_files.weight_file)
    ids = batch_to_ids([["a", "b"]])
    before = bilm(ids)["activations"][0]
    with torch.no_grad():
        bilm.bilm.char_encoder.b_proj.add_(1.0)
    after = bilm(ids)["activations"][0]
    assert torch.allclose(after[0, :4] - before[0, :4], torch.ones_like(after[0, :4]), atol=1e-5)


def test_trainable_encoder_never_uses_the_token_cache(tiny_elmo_files):
    bilm = ElmoBiLm(tiny_elmo_files.options_file, tiny_elmo_files.weight_file, requires_grad=True)
    bilm.eval()
    ids = batch_to_ids([["a", "b"]])
    with torch.no_grad():
        bilm(ids)
    # An optimiser that writes weights without bumping their version (fused Adam does).
    with torch.no_grad():
        bilm.bilm.char_encoder.b_proj.data.add_(1.0)
    with torch.no_grad():
        after = bilm(ids)["activations"][0]
    fresh = ElmoBiLm(tiny_elmo_files.options_file, tiny_elmo_files.weight_file)
    with torch.no_grad():
        fresh.bilm.char_encoder.b_proj.add_(1.0)
    assert torch.allclose(after, fresh(ids)["activations"][0], atol=1e-6)
    assert len(bilm.bilm.token_cache._vectors) == 0
