"""Encoders and pooling heads: shapes, masks and hand-computed pooling."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from elmo_tasks.data.batching import BucketBatchSampler
from elmo_tasks.elmo import batch_to_ids
from elmo_tasks.encoders import (
    ConcatEncoder,
    ElmoCharEncoder,
    ElmoEncoder,
    WordEmbeddingEncoder,
)
from elmo_tasks.heads import (
    AttentionPoolingClassifier,
    FirstLastPoolingClassifier,
    MaxMeanPoolingClassifier,
    MaxPoolingClassifier,
    MeanPoolingClassifier,
)

SENTENCES = [["a", "good", "film"], ["bad"], ["not", "good", "at", "all", "."]]


def test_word_embedding_shapes_mask_and_unknown_words():
    encoder = WordEmbeddingEncoder(vocabulary=["good", "film", "a"], dim=6)
    vectors, mask = encoder(SENTENCES)
    assert vectors.shape == (3, 5, 6)
    assert mask.tolist() == [[True] * 3 + [False] * 2, [True] + [False] * 4, [True] * 5]
    unknown = encoder.embedding.weight[1]
    assert torch.equal(vectors[1, 0], unknown)  # "bad" is not in the vocabulary
    assert torch.equal(vectors[0, 1], vectors[2, 1])  # "good" twice, same vector
    assert torch.count_nonzero(vectors[1, 1:]) == 0  # padding row is zero


def test_word_embedding_reads_glove_and_word2vec_files(tmp_path):
    glove = tmp_path / "glove.txt"
    glove.write_text("good 1 2 3\nfilm 4 5 6\nunused 7 8 9\n")
    word2vec = tmp_path / "w2v.txt"
    word2vec.write_text("2 3\ngood 1 2 3\nfilm 4 5 6\n")
    for path in (glove, word2vec):
        encoder = WordEmbeddingEncoder(
            vocabulary=["good", "film", "rare"], dim=50, pretrained_file=str(path)
        )
        assert encoder.output_dim == 3
        vectors, _ = encoder([["good", "film"]])
        assert vectors[0].tolist() == [[1, 2, 3], [4, 5, 6]]


def test_word_vectors_that_are_not_finite_are_refused(tmp_path):
    damaged = tmp_path / "damaged.txt"
    damaged.write_text("good 1 2 3\nfilm 4 nan 6\n")
    with pytest.raises(
        ValueError, match=r"damaged.txt, line 2: the vector of 'film' holds nan or inf"
    ):
        WordEmbeddingEncoder(vocabulary=["good", "film"], pretrained_file=str(damaged))


def test_word_embedding_file_with_a_short_line_names_it(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("good 1 2 3\nfilm 4 5\n")
    with pytest.raises(ValueError, match=r"bad.txt, line 2: expected 3 numbers"):
        WordEmbeddingEncoder(vocabulary=["good"], pretrained_file=str(bad))


def test_elmo_encoders_and_concat(fixture_options_file, fixture_weight_file):
    elmo = ElmoEncoder(str(fixture_options_file), str(fixture_weight_file), dropout=0.0)
    vectors, mask = elmo(SENTENCES)
    assert vectors.shape == (3, 5, 32) and mask.sum().item() == 9
    char = ElmoCharEncoder(str(fixture_options_file), str(fixture_weight_file), dropout=0.0)
    char_vectors, char_mask = char(SENTENCES)
    assert char_vectors.shape == (3, 5, 16) and torch.equal(mask, char_mask)
    # Layer 0 of ELMo is the char encoder's vector, repeated for both directions.
    layer0 = elmo.elmo.bilm(batch_to_ids(SENTENCES))["activations"][0]
    assert torch.allclose(layer0[0, 1:4, :16], char_vectors[0, :3], atol=1e-6)
    # Caching the vocabulary's token vectors changes nothing.
    cached = ElmoEncoder(
        str(fixture_options_file),
        str(fixture_weight_file),
        dropout=0.0,
        cache_vocabulary=True,
        vocabulary=["good", "film", "a"],
    )
    assert torch.allclose(cached(SENTENCES)[0], vectors, atol=1e-6)
    both = ConcatEncoder(
        [
            partial(WordEmbeddingEncoder, dim=4),
            partial(ElmoEncoder, str(fixture_options_file), str(fixture_weight_file), dropout=0.0),
        ],
        vocabulary=["good"],
    )
    concat_vectors, concat_mask = both(SENTENCES)
    assert concat_vectors.shape == (3, 5, 36) and torch.equal(concat_mask, mask)
    assert torch.allclose(concat_vectors[..., 4:], vectors, atol=1e-6)


def _inputs():
    x = torch.tensor(
        [
            [[1.0, -2.0], [3.0, 0.0], [100.0, 100.0]],
            [[-1.0, 5.0], [-100.0, -100.0], [-100.0, -100.0]],
        ]
    )
    mask = torch.tensor([[True, True, False], [True, False, False]])
    return x, mask


def test_pooling_by_hand():
    x, mask = _inputs()
    assert MaxPoolingClassifier(2, 2).pool(x, mask).tolist() == [[3.0, 0.0], [-1.0, 5.0]]
    assert MeanPoolingClassifier(2, 2).pool(x, mask).tolist() == [[2.0, -1.0], [-1.0, 5.0]]
    assert MaxMeanPoolingClassifier(2, 2).pool(x, mask).tolist() == [
        [3.0, 0.0, 2.0, -1.0],
        [-1.0, 5.0, -1.0, 5.0],
    ]
    assert FirstLastPoolingClassifier(2, 2).pool(x, mask).tolist() == [
        [1.0, -2.0, 3.0, 0.0],
        [-1.0, 5.0, -1.0, 5.0],
    ]


def test_attention_pooling_ignores_padding():
    x, mask = _inputs()
    head = AttentionPoolingClassifier(2, 2)
    pooled = head.pool(x, mask)
    assert torch.allclose(pooled[1], x[1, 0])  # one real position gets all the weight
    scores = head.query(x[0, :2]).squeeze(-1).softmax(0)
    assert torch.allclose(pooled[0], (scores.unsqueeze(-1) * x[0, :2]).sum(0), atol=1e-6)


@pytest.mark.parametrize("contextualizer", ["none", "bilstm", "transformer"])
def test_heads_give_logits_independent_of_padding(contextualizer):
    torch.manual_seed(0)
    head = MaxPoolingClassifier(
        4, 3, contextualizer=contextualizer, contextualizer_dim=8, hidden_dims=[5]
    ).eval()
    x = torch.randn(1, 3, 4)
    padded = torch.cat([x, torch.randn(1, 2, 4) * 50], dim=1)
    alone = head(x, torch.ones(1, 3, dtype=torch.bool))
    with_padding = head(padded, torch.tensor([[True] * 3 + [False] * 2]))
    assert alone.shape == (1, 3)
    assert torch.allclose(alone, with_padding, atol=1e-5)


def test_bucket_sampler_covers_every_index_once_and_is_seeded():
    lengths = [5, 1, 9, 3, 3, 7, 2, 8, 4, 6] * 7
    sampler = BucketBatchSampler(lengths, batch_size=8, shuffle=True, seed=3, pool_batches=2)
    first = list(sampler)
    assert sorted(i for batch in first for i in batch) == list(range(len(lengths)))
    assert len(first) == len(sampler)
    sampler.set_epoch(0)
    assert list(sampler) == first
    sampler.set_epoch(1)
    assert list(sampler) != first
    evaluation = list(BucketBatchSampler(lengths, batch_size=8, shuffle=False))
    flat = [lengths[i] for batch in evaluation for i in batch]
    assert flat == sorted(flat)


def test_checkpoints_leave_a_frozen_biLM_out_and_take_it_back_from_its_files(
    tiny_elmo_files, tmp_path
):
    from elmo_tasks.elmo.random_weights import write_random_elmo
    from elmo_tasks.tasks import ClassificationTask

    def task(weight_file, requires_grad=False):
        encoder = ElmoEncoder(
            tiny_elmo_files.options_file, weight_file, requires_grad=requires_grad
        )
        return ClassificationTask(
            encoder, partial(MaxPoolingClassifier), partial(torch.optim.Adam), labels=["a", "b"]
        )

    trained = task(tiny_elmo_files.weight_file)
    with torch.no_grad():
        trained.encoder.elmo.scalar_mixes[0].gamma.fill_(3.0)
    checkpoint = {"state_dict": trained.state_dict()}
    trained.on_save_checkpoint(checkpoint)
    assert not any("_elmo_lstm" in key for key in checkpoint["state_dict"])
    assert "encoder.elmo.scalar_mixes.0.gamma" in checkpoint["state_dict"]
    saved = torch.load(_round_trip(checkpoint, tmp_path / "a.ckpt"), weights_only=True)

    fresh = task(tiny_elmo_files.weight_file)
    fresh.on_load_checkpoint(saved)
    fresh.load_state_dict(saved["state_dict"])  # strict: every key is back
    assert all(
        torch.equal(a, b)
        for a, b in zip(fresh.state_dict().values(), trained.state_dict().values())
    )

    _, other_weights = write_random_elmo(tmp_path / "other", tiny_elmo_files.options, seed=1)
    with pytest.raises(ValueError, match="same encoder.options_file / encoder.weight_file"):
        task(other_weights).on_load_checkpoint(torch.load(tmp_path / "a.ckpt", weights_only=True))

    fine_tuned = task(tiny_elmo_files.weight_file, requires_grad=True)
    checkpoint = {"state_dict": fine_tuned.state_dict()}
    fine_tuned.on_save_checkpoint(checkpoint)
    assert (
        any("_elmo_lstm" in key for key in checkpoint["state_dict"])
        and "frozen_encoder" not in checkpoint
    )


def _round_trip(checkpoint, path):
    torch.save(checkpoint, path)
    return path


def _earlier_layout(checkpoint: dict, optimizer_names: list[str]) -> dict:
    """``checkpoint`` as the release before the transposed LSTM weights wrote it: keys ``w_in``,
    ``w_rec``, ``w_proj`` in the TensorFlow layout, and their Adam moments likewise."""
    from elmo_tasks.elmo.layout import TRANSPOSED

    old_name = {new: old for old, new in TRANSPOSED.items()}
    state_dict = {}
    for key, tensor in checkpoint["state_dict"].items():
        prefix, _, last = key.rpartition(".")
        if last in old_name:
            key, tensor = f"{prefix}.{old_name[last]}", tensor.transpose(1, 2).contiguous()
        state_dict[key] = tensor
    optimizer_state = {**checkpoint["optimizer_states"][0], "state": {}}
    for index, state in checkpoint["optimizer_states"][0]["state"].items():
        transposed = optimizer_names[index].rpartition(".")[2] in old_name
        optimizer_state["state"][index] = {
            k: v.transpose(1, 2).contiguous() if transposed and v.dim() == 3 else v.clone()
            for k, v in state.items()
        }
    return {**checkpoint, "state_dict": state_dict, "optimizer_states": [optimizer_state]}


def test_a_fine_tune_saved_in_the_earlier_lstm_layout_resumes_with_its_optimiser_state(
    tiny_elmo_files,
):
    """Weights and Adam moments of a checkpoint with the TensorFlow-layout LSTM keys are
    converted on load, so training continues exactly as from a current checkpoint."""
    from elmo_tasks.tasks import ClassificationTask
    from elmo_tasks.tasks.optimization import parameter_groups

    def task():
        torch.manual_seed(0)
        encoder = ElmoEncoder(
            tiny_elmo_files.options_file, tiny_elmo_files.weight_file, requires_grad=True
        )
        return ClassificationTask(
            encoder,
            partial(MaxPoolingClassifier),
            partial(torch.optim.Adam, lr=0.01),
            labels=["a", "b"],
        )

    tokens, labels = [["a", "good", "film"], ["bad"]], torch.tensor([0, 1])

    def train_step(model, optimizer):
        torch.manual_seed(1)  # the same dropout masks for both models
        optimizer.zero_grad()
        model.loss(model(tokens), labels).backward()
        optimizer.step()

    trained = task()
    optimizer = trained.configure_optimizers()
    train_step(trained, optimizer)
    names = {id(p): n for n, p in trained.named_parameters()}
    order = [names[id(p)] for group in parameter_groups(trained, None) for p in group["params"]]
    old = _earlier_layout(
        {"state_dict": trained.state_dict(), "optimizer_states": [optimizer.state_dict()]}, order
    )
    assert any(key.endswith(".w_rec") for key in old["state_dict"])

    resumed = task()
    resumed.on_load_checkpoint(old)
    resumed.load_state_dict(old["state_dict"])
    resumed_optimizer = resumed.configure_optimizers()
    resumed_optimizer.load_state_dict(old["optimizer_states"][0])
    train_step(trained, optimizer)
    train_step(resumed, resumed_optimizer)  # Adam state of the wrong shape would raise here
    for (name, a), b in zip(trained.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7, msg=name)


def test_a_frozen_checkpoint_naming_the_earlier_lstm_keys_loads(tiny_elmo_files):
    from elmo_tasks.tasks import ClassificationTask

    def task():
        encoder = ElmoEncoder(tiny_elmo_files.options_file, tiny_elmo_files.weight_file)
        return ClassificationTask(
            encoder, partial(MaxPoolingClassifier), partial(torch.optim.Adam), labels=["a", "b"]
        )

    trained = task()
    checkpoint = {"state_dict": trained.state_dict()}
    trained.on_save_checkpoint(checkpoint)
    keys = checkpoint["frozen_encoder"]["keys"]
    checkpoint["frozen_encoder"]["keys"] = [
        key[:-2] if key.endswith(("w_in_t", "w_rec_t", "w_proj_t")) else key for key in keys
    ]
    assert checkpoint["frozen_encoder"]["keys"] != keys
    fresh = task()
    fresh.on_load_checkpoint(checkpoint)
    fresh.load_state_dict(checkpoint["state_dict"])


def test_task_attribute_fast_path_keeps_module_registration(tiny_elmo_files):
    """Plain values skip nn.Module's checks; parameters, modules and buffers still register."""
    from elmo_tasks.tasks import ClassificationTask

    encoder = ElmoEncoder(tiny_elmo_files.options_file, tiny_elmo_files.weight_file)
    task = ClassificationTask(
        encoder, partial(MaxPoolingClassifier), partial(torch.optim.Adam), labels=["a", "b"]
    )
    task.train_tokens = 7
    task._current_fx_name = "training_step"
    assert task.train_tokens == 7 and task._current_fx_name == "training_step"
    task.extra_weight = torch.nn.Parameter(torch.ones(2))
    task.extra_layer = torch.nn.Linear(2, 2)
    task.register_buffer("extra_buffer", torch.zeros(3))
    names = dict(task.named_parameters())
    assert "extra_weight" in names and "extra_layer.weight" in names
    task.extra_buffer = None  # nn.Module's rule: a buffer set to None stays a (None) buffer
    assert "extra_buffer" in task._buffers and task._buffers["extra_buffer"] is None
    with pytest.raises(TypeError):
        task.extra_weight = 3  # a parameter cannot become a plain value, as in nn.Module
