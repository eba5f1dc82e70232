"""Tagger heads: losses, decoding, padding and BIO/BIOES well-formedness of the output."""

from __future__ import annotations

from pathlib import Path

import hydra
import pytest
import torch
from omegaconf import OmegaConf

from elmo_tasks.data.tags import from_bio, to_bio
from elmo_tasks.heads import CrfTagger, SoftmaxTagger

CONF = Path(__file__).resolve().parents[2] / "conf"
BIO = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
BIOES = ["O", "B-LOC", "I-LOC", "E-LOC", "S-LOC", "B-PER", "I-PER", "E-PER", "S-PER"]
DIM = 6


def _batch(seed: int, lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    vectors = torch.randn(len(lengths), max(lengths), DIM, generator=g)
    mask = torch.arange(max(lengths)).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    return vectors, mask


def _scrambled(head: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Large random weights, so decoding is driven by noise that often prefers ill-formed tags."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in head.parameters():
            if parameter.requires_grad:
                parameter.copy_(torch.randn(parameter.shape, generator=g) * 3)
    return head.eval()


def _well_formed(tags: list[str], scheme: str) -> bool:
    """True when ``tags`` survive a round trip through the span reader unchanged."""
    return from_bio(to_bio(tags, scheme), scheme) == tags


@pytest.mark.parametrize("name", ["tagger_crf", "tagger_softmax"])
def test_config_partial_takes_input_dim_labels_and_scheme(name: str) -> None:
    make = hydra.utils.instantiate(OmegaConf.load(CONF / "head" / f"{name}.yaml"))
    head = make(input_dim=DIM, num_tags=len(BIO), labels=BIO, scheme="BIO")
    vectors, mask = _batch(0, [3, 1])
    assert head(vectors, mask).shape == (2, 3, len(BIO))
    assert [len(path) for path in head.eval().decode(vectors, mask)] == [3, 1]


@pytest.mark.parametrize(("labels", "scheme"), [(BIO, "BIO"), (BIOES, "BIOES")])
@pytest.mark.parametrize("head_class", [CrfTagger, SoftmaxTagger])
def test_constrained_decoding_never_outputs_ill_formed_tags(head_class, labels, scheme) -> None:
    for seed in range(5):
        head = _scrambled(
            head_class(DIM, labels=labels, scheme=scheme, constraints=True, dropout=0.0), seed
        )
        vectors, mask = _batch(seed, [7, 1, 4, 7, 2, 6])
        for path in head.decode(vectors, mask):
            tags = [labels[i] for i in path]
            assert _well_formed(tags, scheme), tags


def test_without_constraints_the_same_noise_gives_ill_formed_tags() -> None:
    """The check above is not vacuous: plain argmax over scrambled scores breaks the rules."""
    ill_formed = 0
    for seed in range(5):
        head = _scrambled(SoftmaxTagger(DIM, labels=BIO, dropout=0.0), seed)
        vectors, mask = _batch(seed, [7, 1, 4, 7, 2, 6])
        ill_formed += sum(
            not _well_formed([BIO[i] for i in path], "BIO") for path in head.decode(vectors, mask)
        )
    assert ill_formed > 0


def test_crf_is_constrained_by_default_and_not_without_labels() -> None:
    assert CrfTagger(DIM, labels=BIO).crf.transition_mask.sum() < len(BIO) ** 2
    assert bool(CrfTagger(DIM, num_tags=5).crf.transition_mask.all())
    assert SoftmaxTagger(DIM, labels=BIO).decoder is None


@pytest.mark.parametrize("head_class", [CrfTagger, SoftmaxTagger])
def test_loss_ignores_padding(head_class) -> None:
    torch.manual_seed(0)
    head = head_class(DIM, labels=BIO, dropout=0.0, contextualizer="bilstm", contextualizer_dim=4)
    vectors, mask = _batch(1, [4, 2, 3])
    tags = torch.tensor([[0, 1, 2, 0], [3, 4, -100, -100], [0, 0, 1, -100]])
    loss = head.loss(vectors, mask, tags)
    other = tags.masked_fill(~mask, 2)
    noisy = vectors.masked_fill(~mask.unsqueeze(-1), 99.0)
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert torch.allclose(loss, head.loss(noisy, mask, other))


def test_crf_loss_reduction() -> None:
    torch.manual_seed(0)
    mean_head = CrfTagger(DIM, labels=BIO, dropout=0.0)
    sum_head = CrfTagger(DIM, labels=BIO, dropout=0.0, reduction="sum")
    sum_head.load_state_dict(mean_head.state_dict())
    vectors, mask = _batch(2, [3, 2])
    tags = torch.tensor([[1, 2, 0], [3, 0, -100]])
    assert torch.allclose(
        sum_head.loss(vectors, mask, tags), 2 * mean_head.loss(vectors, mask, tags)
    )


def test_softmax_constraints_decoder_is_not_trained() -> None:
    head = SoftmaxTagger(DIM, labels=BIO, constraints=True)
    assert head.decoder is not None and not any(p.requires_grad for p in head.decoder.parameters())
    assert all(bool((p == 0).all()) for p in head.decoder.parameters())


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="num_tags=3 but 5 labels"):
        CrfTagger(DIM, num_tags=3, labels=BIO)
    with pytest.raises(ValueError, match="give num_tags or labels"):
        SoftmaxTagger(DIM)
    with pytest.raises(ValueError, match="constraints=true needs the tag labels"):
        CrfTagger(DIM, num_tags=3, constraints=True)
    with pytest.raises(ValueError, match="reduction"):
        CrfTagger(DIM, labels=BIO, reduction="max")
    with pytest.raises(ValueError, match="not valid in the BIO scheme"):
        CrfTagger(DIM, labels=BIOES, scheme="BIO")
