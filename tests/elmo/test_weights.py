"""options.json / weights.hdf5: bit-exact round trips and errors that name the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import pytest
import torch

from elmo_tasks.elmo import (
    BiLm,
    Elmo,
    ElmoBiLm,
    ElmoOptions,
    ElmoOptionsError,
    ElmoWeightsError,
    batch_to_ids,
    load_options,
    load_weights,
    save_elmo,
)
from tests.conftest import assert_same_parameters

SENTENCES = [["The", "weights", "round", "trip", "."], ["Bit", "for", "bit"]]


def datasets(path: Path) -> dict[str, tuple]:
    """Every dataset of an hdf5 file: name -> (shape, dtype, raw bytes)."""
    found: dict[str, tuple] = {}
    with h5py.File(path, "r") as handle:

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                found[name] = (obj.shape, obj.dtype, obj[...].tobytes())

        handle.visititems(visit)
    return found


def write_json(path: Path, raw: dict) -> Path:
    path.write_text(json.dumps(raw), encoding="utf-8")
    return path


def fixture_raw_options(fixture_options_file: Path) -> dict:
    return json.loads(fixture_options_file.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- round trips


def test_save_elmo_round_trip_is_bit_exact(tmp_path, fixture_options_file, fixture_weight_file):
    model = ElmoBiLm(fixture_options_file, fixture_weight_file)
    options_out, weights_out = tmp_path / "out" / "options.json", tmp_path / "out" / "weights.hdf5"
    save_elmo(model, options_out, weights_out)

    original, saved = datasets(fixture_weight_file), datasets(weights_out)
    assert len(original) == 33
    assert sorted(saved) == sorted(original)
    for name, (shape, dtype, data) in original.items():
        assert saved[name][0] == shape, name
        assert saved[name][1] == dtype, name
        assert saved[name][2] == data, f"{name} differs after the round trip"

    assert json.loads(options_out.read_text()) == json.loads(fixture_options_file.read_text())
    assert not list((tmp_path / "out").glob("*.tmp")), "temporary files left behind"

    reloaded = ElmoBiLm(options_out, weights_out)
    ids = batch_to_ids(SENTENCES)
    first, second = model(ids), reloaded(ids)
    assert torch.equal(first["mask"], second["mask"])
    for a, b in zip(first["activations"], second["activations"]):
        assert torch.equal(a, b)


def test_save_elmo_accepts_elmo_and_bare_bilm(tmp_path, fixture_options_file, fixture_weight_file):
    elmo = Elmo(fixture_options_file, fixture_weight_file, num_output_representations=1)
    save_elmo(elmo, tmp_path / "a" / "options.json", tmp_path / "a" / "weights.hdf5")
    bare = elmo.bilm.bilm
    assert isinstance(bare, BiLm)
    save_elmo(bare, tmp_path / "b" / "options.json", tmp_path / "b" / "weights.hdf5")
    original = datasets(fixture_weight_file)
    assert datasets(tmp_path / "a" / "weights.hdf5") == original
    assert datasets(tmp_path / "b" / "weights.hdf5") == original
    with pytest.raises(TypeError, match="ElmoBiLm, Elmo or BiLm"):
        save_elmo(
            torch.nn.Linear(2, 2), tmp_path / "c" / "options.json", tmp_path / "c" / "weights.hdf5"
        )


def test_load_weights_into_bare_bilm(fixture_options_file, fixture_weight_file):
    bilm = BiLm(load_options(fixture_options_file))
    load_weights(bilm, fixture_weight_file)
    reference = ElmoBiLm(fixture_options_file, fixture_weight_file)
    assert_same_parameters(bilm, reference.bilm)
    ids = batch_to_ids(SENTENCES)
    with torch.no_grad():  # the no-grad kernels, as the frozen reference runs: the same code
        activations = bilm(ids)[0]
    for a, b in zip(activations, reference(ids)["activations"]):
        assert torch.equal(a, b)


def test_n_characters_261_accepted_and_saved_as_262(
    tmp_path, fixture_options_file, fixture_weight_file
):
    raw = fixture_raw_options(fixture_options_file)
    raw["char_cnn"]["n_characters"] = 261
    options_file = write_json(tmp_path / "options.json", raw)
    assert load_options(options_file).n_characters == 261
    model = ElmoBiLm(options_file, fixture_weight_file)
    reference = ElmoBiLm(fixture_options_file, fixture_weight_file)
    ids = batch_to_ids(SENTENCES)
    assert torch.equal(model(ids)["activations"][2], reference(ids)["activations"][2])
    save_elmo(model, tmp_path / "out" / "options.json", tmp_path / "out" / "weights.hdf5")
    saved = json.loads((tmp_path / "out" / "options.json").read_text())
    assert saved["char_cnn"]["n_characters"] == 262


def test_n_characters_other_values_rejected(tmp_path, fixture_options_file):
    raw = fixture_raw_options(fixture_options_file)
    raw["char_cnn"]["n_characters"] = 300
    path = write_json(tmp_path / "bad_chars.json", raw)
    with pytest.raises(ElmoOptionsError, match="n_characters") as error:
        load_options(path)
    assert str(path) in str(error.value)


def test_options_round_trip_preserves_unknown_keys(tmp_path, fixture_options_file):
    raw = fixture_raw_options(fixture_options_file)
    raw["n_tokens_vocab"] = 793471
    raw["unroll_steps"] = 20
    raw["all_clip_norm_val"] = 10.0
    raw["dropout"] = 0.1
    raw["lstm"]["unknown_lstm_setting"] = [1, 2]
    raw["char_cnn"]["unknown_char_setting"] = {"nested": True}
    path = write_json(tmp_path / "options.json", raw)
    options = load_options(path)
    assert options.extra["n_tokens_vocab"] == 793471
    assert options.to_dict() == raw
    assert ElmoOptions.from_dict(options.to_dict()).to_dict() == raw

    # Through a full save as well.
    model = ElmoBiLm(path, fixture_options_file.parent / "lm_weights.hdf5")
    save_elmo(model, tmp_path / "out" / "options.json", tmp_path / "out" / "weights.hdf5")
    assert json.loads((tmp_path / "out" / "options.json").read_text()) == raw


# --------------------------------------------------------------------------- errors


def test_missing_options_file(tmp_path, fixture_weight_file):
    missing = tmp_path / "nowhere" / "options.json"
    with pytest.raises(FileNotFoundError, match="options") as error:
        ElmoBiLm(missing, fixture_weight_file)
    assert str(missing) in str(error.value)
    with pytest.raises(FileNotFoundError) as error:
        load_options(missing)
    assert str(missing) in str(error.value)


def test_missing_weight_file(tmp_path, fixture_options_file):
    missing = tmp_path / "nowhere" / "weights.hdf5"
    with pytest.raises(FileNotFoundError, match="weights") as error:
        ElmoBiLm(fixture_options_file, missing)
    assert str(missing) in str(error.value)
    with pytest.raises(FileNotFoundError) as error:
        load_weights(BiLm(load_options(fixture_options_file)), missing)
    assert str(missing) in str(error.value)


def test_weight_file_that_is_not_hdf5(tmp_path, fixture_options_file):
    bogus = tmp_path / "weights.hdf5"
    bogus.write_text("this is not an hdf5 file\n")
    with pytest.raises(ElmoWeightsError, match="hdf5") as error:
        ElmoBiLm(fixture_options_file, bogus)
    assert str(bogus) in str(error.value)


def test_options_file_that_is_not_json(tmp_path, fixture_weight_file):
    bogus = tmp_path / "options.json"
    bogus.write_text('{"lstm": {"dim": 64,')
    with pytest.raises(ElmoOptionsError, match="not valid JSON") as error:
        ElmoBiLm(bogus, fixture_weight_file)
    assert str(bogus) in str(error.value)


def test_options_missing_a_field(tmp_path, fixture_options_file, fixture_weight_file):
    raw = fixture_raw_options(fixture_options_file)
    del raw["lstm"]["projection_dim"]
    path = write_json(tmp_path / "options.json", raw)
    with pytest.raises(ElmoOptionsError, match="projection_dim") as error:
        ElmoBiLm(path, fixture_weight_file)
    assert str(path) in str(error.value)


def test_wrong_projection_dim_names_dataset_and_shapes(
    tmp_path, fixture_options_file, fixture_weight_file
):
    raw = fixture_raw_options(fixture_options_file)
    raw["lstm"]["projection_dim"] = 8
    path = write_json(tmp_path / "options.json", raw)
    with pytest.raises(ElmoWeightsError) as error:
        ElmoBiLm(path, fixture_weight_file)
    message = str(error.value)
    assert str(fixture_weight_file) in message
    assert "'CNN_proj/W_proj'" in message
    assert "(124, 16)" in message and "(124, 8)" in message


def test_wrong_lstm_dim_names_lstm_dataset(tmp_path, fixture_options_file, fixture_weight_file):
    raw = fixture_raw_options(fixture_options_file)
    raw["lstm"]["dim"] = 32
    path = write_json(tmp_path / "options.json", raw)
    with pytest.raises(
        ElmoWeightsError, match=r"RNN_0/RNN/MultiRNNCell/Cell0/LSTMCell/W_0"
    ) as error:
        ElmoBiLm(path, fixture_weight_file)
    assert "(32, 256)" in str(error.value)


@pytest.mark.parametrize(
    "dataset",
    [
        "CNN/W_cnn_3",
        "CNN_high_1/b_carry",
        "char_embed",
        "RNN_1/RNN/MultiRNNCell/Cell1/LSTMCell/W_P_0",
    ],
)
def test_weight_file_with_deleted_dataset(
    tmp_path, fixture_options_file, fixture_weight_file, dataset
):
    broken = tmp_path / "weights.hdf5"
    shutil.copyfile(fixture_weight_file, broken)
    with h5py.File(broken, "r+") as handle:
        del handle[dataset]
    with pytest.raises(ElmoWeightsError) as error:
        ElmoBiLm(fixture_options_file, broken)
    message = str(error.value)
    assert f"'{dataset}'" in message and "missing" in message
    assert str(broken) in message


def test_options_with_fewer_highway_layers_than_file(
    tmp_path, fixture_options_file, fixture_weight_file
):
    raw = fixture_raw_options(fixture_options_file)
    raw["char_cnn"]["n_highway"] = 1
    path = write_json(tmp_path / "options.json", raw)
    with pytest.raises(ElmoWeightsError, match=r"CNN_high_1.*n_highway=1") as error:
        ElmoBiLm(path, fixture_weight_file)
    assert str(fixture_weight_file) in str(error.value)


def test_options_with_fewer_lstm_layers_or_filters_than_file(
    tmp_path, fixture_options_file, fixture_weight_file
):
    raw = fixture_raw_options(fixture_options_file)
    raw["lstm"]["n_layers"] = 1
    with pytest.raises(ElmoWeightsError, match=r"Cell1.*n_layers=1"):
        ElmoBiLm(write_json(tmp_path / "layers.json", raw), fixture_weight_file)
    raw = fixture_raw_options(fixture_options_file)
    raw["char_cnn"]["filters"] = raw["char_cnn"]["filters"][:4]
    with pytest.raises(ElmoWeightsError, match=r"W_cnn_4"):
        ElmoBiLm(write_json(tmp_path / "filters.json", raw), fixture_weight_file)


def test_options_with_more_highway_layers_than_file(
    tmp_path, fixture_options_file, fixture_weight_file
):
    raw = fixture_raw_options(fixture_options_file)
    raw["char_cnn"]["n_highway"] = 3
    with pytest.raises(ElmoWeightsError, match=r"missing dataset 'CNN_high_2/"):
        ElmoBiLm(write_json(tmp_path / "options.json", raw), fixture_weight_file)
