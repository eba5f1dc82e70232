"""Token marginals and entity probabilities of the taggers against brute-force enumeration."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from elmo_tasks.data.tags import bio_spans, crf_constraints, to_bio
from elmo_tasks.heads import ConditionalRandomField, CrfTagger, SoftmaxTagger
from elmo_tasks.heads.posteriors import ChainPosteriors

BIO = ["O", "B-A", "I-A", "B-B", "I-B"]
BIOES = ["O", "B-A", "I-A", "E-A", "S-A"]


def _random_crf(
    labels: list[str], scheme: str, constrained: bool, seed: int
) -> ConditionalRandomField:
    crf = ConditionalRandomField(
        len(labels), **(crf_constraints(labels, scheme) if constrained else {})
    )
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in crf.parameters():
            p.copy_(2 * torch.randn(p.shape, generator=g))
    return crf.double()  # so that enumeration and forward-backward agree to 1e-9


def _path_probabilities(
    crf: ConditionalRandomField, emissions: torch.Tensor, length: int
) -> dict[tuple, float]:
    """p(path) of every tag path of the first ``length`` steps of one (T, K) sequence."""
    paths = list(itertools.product(range(crf.num_tags), repeat=length))
    tags = torch.tensor(paths)
    unnormalised = crf.path_score(
        emissions[:length].double().expand(len(paths), -1, -1), tags
    ).double()
    probabilities = torch.softmax(unnormalised, dim=0)
    return dict(zip(paths, probabilities.tolist()))


def _batch(seed: int, lengths: list[int], k: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    emissions = 2 * torch.randn(len(lengths), max(lengths), k, generator=g, dtype=torch.float64)
    mask = torch.arange(max(lengths)).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    return emissions, mask


def _continuations(labels: list[str], type_: str) -> list[int]:
    return [i for i, label in enumerate(labels) if label in (f"I-{type_}", f"E-{type_}")]


@pytest.mark.parametrize("labels,scheme", [(BIO, "BIO"), (BIOES, "BIOES")])
@pytest.mark.parametrize("constrained", [True, False])
def test_crf_token_marginals_and_span_probabilities_match_enumeration(labels, scheme, constrained):
    crf = _random_crf(labels, scheme, constrained, seed=3)
    lengths = [4, 1, 3]
    emissions, mask = _batch(7, lengths, len(labels))
    posteriors = crf.posteriors(emissions, mask)
    marginals = posteriors.token_marginals()
    for row, length in enumerate(lengths):
        probabilities = _path_probabilities(crf, emissions[row], length)
        assert math.isclose(sum(probabilities.values()), 1.0, abs_tol=1e-9)
        for t, k in itertools.product(range(length), range(len(labels))):
            expected = sum(p for path, p in probabilities.items() if path[t] == k)
            assert marginals[row, t, k].item() == pytest.approx(expected, abs=1e-6)
        # Every span and every tag sequence over it, with each possible "does not continue" set.
        for start in range(length):
            for end in range(start + 1, length + 1):
                for tags in itertools.product(range(len(labels)), repeat=end - start):
                    for stop_not in ([], [2], [2, 3]):
                        expected = sum(
                            p
                            for path, p in probabilities.items()
                            if list(path[start:end]) == list(tags)
                            and (end == length or path[end] not in stop_not)
                        )
                        got = posteriors.span_probability(row, start, list(tags), stop_not)
                        assert got == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("labels,scheme", [(BIO, "BIO"), (BIOES, "BIOES")])
def test_constrained_entity_probability_is_the_probability_that_the_sentence_has_the_entity(
    labels, scheme
):
    """With the scheme's constraints, the span probability of an entity's tags (stopping before a
    continuation tag) is the total probability of the paths whose chunks contain that entity."""
    crf = _random_crf(labels, scheme, constrained=True, seed=11)
    length = 4
    emissions, mask = _batch(5, [length], len(labels))
    posteriors = crf.posteriors(emissions, mask)
    probabilities = _path_probabilities(crf, emissions[0], length)
    by_entity: dict[tuple, float] = {}
    for path, p in probabilities.items():
        for entity in bio_spans(
            to_bio([labels[i] for i in path], "BIOES" if scheme == "BIOES" else "BIO")
        ):
            by_entity[entity] = by_entity.get(entity, 0.0) + p
    checked = 0
    for (type_, start, end), expected in by_entity.items():
        if expected < 1e-6:
            continue
        tags = to_bio([f"I-{type_}"] * (end - start), "BIO")  # B-T I-T ... as BIO
        if scheme == "BIOES":
            from elmo_tasks.data.tags import to_bioes

            tags = to_bioes(tags)
        indices = [labels.index(tag) for tag in tags]
        got = posteriors.span_probability(0, start, indices, _continuations(labels, type_))
        assert got == pytest.approx(expected, abs=1e-6)
        checked += 1
    assert checked >= 5


def test_softmax_tagger_posteriors_are_its_independent_token_probabilities():
    torch.manual_seed(0)
    tagger = SoftmaxTagger(input_dim=6, labels=BIO, dropout=0.0).eval()
    vectors, mask = torch.randn(2, 3, 6), torch.tensor([[True, True, True], [True, True, False]])
    probabilities = torch.softmax(tagger(vectors, mask), dim=-1)
    posteriors = tagger.posteriors(vectors, mask)
    assert torch.allclose(posteriors.token_marginals()[0], probabilities[0], atol=1e-6)
    assert torch.allclose(posteriors.token_marginals()[1, :2], probabilities[1, :2], atol=1e-6)
    # B-A I-A at 0..1 followed by anything but I-A: p0(B-A) p1(I-A) (1 - p2(I-A)).
    expected = probabilities[0, 0, 1] * probabilities[0, 1, 2] * (1 - probabilities[0, 2, 2])
    assert posteriors.span_probability(0, 0, [1, 2], [2]) == pytest.approx(
        expected.item(), abs=1e-6
    )
    # At a sentence end nothing can follow.
    expected = probabilities[1, 1, 3]
    assert posteriors.span_probability(1, 1, [3], [4]) == pytest.approx(expected.item(), abs=1e-6)


def test_crf_tagger_posteriors_use_its_crf():
    torch.manual_seed(0)
    tagger = CrfTagger(input_dim=6, labels=BIO, dropout=0.0).eval()
    vectors, mask = torch.randn(1, 3, 6), torch.ones(1, 3, dtype=torch.bool)
    direct = tagger.crf.posteriors(tagger(vectors, mask), mask).token_marginals()
    assert torch.equal(tagger.posteriors(vectors, mask).token_marginals(), direct)
    assert torch.allclose(direct.sum(-1), torch.ones(1, 3), atol=1e-6)


def test_span_outside_the_sentence_is_an_error():
    emissions, mask = _batch(0, [2], 3)
    posteriors = ChainPosteriors(emissions, mask, torch.zeros(3, 3), torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match="not inside sentence 0 of 2 tokens"):
        posteriors.span_probability(0, 1, [0, 0])
