"""Building blocks checked against formulas and hand-computed numbers.

Weights are set through the published hdf5 layout (dataset names of bilm-tf), so these
tests pin the maths of each block without depending on how the modules store parameters.
"""

from __future__ import annotations

import math
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from elmo_tasks.core.integrity import seal
from elmo_tasks.elmo import Elmo, ElmoBiLm, ScalarMix, batch_to_ids
from elmo_tasks.elmo.random_weights import write_random_elmo

from ..conftest import tiny_options


def sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def np_sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def write_elmo(
    directory: Path, options, overrides: dict | None = None, seed: int = 0
) -> tuple[Path, Path]:
    """Random weights for ``options``, then the named datasets overwritten (shapes must match)."""
    options_file, weight_file = write_random_elmo(directory, options, seed=seed)
    with h5py.File(weight_file, "r+") as handle:
        for name, value in (overrides or {}).items():
            value = np.asarray(value, dtype=np.float32)
            assert handle[name].shape == value.shape, name
            handle[name][...] = value
    seal(weight_file)  # changed on purpose: record the new checksum
    return options_file, weight_file


def cell(direction: int, layer: int) -> str:
    return f"RNN_{direction}/RNN/MultiRNNCell/Cell{layer}/LSTMCell"


def constant_token_overrides(vector: list[float], n_filters: int) -> dict:
    """Char CNN weights under which every token (and <S>, </S>) gets ``vector``."""
    return {"CNN_proj/W_proj": np.zeros((n_filters, len(vector))), "CNN_proj/b_proj": vector}


# --------------------------------------------------------------------------- Highway


def test_highway_hand_computed(tmp_path):
    # Two CNN filters whose pooled output is relu(bias) = [1, 2]: that is the highway input.
    options = tiny_options(
        char_embedding_dim=1, filters=[(1, 2)], n_highway=1, projection_dim=2, n_layers=1
    )
    overrides = {
        "CNN/W_cnn_0": np.zeros((1, 1, 1, 2)),
        "CNN/b_cnn_0": [1.0, 2.0],
        "CNN_high_0/W_transform": [[1.0, 0.5], [0.0, -1.0]],
        "CNN_high_0/b_transform": [0.5, 0.0],
        "CNN_high_0/W_carry": [[0.0, 1.0], [2.0, 0.0]],
        "CNN_high_0/b_carry": [0.0, -1.0],
        "CNN_proj/W_proj": np.eye(2),
        "CNN_proj/b_proj": [0.0, 0.0],
    }
    bilm = ElmoBiLm(*write_elmo(tmp_path, options, overrides))
    # x = [1, 2]
    # transform = x W_t + b_t = [1*1 + 2*0 + 0.5, 1*0.5 + 2*(-1) + 0] = [1.5, -1.5] -> relu [1.5, 0]
    # carry     = x W_c + b_c = [0 + 2*2 + 0, 1*1 + 0 - 1] = [4, 0]        -> g = [sigmoid(4), 0.5]
    # out = g * relu(transform) + (1 - g) * x = [1 + 0.5 sigmoid(4), 0.5 * 2] = [1.4910069, 1.0]
    expected = torch.tensor([1.0 + 0.5 * sigmoid(4.0), 1.0])
    assert expected[0].item() == pytest.approx(1.4910068950189541)
    out = bilm(batch_to_ids([["any", "tokens"]]))
    tokens = out["activations"][0][0]  # (<S>, any, tokens, </S>) x [forward | backward]
    assert tokens.shape == (4, 4)
    for position in range(4):
        torch.testing.assert_close(tokens[position, :2], expected, rtol=0, atol=1e-6)
        torch.testing.assert_close(tokens[position, 2:], expected, rtol=0, atol=1e-6)


def reference_char_encoder(handle: h5py.File, options, char_ids: np.ndarray) -> np.ndarray:
    """Token vectors from the formulas: embedding, conv (valid), max, relu, highway, projection."""
    char_embed = np.concatenate(
        [np.zeros((1, options.char_embedding_dim)), handle["char_embed"][...]]
    )
    embedded = char_embed[char_ids]  # (N, 50, d)
    pooled = []
    for i, (width, _) in enumerate(options.filters):
        weight = handle[f"CNN/W_cnn_{i}"][0]  # (width, d, n)
        conv = (
            sum(
                embedded[:, k : embedded.shape[1] - width + 1 + k] @ weight[k] for k in range(width)
            )
            + handle[f"CNN/b_cnn_{i}"][...]
        )
        pooled.append(np.maximum(conv.max(axis=1), 0.0))
    x = np.concatenate(pooled, axis=-1)
    for k in range(options.n_highway):
        group = handle[f"CNN_high_{k}"]
        gate = np_sigmoid(x @ group["W_carry"][...] + group["b_carry"][...])
        transform = np.maximum(x @ group["W_transform"][...] + group["b_transform"][...], 0.0)
        x = gate * transform + (1.0 - gate) * x
    return x @ handle["CNN_proj/W_proj"][...] + handle["CNN_proj/b_proj"][...]


def test_char_encoder_with_two_highway_layers_matches_formula(tmp_path):
    options = tiny_options(n_highway=2, filters=[(1, 4), (2, 8), (3, 8), (5, 4)])
    rng = np.random.default_rng(5)
    overrides = {
        f"CNN_high_{k}/{name}": rng.normal(0, 0.5, shape)
        for k in range(2)
        for name, shape in (
            ("W_transform", (24, 24)),
            ("b_transform", (24,)),
            ("W_carry", (24, 24)),
            ("b_carry", (24,)),
        )
    }
    # A large padding-character embedding makes windows lying wholly in the padding win the
    # max for many filters, so dropping any of them would show.
    char_embed = rng.normal(0, 1, (261, 4))
    char_embed[260] = 3.0  # row k holds character id k + 1: this is the padding character
    overrides["char_embed"] = char_embed
    options_file, weight_file = write_elmo(tmp_path, options, overrides)
    bilm = ElmoBiLm(options_file, weight_file)
    # Each batch on its own: the encoder may only skip padding columns that no token uses.
    batches = [[["a", "bc"], ["d"]], [["a", "longer-token", "é"], ["日本"]], [["x" * 60, "y"]]]
    with h5py.File(weight_file, "r") as handle:
        for batch in batches:
            activations = bilm(batch_to_ids(batch))["activations"][0]
            for row, sentence in enumerate(batch):
                tokens = ["<S>", *sentence, "</S>"]
                expected = reference_char_encoder(
                    handle, options, batch_to_ids([tokens])[0].numpy()
                )
                got = activations[row, : len(tokens)].numpy()
                np.testing.assert_allclose(got[:, :4], expected, rtol=0, atol=1e-5)
                np.testing.assert_allclose(got[:, 4:], expected, rtol=0, atol=1e-5)


# --------------------------------------------------------------------------- LstmLayer


def lstm_options(**overrides):
    fields = dict(
        char_embedding_dim=1,
        filters=[(1, 1)],
        n_highway=0,
        lstm_dim=1,
        projection_dim=1,
        n_layers=1,
    )
    fields.update(overrides)
    return tiny_options(**fields)


def manual_scalar_lstm(w_in, w_rec, bias, w_proj, x, steps, cell_clip=None, proj_clip=None):
    """One direction of a 1-unit LSTM with TF gate order (i, j, f, o) and forget bias +1."""
    h = c = 0.0
    outputs = []
    for _ in range(steps):
        i, j, f, o = (w_in[k] * x + w_rec[k] * h + bias[k] for k in range(4))
        c = sigmoid(i) * math.tanh(j) + sigmoid(f + 1.0) * c
        if cell_clip is not None:
            c = max(-cell_clip, min(cell_clip, c))
        h = sigmoid(o) * math.tanh(c) * w_proj
        if proj_clip is not None:
            h = max(-proj_clip, min(proj_clip, h))
        outputs.append(h)
    return outputs


def test_lstm_steps_hand_computed_tf_gate_order(tmp_path):
    options = lstm_options(cell_clip=None, proj_clip=None)
    fwd = ([0.5, -0.4, 0.3, 0.2], [0.1, 0.2, -0.3, 0.4], [0.05, -0.1, 0.2, 0.0], 1.5)
    bwd = ([-0.5, 0.4, -0.3, 0.6], [0.2, -0.1, 0.3, -0.4], [0.0, 0.1, -0.2, 0.1], -0.7)
    overrides = constant_token_overrides([1.0], n_filters=1)
    for d, (w_in, w_rec, bias, w_proj) in enumerate((fwd, bwd)):
        overrides[f"{cell(d, 0)}/W_0"] = [w_in, w_rec]  # rows: input, then recurrent
        overrides[f"{cell(d, 0)}/B"] = bias
        overrides[f"{cell(d, 0)}/W_P_0"] = [[w_proj]]
    bilm = ElmoBiLm(*write_elmo(tmp_path, options, overrides))
    layer = bilm(batch_to_ids([["one"]]))["activations"][1][0]  # 3 steps: <S> one </S>

    # Step 1 (forward): i = 0.5+0.05 = 0.55, j = -0.5, f = 0.5 (+1), o = 0.2, h = c = 0
    #   c1 = sigmoid(0.55) tanh(-0.5) = -0.291...; h1 = sigmoid(0.2) tanh(c1) 1.5 = -0.23500
    # Step 2 feeds h1 back through W_rec and c1 through the forget gate.
    expected_fwd = manual_scalar_lstm(*fwd[:3], fwd[3], x=1.0, steps=3)
    expected_bwd = manual_scalar_lstm(*bwd[:3], bwd[3], x=1.0, steps=3)
    assert expected_fwd == pytest.approx(
        [-0.23500039037922776, -0.3987155862488647, -0.5040032143886771]
    )
    assert expected_bwd == pytest.approx(
        [-0.08078615151343876, -0.13018139211976373, -0.159513992615129]
    )
    torch.testing.assert_close(layer[:, 0], torch.tensor(expected_fwd), rtol=0, atol=1e-6)
    # The backward direction reads the sentence from the end: position t is its step 2 - t.
    torch.testing.assert_close(layer[:, 1], torch.tensor(expected_bwd[::-1]), rtol=0, atol=1e-6)


def saturating_overrides(w_proj: float) -> dict:
    overrides = constant_token_overrides([1.0], n_filters=1)
    # Gates saturated: c grows by ~1 per step; forward towards +, backward towards -.
    for d, candidate in ((0, 10.0), (1, -10.0)):
        overrides[f"{cell(d, 0)}/W_0"] = [[10.0, candidate, 10.0, 20.0], [0.0, 0.0, 0.0, 0.0]]
        overrides[f"{cell(d, 0)}/B"] = [0.0] * 4
        overrides[f"{cell(d, 0)}/W_P_0"] = [[w_proj]]
    return overrides


def lstm_outputs(tmp_path, name, options, overrides, sentence_length=4):
    bilm = ElmoBiLm(*write_elmo(tmp_path / name, options, overrides))
    ids = batch_to_ids([[f"t{i}" for i in range(sentence_length)]])
    return bilm(ids)["activations"][1][0]  # (length + 2, 2)


def test_lstm_cell_clipping_exact(tmp_path):
    unclipped = lstm_outputs(
        tmp_path, "a", lstm_options(cell_clip=None, proj_clip=None), saturating_overrides(1.0)
    )
    # Without the clip the cell reaches ~6 after 6 steps: h = tanh(c) is close to 1.
    # (the backward direction's last step is position 0)
    assert unclipped[-1, 0].item() > 0.999 and unclipped[0, 1].item() < -0.999

    clipped = lstm_outputs(
        tmp_path, "b", lstm_options(cell_clip=1.5, proj_clip=None), saturating_overrides(1.0)
    )
    # sigmoid(20) is 1 in float32, so h = tanh(clip(c)) exactly once c passes the clip (step 2 on).
    first = math.tanh(sigmoid(10.0) * math.tanh(10.0))
    assert clipped[0, 0].item() == pytest.approx(first, abs=1e-6)
    for t in range(1, 6):
        assert clipped[t, 0].item() == pytest.approx(math.tanh(1.5), abs=1e-6)
        # backward: its step 1 is position 4, so positions 0..4 are clipped
        assert clipped[t - 1, 1].item() == pytest.approx(-math.tanh(1.5), abs=1e-6)
    assert clipped[5, 1].item() == pytest.approx(-first, abs=1e-6)


def test_lstm_projection_clipping_exact(tmp_path):
    unclipped = lstm_outputs(
        tmp_path, "a", lstm_options(cell_clip=None, proj_clip=None), saturating_overrides(10.0)
    )
    assert unclipped[:, 0].min().item() > 5.0 and unclipped[:, 1].max().item() < -5.0
    clipped = lstm_outputs(
        tmp_path, "b", lstm_options(cell_clip=None, proj_clip=0.5), saturating_overrides(10.0)
    )
    assert torch.equal(clipped[:, 0], torch.full((6,), 0.5))
    assert torch.equal(clipped[:, 1], torch.full((6,), -0.5))


def manual_lstm(x, w, bias, w_proj, cell_clip, proj_clip):
    """One direction over a (T, D) sequence from the formulas; W stacks [input; recurrent]."""
    d_in, cell_dim = x.shape[1], w_proj.shape[0]
    h = np.zeros(w_proj.shape[1])
    c = np.zeros(cell_dim)
    out = []
    for x_t in x:
        gates = x_t @ w[:d_in] + h @ w[d_in:] + bias
        i, j, f, o = np.split(gates, 4)
        c = np.clip(np_sigmoid(i) * np.tanh(j) + np_sigmoid(f + 1.0) * c, -cell_clip, cell_clip)
        h = np.clip((np_sigmoid(o) * np.tanh(c)) @ w_proj, -proj_clip, proj_clip)
        out.append(h)
    return np.stack(out)


def test_bilstm_stack_matches_manual_recurrence_with_active_clips(tmp_path):
    options = tiny_options(cell_clip=0.5, proj_clip=0.3, use_skip_connections=True)
    rng = np.random.default_rng(2)
    p, c = options.projection_dim, options.lstm_dim
    overrides = {}
    for d in (0, 1):
        for layer in (0, 1):
            overrides[f"{cell(d, layer)}/W_0"] = rng.uniform(-2, 2, (2 * p, 4 * c))
            overrides[f"{cell(d, layer)}/B"] = rng.uniform(-1, 1, 4 * c)
            overrides[f"{cell(d, layer)}/W_P_0"] = rng.uniform(-1, 1, (c, p))
    options_file, weight_file = write_elmo(tmp_path, options, overrides)
    bilm = ElmoBiLm(options_file, weight_file)
    sentences = [["a", "b", "c"], ["a", "much", "longer", "sentence", "here", "."], ["z"]]
    out = bilm(batch_to_ids(sentences))
    acts = [a.numpy() for a in out["activations"]]
    clipped_h = 0
    with h5py.File(weight_file, "r") as handle:
        for row, sentence in enumerate(sentences):
            n = len(sentence) + 2
            inputs = [
                acts[0][row, :n, :p],
                acts[0][row, :n, :p][::-1],
            ]  # per direction, in its time order
            for layer in (0, 1):
                outputs = []
                for d in (0, 1):
                    group = handle[cell(d, layer)]
                    h = manual_lstm(
                        inputs[d], group["W_0"][...], group["B"][...], group["W_P_0"][...], 0.5, 0.3
                    )
                    clipped_h += int((np.abs(h) == 0.3).sum())
                    if layer > 0:
                        h = h + inputs[d]  # skip connection
                    outputs.append(h)
                expected = np.concatenate([outputs[0], outputs[1][::-1]], axis=-1)
                np.testing.assert_allclose(acts[layer + 1][row, :n], expected, rtol=0, atol=2e-5)
                assert np.all(acts[layer + 1][row, n:] == 0)
                inputs = outputs
    assert clipped_h > 0, "the weights should drive some projections to the clip"


# --------------------------------------------------------------------------- skip connections


def test_skip_connection_adds_exactly_the_layer_one_output(tmp_path):
    rng = np.random.default_rng(3)
    options = tiny_options(use_skip_connections=True)
    overrides = {}
    for d in (0, 1):
        for layer in (0, 1):
            overrides[f"{cell(d, layer)}/W_0"] = rng.uniform(-1, 1, (8, 32))
            overrides[f"{cell(d, layer)}/B"] = rng.uniform(-1, 1, 32)
            overrides[f"{cell(d, layer)}/W_P_0"] = rng.uniform(-1, 1, (8, 4))
    options_file, weight_file = write_elmo(tmp_path / "skip", options, overrides)
    plain_options_file, _ = write_random_elmo(
        tmp_path / "plain", tiny_options(use_skip_connections=False)
    )
    with_skip = ElmoBiLm(options_file, weight_file)
    without_skip = ElmoBiLm(plain_options_file, weight_file)
    assert with_skip.options.use_skip_connections and not without_skip.options.use_skip_connections
    ids = batch_to_ids([["a", "tiny", "test", "."], ["short"]])
    skip, plain = with_skip(ids), without_skip(ids)
    assert torch.equal(skip["mask"], plain["mask"])
    assert torch.equal(skip["activations"][0], plain["activations"][0])
    assert torch.equal(skip["activations"][1], plain["activations"][1])
    layer1 = skip["activations"][1]
    assert layer1.abs().max() > 0.2
    torch.testing.assert_close(
        skip["activations"][2] - plain["activations"][2], layer1, rtol=0, atol=1e-6
    )


# --------------------------------------------------------------------------- ScalarMix


def test_scalar_mix_without_layer_norm_hand_computed():
    s = [0.1, 0.5, -0.3]
    mix = ScalarMix(3, initial_scalar_parameters=s)
    with torch.no_grad():
        mix.gamma.fill_(2.0)
    layers = [torch.full((1, 2, 3), 1.0), torch.full((1, 2, 3), 2.0), torch.full((1, 2, 3), -4.0)]
    total = sum(math.exp(v) for v in s)
    w = [math.exp(v) / total for v in s]
    # softmax([0.1, 0.5, -0.3]) = [0.31624, 0.47177, 0.21198]; 2 * (0.31624 + 0.94354 - 0.84793) = 0.82370
    expected_value = 2.0 * (w[0] * 1.0 + w[1] * 2.0 + w[2] * -4.0)
    assert expected_value == pytest.approx(0.82370, abs=1e-4)
    out = mix(layers)
    torch.testing.assert_close(out, torch.full((1, 2, 3), expected_value), rtol=0, atol=1e-6)
    # A stacked (n_layers, ...) tensor, as cached activations arrive, mixes the same way.
    torch.testing.assert_close(mix(torch.stack(layers)), out, rtol=0, atol=0)

    # Gradients of the mixing weights: d out / d s_k = gamma * w_k * (layer_k - mix / gamma).
    mix(layers).sum().backward()
    value = [1.0, 2.0, -4.0]
    mean = sum(wk * v for wk, v in zip(w, value))
    expected_grad = [6 * 2.0 * wk * (v - mean) for wk, v in zip(w, value)]  # 6 elements per layer
    torch.testing.assert_close(
        mix.scalar_parameters.grad, torch.tensor(expected_grad), rtol=0, atol=1e-5
    )


def test_scalar_mix_default_is_uniform_average():
    torch.manual_seed(0)
    layers = [torch.randn(2, 4, 5) for _ in range(3)]
    out = ScalarMix(3)(layers)
    torch.testing.assert_close(out, (layers[0] + layers[1] + layers[2]) / 3, rtol=0, atol=1e-6)


def test_scalar_mix_layer_norm_uses_only_masked_positions():
    torch.manual_seed(0)
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    layers = [torch.randn(2, 4, 5) * (k + 1) + k for k in range(3)]
    huge = [layer.clone() for layer in layers]
    for layer in huge:
        layer[~mask] = 1e8
    mix = ScalarMix(3, do_layer_norm=True, initial_scalar_parameters=[0.2, -0.1, 0.4])
    with torch.no_grad():
        mix.gamma.fill_(1.5)
    out = mix(layers, mask)
    out_huge = mix(huge, mask)
    torch.testing.assert_close(out[mask], out_huge[mask], rtol=0, atol=1e-5)

    # Formula: each layer normalised by mean / variance over the unmasked values only.
    w = torch.softmax(torch.tensor([0.2, -0.1, 0.4]), dim=0)
    expected = 0
    for k, layer in enumerate(layers):
        values = layer[mask]
        mean = values.mean()
        var = ((values - mean) ** 2).mean()
        expected = expected + w[k] * (layer - mean) / torch.sqrt(var + 1e-13)
    expected = 1.5 * expected
    torch.testing.assert_close(out[mask], expected[mask], rtol=0, atol=1e-5)
    # And it is not the plain mix.
    assert not torch.allclose(
        out[mask],
        ScalarMix(3, initial_scalar_parameters=[0.2, -0.1, 0.4])(layers)[mask] * 1.5,
        atol=1e-2,
    )


def test_scalar_mix_layer_norm_needs_mask_and_checks_layer_count():
    with pytest.raises(ValueError, match="mask"):
        ScalarMix(2, do_layer_norm=True)([torch.ones(1, 2, 3), torch.ones(1, 2, 3)])
    with pytest.raises(ValueError, match="3 values"):
        ScalarMix(2, initial_scalar_parameters=[0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="3 weights but got 2 layers"):
        ScalarMix(3)([torch.ones(1, 2, 3), torch.ones(1, 2, 3)])


# --------------------------------------------------------------------------- Elmo dropout


def test_elmo_dropout_only_in_training(tiny_elmo_files):
    elmo = Elmo(
        tiny_elmo_files.options_file,
        tiny_elmo_files.weight_file,
        num_output_representations=1,
        dropout=0.5,
    )
    sentences = [[f"w{i}{j}" for j in range(3 + i % 5)] for i in range(12)]
    ids = batch_to_ids(sentences)
    elmo.eval()
    first = elmo(ids)["elmo_representations"][0]
    second = elmo(ids)["elmo_representations"][0]
    assert torch.equal(first, second)

    elmo.train()
    torch.manual_seed(0)
    output = elmo(ids)
    dropped = output["elmo_representations"][0]
    mask = output["mask"]
    values, reference = dropped[mask], first[mask]
    assert (reference != 0).all()
    zeroed = values == 0
    fraction = zeroed.float().mean().item()
    assert 0.4 < fraction < 0.6, fraction
    torch.testing.assert_close(values[~zeroed], 2.0 * reference[~zeroed], rtol=1e-6, atol=0)
    # Back in eval mode nothing is dropped.
    elmo.eval()
    assert torch.equal(elmo(ids)["elmo_representations"][0], first)


def test_character_convolutions_in_token_chunks_match_one_pass(monkeypatch):
    """The encoder convolves a few hundred tokens at a time, sorted by length and each chunk
    trimmed to its longest token; neither the chunk edges nor the trimming change anything."""
    from elmo_tasks.elmo import modules
    from elmo_tasks.elmo.random_weights import random_bilm

    encoder = random_bilm(tiny_options(), seed=4).char_encoder
    generator = torch.Generator().manual_seed(0)
    count = 3 * modules.CONV_TOKEN_CHUNK + 5
    char_ids = torch.randint(1, 262, (count, 50), generator=generator)
    lengths = torch.randint(
        1, 30, (count,), generator=generator
    )  # chunks are sorted and trimmed by length
    char_ids[torch.arange(50) >= lengths.unsqueeze(1)] = (
        261  # padding character, as batch_to_ids writes
    )
    with torch.no_grad():
        chunked = encoder(char_ids)
        monkeypatch.setattr(modules, "CONV_TOKEN_CHUNK", len(char_ids))
        whole = encoder(char_ids)
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-6)
