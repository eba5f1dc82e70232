"""The project's promises, one table row each: import paths and signatures, config groups and
keys, ``results.json`` fields, the files of run, export and biLM folders, the commands and their
exit statuses, and the old import paths of moved modules.

Scripts, notebooks and other tools are written against these; renaming or moving one fails here.
A row's comment says what the interface is. To change one: keep the old spelling working for at
least a release (a moved module leaves an alias, see ``elmo_tasks/core/moved.py``) and add a row.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
import warnings
from pathlib import Path

import h5py
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from elmo_tasks.core.extras import LAUNCHERS
from elmo_tasks.core.moved import MOVED
from elmo_tasks.core.paths import config_dir
from elmo_tasks.core.reporting import readable_errors
from elmo_tasks.runs.config import register_resolvers
from tests.compose import compose_config
from tests.tiny_runs import QUIET, write_classification, write_tagging

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REQUIRED = inspect.Parameter.empty

# --------------------------------------------------------------------------- import paths

# "module:attribute" -> {parameter: default (REQUIRED: no default)}; every parameter named here
# must exist with that default (others may follow, with defaults). A dotted attribute is a method.
SIGNATURES: dict[str, dict[str, object]] = {
    # the ELMo module, a successor of allennlp.modules.elmo, with its arguments
    "elmo_tasks.elmo:Elmo": {
        "options_file": REQUIRED,
        "weight_file": REQUIRED,
        "num_output_representations": REQUIRED,
        "dropout": 0.5,
        "requires_grad": False,
        "do_layer_norm": False,
        "keep_sentence_boundaries": False,
        "scalar_mix_parameters": None,
        "stateful": False,
        "vocab_to_cache": None,
    },
    "elmo_tasks.elmo:Elmo.forward": {"char_ids": REQUIRED, "word_ids": None},
    "elmo_tasks.elmo:Elmo.reset_states": {},  # stateful=True carries LSTM states until reset
    # the biLM alone: three layers of activations
    "elmo_tasks.elmo:ElmoBiLm": {
        "options_file": REQUIRED,
        "weight_file": REQUIRED,
        "requires_grad": False,
        "stateful": False,
        "vocab_to_cache": None,
    },
    "elmo_tasks.elmo:ElmoBiLm.forward": {"char_ids": REQUIRED, "word_ids": None},
    "elmo_tasks.elmo:ElmoBiLm.reset_states": {},
    "elmo_tasks.elmo:batch_to_ids": {"sentences": REQUIRED},  # character ids, (batch, len, 50)
    "elmo_tasks.elmo:load_options": {"path": REQUIRED},  # options.json
    # writes options.json + weights.hdf5 in the published layout
    "elmo_tasks.elmo:save_elmo": {
        "bilm": REQUIRED,
        "options_path": REQUIRED,
        "weight_path": REQUIRED,
    },
    # AllenNLP's scalar mix arguments
    "elmo_tasks.elmo:ScalarMix": {
        "mixture_size": REQUIRED,
        "do_layer_norm": False,
        "initial_scalar_parameters": None,
        "trainable": True,
    },
    # the max_tokens batching helper for long inputs
    "elmo_tasks.elmo:embed_sentences": {"module": REQUIRED, "sentences": REQUIRED},
    "elmo_tasks.elmo:batches_by_tokens": {"lengths": REQUIRED, "max_tokens": REQUIRED},
    # the package's public names (loaded on first use; see SAME_OBJECTS for the others)
    "elmo_tasks:load_run": {"run_dir": REQUIRED, "device": "cpu"},  # a run or an export folder
    "elmo_tasks:TrainedRun.predict": {"texts": REQUIRED},  # what load_run returns
    "elmo_tasks:TrainedRun.evaluate": {"path": REQUIRED},  # a labelled file -> a report dict
    "elmo_tasks:conll_scores": {"gold": REQUIRED, "pred": REQUIRED},
    # span scores as conlleval computes them: precision, recall, f1, per_type
    "elmo_tasks.metrics:conll_scores": {"gold": REQUIRED, "pred": REQUIRED},
    "elmo_tasks.tasks.metrics:conll_scores": {"gold": REQUIRED, "pred": REQUIRED},
    # a run folder as a shareable model folder (`elmo-tasks export`)
    "elmo_tasks.runs.model_folder:export_run": {
        "run_dir": REQUIRED,
        "out": REQUIRED,
        "checkpoint": None,
    },
    # an experiment from Python: compose the config, then run it (returns the main metric)
    "elmo_tasks.runs.config:compose_config": {"output_dir": REQUIRED, "overrides": ()},
    "elmo_tasks.runs.experiment:run": {"cfg": REQUIRED},
    # a pretraining checkpoint exported on demand (`elmo-tasks pretrain-export`)
    "elmo_tasks.pretraining.export:export_checkpoint": {
        "checkpoint": REQUIRED,
        "export_dir": REQUIRED,
    },
    # what a component brings: its own config check, its part of the loss, its pooling
    "elmo_tasks.encoders:TokenEncoder.check_config": {"config": REQUIRED, "key": "encoder"},
    "elmo_tasks.encoders:TokenEncoder.regularization_loss": {},
    "elmo_tasks.heads:PoolingClassifier.pool": {"x": REQUIRED, "mask": REQUIRED},
    # heads are built with the encoder's width, the label count and the passthrough width
    "elmo_tasks.heads:PoolingClassifier": {
        "input_dim": REQUIRED,
        "num_classes": REQUIRED,
        "passthrough_dim": 0,
    },
    # the task modules rebuild themselves from a checkpoint and predict through Lightning
    "elmo_tasks.tasks:ClassificationTask.load_from_checkpoint": {"checkpoint_path": REQUIRED},
    "elmo_tasks.tasks:TaggingTask.load_from_checkpoint": {"checkpoint_path": REQUIRED},
    "elmo_tasks.tasks:ClassificationTask.predict_step": {"batch": REQUIRED},
    "elmo_tasks.tasks:TaggingTask.predict_step": {"batch": REQUIRED},
}


def resolve(path: str):
    module, _, attribute = path.partition(":")
    value = importlib.import_module(module)
    for part in attribute.split("."):
        value = getattr(value, part)
    return value


@pytest.mark.filterwarnings("ignore:elmo_tasks.metrics moved:DeprecationWarning")
@pytest.mark.parametrize("path", sorted(SIGNATURES))
def test_the_promised_names_import_with_their_parameters(path):
    parameters = inspect.signature(resolve(path)).parameters
    for name, default in SIGNATURES[path].items():
        assert name in parameters, f"{path} lost its parameter {name!r}: {list(parameters)}"
        assert parameters[name].default == default, (
            f"{path}({name}=...): default {parameters[name].default!r}, promised {default!r}"
        )
    # a new parameter needs a default, or every existing call breaks
    new_required = [
        name
        for name, p in parameters.items()
        if name not in SIGNATURES[path] and name not in ("self", "cls") and p.default is REQUIRED
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    assert not new_required, f"{path} has new required parameters: {new_required}"


# the package's public names are the very objects of the modules that define them
SAME_OBJECTS = [
    ("elmo_tasks:Elmo", "elmo_tasks.elmo:Elmo"),
    ("elmo_tasks:ElmoBiLm", "elmo_tasks.elmo:ElmoBiLm"),
    ("elmo_tasks:ScalarMix", "elmo_tasks.elmo:ScalarMix"),
    ("elmo_tasks:batch_to_ids", "elmo_tasks.elmo:batch_to_ids"),
    ("elmo_tasks:load_run", "elmo_tasks.runs.trained:load_run"),
    ("elmo_tasks:conll_scores", "elmo_tasks.tasks.metrics:conll_scores"),
    ("elmo_tasks.metrics:conll_scores", "elmo_tasks.tasks.metrics:conll_scores"),
]


@pytest.mark.parametrize(("public", "defined"), SAME_OBJECTS)
def test_public_names_are_the_defining_modules_objects(public, defined):
    assert resolve(public) is resolve(defined)


def test_conll_scores_returns_the_promised_fields():
    from elmo_tasks import conll_scores

    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["O", "B-ORG"]]
    scores = conll_scores(gold, pred)
    assert scores["precision"] == scores["recall"] == scores["f1"] == pytest.approx(2 / 3)
    assert set(scores["per_type"]) == {"PER", "LOC", "ORG"}
    for values in scores["per_type"].values():
        assert set(values) >= {"precision", "recall", "f1", "support"}
        assert all(0.0 <= values[key] <= 1.0 for key in ("precision", "recall", "f1"))


# --------------------------------------------------------------------------- old import paths


@pytest.mark.parametrize("old", sorted(MOVED))
def test_a_moved_module_keeps_its_old_path_with_a_warning(old):
    saved = sys.modules.pop(old, None)
    try:
        with pytest.warns(DeprecationWarning, match=f"{old} moved to {MOVED[old][0]}"):
            alias = importlib.import_module(old)
    finally:
        if saved is not None:
            sys.modules[old] = saved
    names = {
        name
        for target in MOVED[old]
        for name in vars(importlib.import_module(target))
        if not name.startswith("_")
    }
    assert names
    for name in names:
        assert getattr(alias, name) is resolve(
            next(f"{t}:{name}" for t in MOVED[old] if hasattr(importlib.import_module(t), name))
        ), f"{old}.{name}"
    assert names <= set(dir(alias))
    with pytest.raises(AttributeError, match="moved to"):
        alias.no_such_name  # noqa: B018


def test_the_old_metrics_path_answers_an_old_import_statement():
    sys.modules.pop("elmo_tasks.metrics", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from elmo_tasks.metrics import conll_scores
    assert conll_scores is resolve("elmo_tasks.tasks.metrics:conll_scores")
    [warning] = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert "elmo_tasks.tasks.metrics" in str(warning.message)
    assert warning.filename == __file__  # points at the import statement, not at the alias


# --------------------------------------------------------------------------- config groups

# group -> the options promised in it (others may exist)
GROUPS: dict[str, set[str]] = {
    # data sets and the generic readers
    "task": {
        "sst2",
        "tweet_sentiment",
        "tweeteval_sentiment",
        "sst5",
        "sst3",
        "text_classification",
        "conll2003",
        "token_classification",
    },
    "encoder": {"elmo", "elmo_char", "word_embedding", "concat"},
    "head": {"max", "mean", "attention", "first_last", "max_mean", "tagger_softmax", "tagger_crf"},
    "trainer": {"cpu", "gpu", "ddp", "debug"},
    "logger": {"csv", "tensorboard", "mlflow", "wandb"},
    "optim": {"adam", "adamw"},
    "callbacks": {"default"},
    # ready presets: ELMo alone, the baseline, the baseline + ELMo (the paper's comparison)
    "experiment": {
        f"{task}_{kind}"
        for task in ("sst2", "tweet", "sst5", "sst3", "conll2003")
        for kind in ("elmo", "baseline", "baseline_elmo")
    }
    | {"quickstart", "none"},
    # Optuna sweeps, one per task
    "hparams_search": {
        "sst2_optuna",
        "sst2_mini_optuna",
        "tweet_optuna",
        "sst5_optuna",
        "conll2003_optuna",
    },
    # local parallel sweeps and the same sweep on SLURM
    "hydra/launcher": {"joblib", "submitit_slurm", "slurm"},
    # the quickstart's three models: baseline, baseline + ELMo, ELMo alone
    "experiment/quickstart": {"baseline", "baseline_elmo", "elmo"},
}
PRETRAIN_GROUPS = {"model": {"tiny", "mini", "small", "original"}}  # pretraining size presets


def group_options(group: str) -> set[str]:
    """The options Hydra offers in ``group`` of the shipped configs (and the installed plugins)."""
    register_resolvers(PROJECT_ROOT)
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        from hydra.core.global_hydra import GlobalHydra

        return set(GlobalHydra.instance().config_loader().get_group_options(group))


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_config_groups_offer_the_promised_options(group):
    offered = group_options(group)
    promised = GROUPS[group]
    if group == "hydra/launcher":  # the plugins' own options come with their extras
        promised = {o for o in promised if o not in LAUNCHERS or LAUNCHERS[o].installed()}
    assert promised <= offered, f"{group}: missing {sorted(promised - offered)}"


def test_pretraining_groups_offer_the_promised_options():
    offered = group_options("pretrain/model")
    assert PRETRAIN_GROUPS["model"] <= offered


# --------------------------------------------------------------------------- config keys

# (overrides to compose, keys that must be in the composed config)
TRAIN_KEYS: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    # every run: its seed, thread count, resume point, epochs, checksum checks, test pass
    (
        ("experiment=none",),
        ("seed", "threads", "ckpt_path", "verify_checksums", "test", "trainer.max_epochs"),
    ),
    # any table file: columns, splits, its text encoding, the hub revision
    (
        ("experiment=none", "task=text_classification"),
        (
            "task.train_file",
            "task.validation_file",
            "task.test_file",
            "task.text_column",
            "task.label_column",
            "task.encoding",
            "task.hub_revision",
        ),
    ),
    # any CoNLL-style file; the hub's tokens/tags columns and revision
    (
        ("experiment=none", "task=token_classification"),
        (
            "task.train_file",
            "task.validation_file",
            "task.test_file",
            "task.token_column",
            "task.tag_column",
            "task.scheme",
            "task.tokens_column",
            "task.tags_column",
            "task.hub_revision",
        ),
    ),
    # ELMo as an encoder: files (path, URL or preset), mix, frozen or fine-tuned, cache
    (
        ("experiment=none", "encoder=elmo"),
        (
            "encoder.options_file",
            "encoder.weight_file",
            "encoder.dropout",
            "encoder.requires_grad",
            "encoder.do_layer_norm",
            "encoder.cache_dir",
        ),
    ),
    # the baseline + ELMo: ELMo beside the word embeddings, optionally after the BiLSTM too
    (("experiment=sst2_baseline_elmo",), ("encoder.encoders.elmo.at_output",)),
    # pooling heads take a contextualizer; optimisers their parameter groups
    (("experiment=none",), ("head.contextualizer", "head.dropout", "optim.param_groups")),
    # the callbacks: best checkpoint, last checkpoint, early stopping, progress bar, LR monitor
    (
        ("experiment=none",),
        (
            "callbacks.model_checkpoint",
            "callbacks.last_checkpoint",
            "callbacks.early_stopping",
            "callbacks.rich_progress_bar",
            "callbacks.learning_rate_monitor",
        ),
    ),
]


def has_key(cfg, dotted: str) -> bool:
    """``dotted`` is a key of ``cfg`` (its value may be ``???``: required, not yet given)."""
    parent, _, last = dotted.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    return OmegaConf.is_dict(node) and last in node.keys()


@pytest.mark.parametrize(("overrides", "keys"), TRAIN_KEYS, ids=lambda v: ",".join(v)[:60])
def test_train_config_keys(tmp_path, overrides, keys):
    cfg = compose_config(tmp_path, list(overrides))
    missing = [key for key in keys if not has_key(cfg, key)]
    assert not missing, f"{overrides}: keys gone: {missing}"


@pytest.mark.parametrize("task", sorted(GROUPS["task"]))
def test_every_task_takes_the_sample_limits(tmp_path, task):
    cfg = compose_config(tmp_path, ["experiment=none", f"task={task}"])
    assert "max_train_samples" in cfg.task and "max_eval_samples" in cfg.task


def test_token_classification_defaults(tmp_path):
    cfg = compose_config(tmp_path, ["experiment=none", "task=token_classification"])
    assert cfg.task.token_column == 0 and cfg.task.tag_column == -1  # first column, last column


def _with_hydra_node(overrides: list[str], config_name: str = "config"):
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose(config_name, overrides=overrides, return_hydra_config=True)


def test_hydra_output_folders_and_sweeper_keys(tmp_path):
    register_resolvers(PROJECT_ROOT)
    cfg = _with_hydra_node([f"paths.log_dir={tmp_path}", "hparams_search=sst2_optuna"])
    assert cfg.hydra.run.dir and cfg.hydra.sweep.dir  # where outputs go
    # an Optuna study: trials, storage (to resume), name, direction, sampler, search space
    for key in ("n_trials", "storage", "study_name", "direction", "sampler", "pruner", "params"):
        assert key in cfg.hydra.sweeper, key


def test_pretraining_config_keys(tmp_path):
    register_resolvers(PROJECT_ROOT)
    cfg = _with_hydra_node(["model=tiny", f"paths.output_dir={tmp_path}"], "pretrain")
    # the corpus (a path, a glob or a list), steps, export folder, the word2vec baseline's file
    for key in (
        "data.train_files",
        "data.validation_files",
        "data.test_files",
        "trainer.max_steps",
        "export_dir",
        "word2vec.output_file",
    ):
        assert has_key(cfg, key), key


# --------------------------------------------------------------------------- run folders

# results.json of every run
RESULTS_FIELDS = {
    "status",  # "completed" ("diverged" runs write status, diverged and empty metrics)
    "task",
    "encoder",
    "head",
    "seed",
    "val",
    "test",
    "main_metric",
    "params",
    "wall_time_s",
    "train_tokens_per_s",
    "config_overrides",
    "threads",
    "threads_adaptive",
}
CLASSIFICATION_METRICS = {"accuracy", "macro_f1", "macro_recall"}  # plus f1_<label>
TAGGING_METRICS = {"f1", "precision", "recall", "token_accuracy"}
# a run folder: the resolved config, the best and last checkpoints with their SHA-256,
# metrics.csv (the csv logger, the default), results.json
RUN_FILES = [
    "config_resolved.yaml",
    "checkpoints/best.ckpt",
    "checkpoints/best.ckpt.sha256",
    "checkpoints/last.ckpt",
    "checkpoints/last.ckpt.sha256",
    "metrics.csv",
    "results.json",
]
TAGGING_RUN_FILES = ["predictions_test.conll"]  # token, gold, predicted: conlleval reads it
# an exported model folder: safetensors weights, config, vocabulary and labels, model card
EXPORT_FILES = ["model.safetensors", "config.yaml", "data_state.json", "README.md", "results.json"]


def _tiny_run(root: Path, task: str, files: dict[str, Path], *extra: str) -> tuple[Path, float]:
    from elmo_tasks.runs.experiment import run

    run_dir = root / "run"
    overrides = [
        "experiment=none",
        f"task={task}",
        f"task.train_file={files['train']}",
        f"task.validation_file={files['dev']}",
        f"task.test_file={files['dev']}",
        "encoder=word_embedding",
        "encoder.dim=8",
        "trainer.max_epochs=1",
        *[q for q in QUIET if not q.startswith("logger=")],  # the default csv logger stays
        *extra,
    ]
    return run_dir, run(compose_config(run_dir, overrides))


@pytest.fixture(scope="module")
def classification_run(tmp_path_factory) -> tuple[Path, float]:
    root = tmp_path_factory.mktemp("classification")
    return _tiny_run(root, "text_classification", write_classification(root / "data", 40))


@pytest.fixture(scope="module")
def tagging_run(tmp_path_factory) -> tuple[Path, float]:
    root = tmp_path_factory.mktemp("tagging")
    files = write_tagging(root / "data", 40)
    return _tiny_run(root, "token_classification", files, "head=tagger_crf")


def test_classification_run_folder(classification_run):
    run_dir, returned = classification_run
    assert [name for name in RUN_FILES if not (run_dir / name).is_file()] == []
    results = json.loads((run_dir / "results.json").read_text())
    assert RESULTS_FIELDS <= set(results), RESULTS_FIELDS - set(results)
    assert set(results["params"]) >= {"trainable", "total"}
    for split in ("val", "test"):
        metrics = results[split]
        assert CLASSIFICATION_METRICS | {"f1_neg", "f1_pos"} <= set(metrics), metrics
        assert all(0.0 <= value <= 1.0 for value in metrics.values())
    # the command returns the main validation metric, so sweepers can optimise it
    assert results["main_metric"] == "accuracy"
    assert returned == pytest.approx(results["val"]["accuracy"])


def test_tagging_run_folder(tagging_run):
    run_dir, _ = tagging_run
    missing = [name for name in RUN_FILES + TAGGING_RUN_FILES if not (run_dir / name).is_file()]
    assert missing == []
    results = json.loads((run_dir / "results.json").read_text())
    assert RESULTS_FIELDS <= set(results) and results["main_metric"] == "f1"
    assert TAGGING_METRICS <= set(results["test"]), results["test"]
    lines = [line for line in (run_dir / "predictions_test.conll").read_text().splitlines() if line]
    assert all(len(line.split()) == 3 for line in lines)


def test_export_folder_loads(classification_run, tmp_path):
    from elmo_tasks import load_run
    from elmo_tasks.runs.model_folder import export_run

    out = export_run(classification_run[0], tmp_path / "model")
    assert [name for name in EXPORT_FILES if not (out / name).is_file()] == []
    run = load_run(out)
    [prediction] = run.predict(["a good film"])
    assert set(prediction) >= {"label", "probabilities"} and run.module is not None


# the published hdf5 layout of save_elmo (TensorFlow names, one LSTM cell per layer)
HDF5_DATASETS = [
    "char_embed",
    "CNN/W_cnn_0",
    "CNN/b_cnn_0",
    "CNN_high_0/W_transform",
    "CNN_high_0/W_carry",
    "CNN_high_0/b_transform",
    "CNN_high_0/b_carry",
    "CNN_proj/W_proj",
    "CNN_proj/b_proj",
    *[
        f"RNN_{d}/RNN/MultiRNNCell/Cell{layer}/LSTMCell/{name}"
        for d in (0, 1)
        for layer in (0, 1)
        for name in ("W_0", "B", "W_P_0")
    ],
]


def test_saved_elmo_files_have_the_published_layout(tiny_elmo_files, tmp_path):
    from elmo_tasks.elmo import ElmoBiLm, batch_to_ids, save_elmo

    bilm = ElmoBiLm(tiny_elmo_files.options_file, tiny_elmo_files.weight_file)
    save_elmo(bilm, tmp_path / "options.json", tmp_path / "weights.hdf5")
    with h5py.File(tmp_path / "weights.hdf5", "r") as weights:
        assert [name for name in HDF5_DATASETS if name not in weights] == []
    options = json.loads((tmp_path / "options.json").read_text())
    assert {"lstm", "char_cnn"} <= set(options)
    out = bilm(batch_to_ids([["a", "b", "c"], ["d"]]))
    assert set(out) == {"activations", "mask"} and len(out["activations"]) == 3
    assert out["activations"][0].shape[:2] == (2, 5) and out["mask"].shape == (2, 5)  # + <S> </S>


def test_elmo_returns_the_promised_outputs(tiny_elmo_files):
    from elmo_tasks.elmo import Elmo, batch_to_ids

    elmo = Elmo(tiny_elmo_files.options_file, tiny_elmo_files.weight_file, 2, dropout=0.0)
    out = elmo(batch_to_ids([["a", "b", "c"], ["d"]]))
    assert set(out) == {"elmo_representations", "mask"} and len(out["elmo_representations"]) == 2
    width = 2 * tiny_elmo_files.options.projection_dim
    assert out["elmo_representations"][0].shape == (2, 3, width) and out["mask"].shape == (2, 3)


def test_the_packaged_mini_bilm_folder():
    from elmo_tasks.elmo.hub import PACKAGED

    folder = PROJECT_ROOT / "elmo_tasks" / "resources" / "elmo_mini"
    assert PACKAGED["mini"].resolve() == folder.resolve()  # the `mini` preset
    # its files, how it was made, and its perplexity beside them
    for name in ("options.json", "weights.hdf5", "README.md", "pretrain_info.json"):
        assert (folder / name).is_file(), name


def test_published_presets_name_the_allennlp_files():
    from elmo_tasks.elmo.hub import ELMO_BASE_URL, PRESETS

    assert ELMO_BASE_URL == "https://allennlp.s3.amazonaws.com/models/elmo"
    folders = {name: preset.directory for name, preset in PRESETS.items()}
    assert folders == {
        "small": "2x1024_128_2048cnn_1xhighway",
        "medium": "2x2048_256_2048cnn_1xhighway",
        "original": "2x4096_512_2048cnn_2xhighway",
        "original_5.5B": "2x4096_512_2048cnn_2xhighway_5.5B",
    }


# --------------------------------------------------------------------------- commands

# `elmo-tasks COMMAND` (also `python -m elmo_tasks.<module>`): the key=value arguments it takes
COMMAND_ARGUMENTS: dict[str, set[str]] = {
    "predict": {
        "run_dir",
        "input",
        "output",
        "format",
        "device",
        "checkpoint",
        "encoding",
        "max_tokens",
    },
    "evaluate": {
        "run_dir",
        "input",
        "output",
        "plot",
        "max_samples",
        "device",
        "checkpoint",
        "max_tokens",
    },
    "export": {"run_dir", "out", "checkpoint", "overwrite"},
    "compare": {"paths", "out"},
    "embed": {"options", "weights", "input", "output", "layers", "dtype", "max_tokens"},
    "pretrain-export": {"checkpoint", "export_dir"},
    "task-corpus": {"tasks", "output"},
}
HYDRA_COMMANDS = {"train", "pretrain", "pretrain-word2vec"}
PYTHON_M = ["predict", "evaluate", "compare", "embed", "pretrain"]  # python -m elmo_tasks.<module>


def test_the_console_script_and_its_commands():
    from importlib.metadata import entry_points

    [script] = entry_points(group="console_scripts", name="elmo-tasks")
    assert script.value == "elmo_tasks.cli:main"
    from elmo_tasks.cli import COMMANDS, HYDRA_APPS

    assert set(COMMAND_ARGUMENTS) | HYDRA_COMMANDS <= set(COMMANDS)
    assert set(HYDRA_APPS) == HYDRA_COMMANDS
    for command, arguments in COMMAND_ARGUMENTS.items():
        parser = importlib.import_module(COMMANDS[command][0]).PARSER
        assert arguments <= set(parser.by_name), f"{command}: {arguments - set(parser.by_name)}"
    for module in PYTHON_M:
        assert "__main__" in (PROJECT_ROOT / "elmo_tasks" / f"{module}.py").read_text()
    assert (PROJECT_ROOT / "train.py").is_file()


def test_command_choices():
    from elmo_tasks.cli.embed import PARSER as EMBED
    from elmo_tasks.cli.predict import PARSER as PREDICT

    assert set(PREDICT.by_name["format"].choices) >= {"jsonl", "conll"}
    assert set(EMBED.by_name["layers"].choices) >= {"all", "top", "average"}
    assert set(EMBED.by_name["dtype"].choices) >= {"float32", "float16"}


def _exit_status(argv: list[str], monkeypatch) -> int:
    """``elmo-tasks ARGV`` in this process: its exit status."""
    from elmo_tasks.cli import main

    monkeypatch.setattr(sys, "argv", ["elmo-tasks"])
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    return stopped.value.code


# (arguments, exit status): usage and config mistakes 2, anything else the user can fix 1
EXIT_STATUSES: list[tuple[list[str], int]] = [
    (["--help"], 0),
    ([], 2),  # no command
    (["trian"], 2),  # an unknown command, with the nearest one
    (["train", "trainer.max_epoch=1"], 2),  # a misspelt key
    (["train", "task=sst9"], 2),  # an unknown group option
    (["pretrain", "modle=tiny"], 2),
    (["predict", "run_dir=somewhere"], 2),  # a required argument missing
    (["predict", "run_dir=x", "input=y", "colour=red"], 2),  # an unknown argument
    (["evaluate", "run_dir=x", "inptu=y"], 2),  # a misspelt argument, with the nearest one
    (["compare", "paths={empty}"], 2),  # a folder with no runs
    (["export", "run_dir={empty}", "out={tmp}/model"], 1),  # not a run folder
    (["embed", "options=mini"], 2),
]


@pytest.mark.parametrize(
    ("argv", "status"),
    EXIT_STATUSES,
    ids=lambda v: " ".join(v) or "-" if isinstance(v, list) else "",
)
def test_command_exit_statuses(argv, status, tmp_path, monkeypatch, capsys):
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path)
    argv = [a.format(empty=tmp_path / "empty", tmp=tmp_path) for a in argv]
    assert _exit_status(argv, monkeypatch) == status
    assert "Traceback" not in capsys.readouterr().err


# a run stopped by the user's data or values: what `elmo-tasks train` exits with
RUN_EXIT_STATUSES = [
    (("task.train_file={tmp}/missing.csv",), 1),  # missing data: the path and the fix
    (("task.train_file={tmp}/train.csv", "optim.optimizer.lr=-1"), 2),  # a value out of range
    (("task.train_file={tmp}/train.csv", "optim.optimizer.lr=1e38"), 3),  # training diverged
]


@pytest.mark.parametrize(("overrides", "status"), RUN_EXIT_STATUSES)
def test_run_exit_statuses(overrides, status, tmp_path, capsys):
    from elmo_tasks.runs.experiment import run

    write_classification(tmp_path, 8)
    cfg = compose_config(
        tmp_path / "run",
        ["experiment=none", "task=text_classification", *QUIET]
        + [o.format(tmp=tmp_path) for o in overrides],
    )
    with pytest.raises(SystemExit) as stopped, readable_errors():  # as the train command does
        run(cfg)
    assert stopped.value.code == status
    assert ("\n" + capsys.readouterr().err).count("\nerror: ") == 1  # after data progress bars


def test_pretraining_export_folder(tmp_path):
    from elmo_tasks.elmo import ElmoBiLm
    from elmo_tasks.pretraining.export import export_pretrained
    from elmo_tasks.pretraining.language_model import BiLmPretrainer
    from tests.conftest import tiny_options

    vocabulary = ["<S>", "</S>", "<UNK>", "cat"]
    module = BiLmPretrainer(tiny_options().to_dict(), vocabulary, softmax="full")
    folder = export_pretrained(module, tmp_path / "export")
    # the published pair with their SHA-256, the output vocabulary, how it was made
    names = ["options.json", "weights.hdf5", "vocab.txt", "pretrain_info.json"]
    for name in [*names, "options.json.sha256", "weights.hdf5.sha256"]:
        assert (folder / name).is_file(), name
    ElmoBiLm(folder / "options.json", folder / "weights.hdf5")  # loads as ELMo
    assert json.loads((folder / "options.json").read_text())["char_cnn"]["n_characters"] == 262


def test_embed_file_layout(tiny_elmo_files, tmp_path):
    from elmo_tasks.cli.embed import main

    (tmp_path / "in.txt").write_text("a b c\nd\na b c\n")
    out = tmp_path / "out.h5"
    options, weights = tiny_elmo_files.options_file, tiny_elmo_files.weight_file
    argv = [f"options={options}", f"weights={weights}", f"input={tmp_path / 'in.txt'}"]
    assert main([*argv, f"output={out}"]) == 0
    assert (tmp_path / "out.h5.sha256").is_file()
    with h5py.File(out, "r") as handle:
        # one dataset per distinct sentence, by its id; the id of line k at row k; a manifest
        ids = [i.decode() if isinstance(i, bytes) else i for i in handle["sentence_ids"][...]]
        assert len(ids) == 3 and ids[0] == ids[2] != ids[1]
        assert handle[ids[0]].shape == (3, 5, 2 * tiny_elmo_files.options.projection_dim)
        assert {"options_sha256", "weights_sha256"} <= set(handle.attrs)


def test_compare_writes_its_report(classification_run, tmp_path, capsys):
    from elmo_tasks.cli.compare import main

    assert main([f"paths={classification_run[0].parent}", f"out={tmp_path}"]) == 0
    assert (tmp_path / "comparison.md").is_file() and (tmp_path / "comparison.png").is_file()


# the documentation pages: configuration reference, the ELMo and Python APIs, data formats,
# pretraining, benchmarks, results, reliability, architecture
DOCS = ["configuration", "elmo", "api", "data", "pretraining", "benchmarks", "results"]
DOCS += ["reliability", "architecture", "predict", "evaluate", "sweeps", "distributed"]


def test_documentation_pages_exist():
    missing = [page for page in DOCS if not (PROJECT_ROOT / "docs" / f"{page}.md").is_file()]
    assert missing == []


def test_optional_extras_are_declared():
    from importlib.metadata import metadata

    extras = set(metadata("elmo-tasks").get_all("Provides-Extra") or [])
    assert {"dev", "wandb", "mlflow"} <= extras  # the test tools and the two loggers


def test_hydra_full_error_keeps_the_traceback(tmp_path, monkeypatch):
    from elmo_tasks.runs.experiment import run

    cfg = compose_config(
        tmp_path / "run",
        ["experiment=none", "task=text_classification", f"task.train_file={tmp_path}/no.csv"],
    )
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(FileNotFoundError), readable_errors():  # raised, not turned into an exit
        run(cfg)
