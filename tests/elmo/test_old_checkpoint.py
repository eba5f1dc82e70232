"""A biLM state_dict written by an earlier release still loads and gives the same numbers.

``tests/fixtures/bilm_state_v1.pt`` holds a tiny ``BiLm``'s ``state_dict`` as the code of
that release wrote it (parameters in the TensorFlow layout of the published weights), an
input batch and the activations that code computed for it. Checkpoints of fine-tuned
models store the biLM this way, so whatever layout the modules use in memory, this must
keep loading, and saving it again must give back the same tensors.
"""

from __future__ import annotations

from pathlib import Path

import torch

from elmo_tasks.elmo import ElmoBiLm
from elmo_tasks.elmo.modules import BiLm
from elmo_tasks.elmo.options import ElmoOptions
from elmo_tasks.elmo.random_weights import random_bilm
from elmo_tasks.elmo.weights import load_weights, save_elmo

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "bilm_state_v1.pt"


def _old() -> dict:
    return torch.load(FIXTURE, weights_only=True)


def test_old_state_dict_loads_and_gives_the_old_activations() -> None:
    old = _old()
    bilm = BiLm(ElmoOptions.from_dict(old["options"])).eval()
    bilm.load_state_dict(old["state_dict"])
    with torch.no_grad():
        activations, mask, _ = bilm(old["char_ids"].long())
    assert torch.equal(mask, old["mask"])
    for got, want in zip(activations, old["activations"], strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


def _published_layout(bilm: BiLm) -> dict[str, torch.Tensor]:
    """The biLM's tensors under the keys and in the layout of the fixture's release."""
    tensors = {}
    for key, tensor in bilm.state_dict().items():
        if key.endswith(("w_in_t", "w_rec_t", "w_proj_t")):
            key, tensor = key[:-2], tensor.transpose(1, 2)
        tensors[key] = tensor
    return tensors


def test_old_state_dict_saves_back_unchanged(tmp_path) -> None:
    old = _old()
    bilm = BiLm(ElmoOptions.from_dict(old["options"]))
    bilm.load_state_dict(old["state_dict"])
    saved = _published_layout(bilm)
    assert saved.keys() == old["state_dict"].keys()
    for key, tensor in old["state_dict"].items():
        assert torch.equal(saved[key], tensor), key
    # A state dict in today's layout loads back to the same biLM.
    again = BiLm(ElmoOptions.from_dict(old["options"]))
    again.load_state_dict(bilm.state_dict())
    assert all(
        torch.equal(a, b) for a, b in zip(again.state_dict().values(), bilm.state_dict().values())
    )
    # ... and so does the published file format.
    save_elmo(bilm, tmp_path / "options.json", tmp_path / "weights.hdf5")
    reloaded = ElmoBiLm(tmp_path / "options.json", tmp_path / "weights.hdf5")
    for key, tensor in _published_layout(reloaded.bilm).items():
        assert torch.equal(tensor, old["state_dict"][key]), key
    fresh = BiLm(ElmoOptions.from_dict(old["options"]))
    load_weights(fresh, tmp_path / "weights.hdf5")
    with torch.no_grad():
        activations, _, _ = fresh.eval()(old["char_ids"].long())
    torch.testing.assert_close(activations[-1], old["activations"][-1], rtol=0, atol=1e-6)


def test_seeded_random_weights_are_those_of_the_earlier_release() -> None:
    old = _old()  # written from random_bilm(options, seed=3, scale=0.5)
    bilm = random_bilm(ElmoOptions.from_dict(old["options"]), seed=3, scale=0.5)
    for key, tensor in _published_layout(bilm).items():
        assert torch.equal(tensor, old["state_dict"][key]), key


def test_layout_names_only_the_lstm_weights_and_converts_their_optimiser_state() -> None:
    from elmo_tasks.elmo.layout import convert_optimizer_states, current_key

    assert current_key("bilm.lstm.layers.1.w_rec") == "bilm.lstm.layers.1.w_rec_t"
    assert (
        current_key("model.elmo.bilm.lstm.layers.0.w_in") == "model.elmo.bilm.lstm.layers.0.w_in_t"
    )
    assert (
        current_key("bilm.char_encoder.w_proj") == "bilm.char_encoder.w_proj"
    )  # not an LSTM weight
    assert current_key("bilm.lstm.layers.0.w_rec_t") == "bilm.lstm.layers.0.w_rec_t"
    bilm = BiLm(ElmoOptions.from_dict(_old()["options"]))
    layer = bilm.lstm.layers[0]
    old_moment = torch.randn(layer.w_rec.shape)  # Adam's moment in the earlier (TensorFlow) layout
    bias_moment = torch.randn(layer.bias.shape)
    checkpoint = {
        "state_dict": {
            "lstm.layers.0.w_rec": layer.w_rec.detach(),
            "lstm.layers.0.bias": layer.bias.detach(),
        },
        "optimizer_states": [
            {
                "state": {
                    0: {"step": torch.tensor(3.0), "exp_avg": old_moment},
                    1: {"exp_avg": bias_moment},
                }
            }
        ],
    }
    assert convert_optimizer_states(checkpoint, bilm, [layer.w_rec_t, layer.bias]) == 1
    state = checkpoint["optimizer_states"][0]["state"]
    assert (
        torch.equal(state[0]["exp_avg"], old_moment.transpose(1, 2))
        and state[0]["exp_avg"].shape == layer.w_rec_t.shape
    )
    assert state[0]["step"].item() == 3.0 and torch.equal(state[1]["exp_avg"], bias_moment)
    # A checkpoint in the current layout is left alone.
    current = {
        "state_dict": {"lstm.layers.0.w_rec_t": layer.w_rec_t.detach()},
        "optimizer_states": checkpoint["optimizer_states"],
    }
    assert convert_optimizer_states(current, bilm, [layer.w_rec_t, layer.bias]) == 0
