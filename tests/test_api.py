"""The Python API: public names, load_run(...).predict, load_from_checkpoint alone, trainer.predict."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

import elmo_tasks
from elmo_tasks.cli.predict import PredictError
from elmo_tasks.tasks import ClassificationTask, TaggingTask
from tests.tiny_runs import tiny_elmo, train_classifier, train_tagger

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TEXTS = ["the film was good", "a very awful plot", "great", "and the plot was bad"]
SENTENCES = ["john was a paris", "the acme film", ["new", "york", "and", "paris"]]


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory) -> Path:
    return train_classifier(tmp_path_factory.mktemp("classifier"), epochs=4)


@pytest.fixture(scope="module")
def crf_run(tmp_path_factory) -> Path:
    return train_tagger(tmp_path_factory.mktemp("crf"), epochs=4)


@pytest.fixture(scope="module")
def softmax_run(tmp_path_factory) -> Path:
    return train_tagger(tmp_path_factory.mktemp("softmax"), head="tagger_softmax", epochs=4)


def _best(run_dir: Path) -> Path:
    return Path(json.loads((run_dir / "results.json").read_text())["best_checkpoint"])


def _trainer() -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False
    )


# --------------------------------------------------------------------------- public names


def test_public_names_and_a_light_import():
    from elmo_tasks import Elmo, ElmoBiLm, ScalarMix, batch_to_ids, load_run  # noqa: F401
    from elmo_tasks.elmo import Elmo as ElmoItself

    assert Elmo is ElmoItself
    assert {"Elmo", "ElmoBiLm", "ScalarMix", "batch_to_ids", "load_run"} <= set(elmo_tasks.__all__)
    code = "import sys, elmo_tasks; print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, check=True
    )
    assert out.stdout.strip() == "False"  # torch is imported on first use of a public name only
    with pytest.raises(AttributeError, match="no attribute 'Elmoo'"):
        elmo_tasks.Elmoo  # noqa: B018


def test_elmo_with_allennlp_arguments(tiny_elmo_files):
    from elmo_tasks import Elmo, ScalarMix, batch_to_ids

    elmo = Elmo(
        str(tiny_elmo_files.options_file),
        str(tiny_elmo_files.weight_file),
        num_output_representations=2,
        requires_grad=False,
        do_layer_norm=False,
        dropout=0.0,
    )
    out = elmo(batch_to_ids([["Hello", "world", "."], ["Hi"]]))
    assert len(out["elmo_representations"]) == 2
    assert out["elmo_representations"][0].shape == (
        2,
        3,
        2 * tiny_elmo_files.options.projection_dim,
    )
    assert out["mask"].tolist() == [[True, True, True], [True, False, False]]
    assert ScalarMix(3)([torch.ones(2, 2)] * 3).shape == (2, 2)


# AllenNLP's signatures (allennlp.modules.elmo.Elmo, _ElmoBiLm and allennlp.modules.ScalarMix),
# positional order included: our extras come after them.
ALLENNLP = {
    "Elmo": [
        "options_file",
        "weight_file",
        "num_output_representations",
        "requires_grad",
        "do_layer_norm",
        "dropout",
        "vocab_to_cache",
        "keep_sentence_boundaries",
        "scalar_mix_parameters",
        "module",
    ],
    "ElmoBiLm": ["options_file", "weight_file", "requires_grad", "vocab_to_cache"],
    "ScalarMix": ["mixture_size", "do_layer_norm", "initial_scalar_parameters", "trainable"],
}


@pytest.mark.parametrize("name", sorted(ALLENNLP))
def test_allennlp_argument_names_and_order(name):
    import inspect

    parameters = list(inspect.signature(getattr(elmo_tasks, name)).parameters)
    assert parameters[: len(ALLENNLP[name])] == ALLENNLP[name]


def test_scalar_mix_old_argument_name_still_works():
    from elmo_tasks import ScalarMix

    with pytest.warns(DeprecationWarning, match="initial_scalar_parameters"):
        mix = ScalarMix(2, initial=[1.0, 0.0])
    assert mix.scalar_parameters.tolist() == [1.0, 0.0]
    with pytest.raises(TypeError, match="initial_scalar_parameters only"):
        ScalarMix(2, initial_scalar_parameters=[0.0, 0.0], initial=[1.0, 0.0])


# --------------------------------------------------------------------------- classification


def test_load_run_predicts_labels_with_probabilities(classifier_run):
    run = elmo_tasks.load_run(classifier_run)
    assert run.module is run.model and isinstance(run.module, ClassificationTask)
    assert run.device == torch.device("cpu") and not run.module.training
    records = run.predict(TEXTS, batch_size=3)
    assert len(records) == len(TEXTS)
    for record in records:
        assert set(record) == {"label", "probabilities"}
        assert set(record["probabilities"]) == {"neg", "pos"}
        assert math.isclose(sum(record["probabilities"].values()), 1.0, rel_tol=1e-5)
        assert record["label"] == max(record["probabilities"], key=record["probabilities"].get)
    # The model learned the task: sentiment words decide.
    assert [r["label"] for r in records] == ["pos", "neg", "pos", "neg"]
    expected = run.module.predict_proba([t.split() for t in TEXTS])
    got = [p for r in records for p in r["probabilities"].values()]
    assert got == pytest.approx(expected.flatten().tolist(), abs=1e-6)


def test_classifier_load_from_checkpoint_rebuilds_it_alone(classifier_run):
    run = elmo_tasks.load_run(classifier_run)
    alone = type(run.module).load_from_checkpoint(_best(classifier_run), map_location="cpu").eval()
    assert alone.labels == run.module.labels
    tokens = [t.split() for t in TEXTS]
    assert torch.allclose(alone.predict_proba(tokens), run.module.predict_proba(tokens))
    assert alone.data_state["labels"] == ["neg", "pos"]


def test_classifier_trainer_predict(classifier_run):
    run = elmo_tasks.load_run(classifier_run)
    loader = DataLoader(
        [t.split() for t in TEXTS], batch_size=2, collate_fn=lambda rows: {"tokens": rows}
    )
    batches = _trainer().predict(run.module, dataloaders=loader)
    flat = [record for batch in batches for record in batch]
    expected = run.predict(TEXTS)
    assert [r["label"] for r in flat] == [r["label"] for r in expected]
    assert [r["probabilities"] for r in flat] == [
        pytest.approx(r["probabilities"], abs=1e-6) for r in expected
    ]
    with pytest.raises(TypeError, match="list of non-empty token lists"):
        run.module.predict_step("not a batch")


def test_predict_rejects_bad_input(classifier_run):
    run = elmo_tasks.load_run(classifier_run)
    with pytest.raises(TypeError, match=r"wrap a single text in a list"):
        run.predict("the film was good")
    with pytest.raises(ValueError, match="text 1 is empty"):
        run.predict(["good", "   "])
    with pytest.raises(
        TypeError, match="text 0: expected a string or a list of non-empty token strings"
    ):
        run.predict([["good", 5]])
    assert run.predict([["good"]]) == run.predict(["good"])


def test_load_run_devices(classifier_run):
    with pytest.raises(PredictError, match="not a device name"):
        elmo_tasks.load_run(classifier_run, device="gpu-please")
    if not torch.cuda.is_available():
        with pytest.raises(PredictError, match="CUDA is not available"):
            elmo_tasks.load_run(classifier_run, device="cuda")
    auto = elmo_tasks.load_run(classifier_run, device="auto")
    assert auto.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert auto.predict(TEXTS)[0]["label"] == "pos"


# --------------------------------------------------------------------------- tagging


@pytest.mark.parametrize("fixture", ["crf_run", "softmax_run"])
def test_load_run_tags_with_entity_scores(fixture, request):
    run = elmo_tasks.load_run(request.getfixturevalue(fixture))
    assert isinstance(run.module, TaggingTask)
    records = run.predict(SENTENCES)
    assert [r["tokens"] for r in records] == [
        s.split() if isinstance(s, str) else s for s in SENTENCES
    ]
    for record in records:
        assert set(record) == {"tokens", "tags", "tag_probabilities", "entities"}
        assert len(record["tags"]) == len(record["tokens"]) == len(record["tag_probabilities"])
        assert all(0.0 < p <= 1.0 + 1e-6 for p in record["tag_probabilities"])
        for entity in record["entities"]:
            assert set(entity) == {"type", "start", "end", "text", "score"}
            assert 0.0 < entity["score"] <= 1.0 + 1e-6
            # An entity is at most as likely as its least likely tag.
            assert (
                entity["score"]
                <= min(record["tag_probabilities"][entity["start"] : entity["end"]]) + 1e-6
            )
    spans = [[(e["type"], e["text"]) for e in r["entities"]] for r in records]
    assert spans == [
        [("PER", "john"), ("LOC", "paris")],
        [("ORG", "acme")],
        [("LOC", "new york"), ("LOC", "paris")],
    ]


def test_tagger_load_from_checkpoint_and_trainer_predict(crf_run):
    run = elmo_tasks.load_run(crf_run)
    alone = TaggingTask.load_from_checkpoint(_best(crf_run), map_location="cpu").eval()
    assert alone.labels == run.module.labels and alone.scheme == run.module.scheme
    tokens = [s.split() if isinstance(s, str) else s for s in SENTENCES]
    loader = DataLoader(tokens, batch_size=2, collate_fn=lambda rows: rows)
    records = [r for batch in _trainer().predict(alone, dataloaders=loader) for r in batch]
    expected = run.predict(SENTENCES)
    assert [r["tags"] for r in records] == [r["tags"] for r in expected]
    assert [e["score"] for r in records for e in r["entities"]] == pytest.approx(
        [e["score"] for r in expected for e in r["entities"]], abs=1e-6
    )


def test_frozen_elmo_tagger_load_from_checkpoint_reads_the_bilm_files(tmp_path):
    """The checkpoint leaves the frozen biLM out; load_from_checkpoint builds it from the files
    its hyperparameters name and checks their checksums."""
    run_dir = train_tagger(tmp_path, encoder=tiny_elmo(tmp_path / "elmo"), epochs=1)
    checkpoint = torch.load(_best(run_dir), weights_only=True)
    assert not any(key.startswith("encoder.elmo._elmo_lstm") for key in checkpoint["state_dict"])
    alone = TaggingTask.load_from_checkpoint(_best(run_dir), map_location="cpu").eval()
    run = elmo_tasks.load_run(run_dir)
    tokens = [["john", "was", "a", "paris"]]
    assert alone.predict(tokens) == run.module.predict(tokens)
    assert torch.equal(
        alone.encoder.elmo.bilm.bilm.char_encoder.w_proj,
        run.module.encoder.elmo.bilm.bilm.char_encoder.w_proj,
    )


def test_predict_command_writes_entity_scores_and_tag_probabilities(crf_run):
    import io

    from elmo_tasks.cli.predict import main

    out = io.StringIO()
    status = main(
        [f"run_dir={crf_run}", "input=-", "device=cpu"],
        stdin=io.StringIO("john was a paris\n"),
        stdout=out,
    )
    assert status == 0
    [record] = [json.loads(line) for line in out.getvalue().splitlines()]
    expected = elmo_tasks.load_run(crf_run).predict(["john was a paris"])[0]
    assert record["tags"] == expected["tags"]
    assert record["tag_probabilities"] == pytest.approx(expected["tag_probabilities"], abs=1e-6)
    assert [e["score"] for e in record["entities"]] == pytest.approx(
        [e["score"] for e in expected["entities"]], abs=1e-6
    )
    assert (
        main(
            [f"run_dir={crf_run}", "input=-", "device=tpu9"],
            stdin=io.StringIO("x\n"),
            stdout=io.StringIO(),
        )
        == 2
    )
    # --key=value, which predict never took, works like key=value (with a note to write that).
    out = io.StringIO()
    assert (
        main(
            [f"--run_dir={crf_run}", "--input", "-"],
            stdin=io.StringIO("john was a paris\n"),
            stdout=out,
        )
        == 0
    )
    assert json.loads(out.getvalue())["tags"] == expected["tags"]


def test_configs_given_as_omegaconf_nodes_are_saved_as_plain_containers(tmp_path):
    from omegaconf import OmegaConf

    task = ClassificationTask(
        OmegaConf.create(
            {"_target_": "elmo_tasks.encoders.WordEmbeddingEncoder", "_partial_": True, "dim": 4}
        ),
        OmegaConf.create({"_target_": "elmo_tasks.heads.MaxPoolingClassifier", "_partial_": True}),
        OmegaConf.create({"_target_": "torch.optim.Adam", "_partial_": True, "lr": 0.1}),
        labels=["a", "b"],
        vocabulary=["x", "y"],
    )
    assert type(task.hparams["encoder"]) is dict and task.hparams["optimizer"]["lr"] == 0.1
    path = tmp_path / "task.ckpt"
    torch.save(
        {
            "state_dict": task.state_dict(),
            "hyper_parameters": dict(task.hparams),
            "pytorch-lightning_version": pl.__version__,
        },
        path,
    )
    torch.load(path, weights_only=True)  # nothing but plain containers and tensors
    again = ClassificationTask.load_from_checkpoint(path, map_location="cpu")
    assert torch.equal(again.encoder.embedding.weight, task.encoder.embedding.weight)
    with pytest.raises(ValueError, match="a config needs a '_target_'"):
        ClassificationTask(
            {"dim": 4},
            {"_target_": "elmo_tasks.heads.MaxPoolingClassifier"},
            {"_target_": "torch.optim.Adam"},
            labels=["a"],
            vocabulary=["x"],
        )
