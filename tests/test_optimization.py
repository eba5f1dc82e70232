"""What a preset's trainable part is trained with: parameter groups, warm-up schedules, the
scalar-mix L2, ELMo at the output and the pooled-vector standardiser."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from elmo_tasks.encoders import ConcatEncoder, ElmoEncoder, WordEmbeddingEncoder
from elmo_tasks.heads import CrfTagger, MaxPoolingClassifier
from elmo_tasks.heads.pooling import RunningStandardizer
from elmo_tasks.tasks import ClassificationTask
from elmo_tasks.tasks.optimization import (
    build_optimizer,
    parameter_groups,
    warmup_constant,
    warmup_linear,
)

SENTENCES = [["a", "good", "film"], ["bad"], ["not", "good", "at", "all", "."]]


def _task(
    fixture_options_file, fixture_weight_file, requires_grad: bool, **optim
) -> ClassificationTask:
    encoder = ConcatEncoder(
        {
            "words": partial(WordEmbeddingEncoder, dim=4),
            "elmo": partial(
                ElmoEncoder,
                str(fixture_options_file),
                str(fixture_weight_file),
                requires_grad=requires_grad,
            ),
        },
        vocabulary=["good"],
    )
    return ClassificationTask(
        encoder,
        partial(MaxPoolingClassifier, contextualizer="bilstm", contextualizer_dim=3),
        partial(torch.optim.Adam, lr=1e-3),
        labels=["neg", "pos"],
        **optim,
    )


def test_parameter_groups_split_bilm_scalar_mix_and_the_rest(
    fixture_options_file, fixture_weight_file
) -> None:
    task = _task(fixture_options_file, fixture_weight_file, requires_grad=True)
    groups = {
        g["name"]: g
        for g in parameter_groups(
            task, {"bilm": {"lr": 1e-5}, "scalar_mix": {"lr": None, "weight_decay": 0.0}}
        )
    }
    assert set(groups) == {"default", "bilm", "scalar_mix"}
    bilm = task.encoder.encoders[1].elmo.bilm
    assert {id(p) for p in groups["bilm"]["params"]} == {id(p) for p in bilm.parameters()}
    mix = task.encoder.encoders[1].elmo.scalar_mixes[0]
    assert {id(p) for p in groups["scalar_mix"]["params"]} == {
        id(mix.scalar_parameters),
        id(mix.gamma),
    }
    assert (
        groups["bilm"]["lr"] == 1e-5
        and "lr" not in groups["scalar_mix"]
        and groups["scalar_mix"]["weight_decay"] == 0.0
    )
    every = [id(p) for g in groups.values() for p in g["params"]]
    assert sorted(every) == sorted(
        id(p) for p in task.parameters() if p.requires_grad
    )  # each once, none left out
    optimizer = build_optimizer(
        task, partial(torch.optim.Adam, lr=1e-3), None, {"bilm": {"lr": 1e-5}}, lambda: 10
    )
    assert sorted(g["lr"] for g in optimizer.param_groups) == [1e-5, 1e-3, 1e-3]


def test_a_frozen_bilm_has_no_group_and_unknown_groups_are_refused(
    fixture_options_file, fixture_weight_file
) -> None:
    task = _task(fixture_options_file, fixture_weight_file, requires_grad=False)
    assert {g["name"] for g in parameter_groups(task, {"bilm": {"lr": 1e-5}})} == {
        "default",
        "scalar_mix",
    }
    with pytest.raises(
        ValueError, match=r"unknown group\(s\) \['head'\]; the groups are \['bilm', 'scalar_mix'\]"
    ):
        parameter_groups(task, {"head": {"lr": 1.0}})


def test_warmup_schedules_by_hand() -> None:
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=1.0)
    schedule = warmup_linear(optimizer, total_steps=10, warmup_steps=4, final_factor=0.0)
    rates = []
    for _ in range(10):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    # warm-up (step + 1) / 5 over 4 steps, then 1 - (step - 4) / 6 down to the last step
    assert rates == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6])
    optimizer = torch.optim.SGD([parameter], lr=2.0)
    schedule = warmup_constant(optimizer, total_steps=100, warmup_steps=0.03)  # a fraction: 3 steps
    rates = []
    for _ in range(6):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert rates == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.0, 2.0])


def test_a_per_step_schedule_gets_the_run_length(fixture_options_file, fixture_weight_file) -> None:
    task = _task(fixture_options_file, fixture_weight_file, requires_grad=False)
    config = build_optimizer(
        task,
        partial(torch.optim.Adam, lr=1e-3),
        partial(warmup_constant, warmup_steps=0.5),
        None,
        lambda: 8,
    )
    assert config["lr_scheduler"]["interval"] == "step"
    assert config["optimizer"].param_groups[0]["lr"] == pytest.approx(
        1e-3 / 5
    )  # step 0 of a 4-step warm-up
    with pytest.raises(ValueError, match="set trainer.max_epochs or trainer.max_steps"):
        build_optimizer(
            task,
            partial(torch.optim.Adam, lr=1e-3),
            partial(warmup_constant),
            None,
            lambda: float("inf"),
        )
    epochwise = build_optimizer(
        task,
        partial(torch.optim.Adam, lr=1e-3),
        partial(torch.optim.lr_scheduler.StepLR, step_size=1),
        None,
        lambda: 8,
    )
    assert epochwise["lr_scheduler"]["interval"] == "epoch"


def test_scalar_mix_l2_is_the_papers_penalty_and_joins_the_training_loss(
    fixture_options_file, fixture_weight_file
) -> None:
    encoder = ElmoEncoder(
        str(fixture_options_file), str(fixture_weight_file), dropout=0.0, scalar_mix_l2=0.001
    )
    with torch.no_grad():
        encoder.elmo.scalar_mixes[0].scalar_parameters.copy_(torch.tensor([1.0, -2.0, 3.0]))
    assert encoder.regularization_loss().item() == pytest.approx(0.001 * (1 + 4 + 9))
    assert (
        ElmoEncoder(
            str(fixture_options_file), str(fixture_weight_file), scalar_mix_l2=0.0
        ).regularization_loss()
        is None
    )
    with pytest.raises(ValueError, match="scalar_mix_l2 must be >= 0"):
        ElmoEncoder(str(fixture_options_file), str(fixture_weight_file), scalar_mix_l2=-1.0)
    task = ClassificationTask(
        encoder, partial(MaxPoolingClassifier), partial(torch.optim.Adam), labels=["neg", "pos"]
    )
    task.log = lambda *args, **kwargs: None
    batch = {"tokens": SENTENCES, "label": torch.tensor([1, 0, 0])}
    torch.manual_seed(0)
    plain = task._step(batch, "train")
    torch.manual_seed(0)
    assert task.training_step(batch, 0).item() == pytest.approx(plain.item() + 0.014, abs=1e-6)


def test_elmo_at_the_output_skips_the_contextualizer(
    fixture_options_file, fixture_weight_file
) -> None:
    words = partial(WordEmbeddingEncoder, dim=4)
    elmo = partial(
        ElmoEncoder,
        str(fixture_options_file),
        str(fixture_weight_file),
        dropout=0.0,
        at_output=True,
    )
    encoder = ConcatEncoder({"elmo": elmo, "words": words}, vocabulary=["good"])
    assert (encoder.output_dim, encoder.passthrough_dim) == (32 + 4 + 32, 32)
    vectors, mask = encoder(SENTENCES)
    own, _ = encoder.encoders[0](SENTENCES)  # [input mix ; output mix]
    assert vectors.shape == (3, 5, 68)
    assert torch.equal(vectors[..., :32], own[..., :32]) and torch.equal(
        vectors[..., 36:], own[..., 32:]
    )
    with torch.no_grad():  # two mixes with their own weights
        encoder.encoders[0].elmo.scalar_mixes[1].scalar_parameters.copy_(
            torch.tensor([5.0, 0.0, 0.0])
        )
    assert not torch.allclose(encoder(SENTENCES)[0][..., 36:], vectors[..., 36:])

    head = MaxPoolingClassifier(
        input_dim=68,
        num_classes=2,
        contextualizer="bilstm",
        contextualizer_dim=3,
        passthrough_dim=32,
    )
    assert head.contextualizer.lstm.input_size == 36 and head.classifier[-1].in_features == 6 + 32
    assert head(vectors, mask).shape == (3, 2)
    tagger = CrfTagger(
        input_dim=68, num_tags=3, contextualizer="bilstm", contextualizer_dim=3, passthrough_dim=32
    )
    assert tagger.projection.in_features == 6 + 32 and tagger(vectors, mask).shape == (3, 5, 3)
    task = ClassificationTask(
        encoder,
        partial(MaxPoolingClassifier, contextualizer="bilstm"),
        partial(torch.optim.Adam),
        labels=["neg", "pos"],
    )
    assert task.head.main_dim == 36


def test_the_standardiser_uses_running_statistics_in_training_and_evaluation() -> None:
    torch.manual_seed(0)
    norm = RunningStandardizer(3)
    data = torch.randn(4000, 3) * torch.tensor([10.0, 1.0, 0.1]) + torch.tensor([5.0, -1.0, 100.0])
    for batch in data.split(40):
        out = norm(batch)
    assert norm.running_mean == pytest.approx(data.mean(0), rel=0.05, abs=0.5)
    assert (norm.running_var.sqrt() / data.std(0)).tolist() == pytest.approx([1, 1, 1], rel=0.1)
    norm.train()
    training = norm(data[:5])
    norm.eval()
    assert torch.equal(
        norm(data[:5]), training
    )  # a batch sees the same transform either way, past the first
    assert out.shape == (40, 3)
    # the first batch's statistics are taken whole (no bias towards the zero/one start)
    fresh = RunningStandardizer(2)
    fresh(torch.tensor([[2.0, 4.0], [4.0, 8.0]]))
    assert fresh.running_mean.tolist() == [3.0, 6.0] and fresh.running_var.tolist() == [2.0, 8.0]


def test_a_fine_tuned_preset_gives_the_bilm_its_own_small_step(tmp_path, monkeypatch) -> None:
    from elmo_tasks.runs.experiment import build
    from tests.compose import compose_config

    monkeypatch.setenv("ELMO_TASKS_CACHE", str(tmp_path / "cache"))
    cfg = compose_config(
        tmp_path,
        ["experiment=quickstart/elmo", "encoder.requires_grad=true", "task.max_train_samples=8"],
    )
    _, model = build(cfg)
    groups = {group["name"]: group for group in model.configure_optimizers().param_groups}
    assert (
        groups["bilm"]["lr"] == 1e-4 and groups["default"]["lr"] == cfg.optim.optimizer.lr == 0.01
    )
    assert groups["scalar_mix"]["lr"] == 0.01 and groups["scalar_mix"]["weight_decay"] == 0.0
