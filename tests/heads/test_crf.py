"""ConditionalRandomField against brute-force enumeration of all tag paths."""

from __future__ import annotations

import itertools

import pytest
import torch

from elmo_tasks.data.tags import crf_constraints
from elmo_tasks.heads import ConditionalRandomField
from elmo_tasks.heads.crf import DISALLOWED

K = 3


def _randomised(crf: ConditionalRandomField, seed: int) -> ConditionalRandomField:
    """Give the CRF large random scores so that mistakes are not hidden by near-zero init."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in crf.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return crf


@torch.no_grad()
def _path_scores(
    crf: ConditionalRandomField, emissions: torch.Tensor
) -> dict[tuple[int, ...], float]:
    """Score of every path over one unpadded (T, K) sequence, from first principles."""
    trans = torch.where(crf.transition_mask, crf.transitions, torch.tensor(DISALLOWED))
    start = torch.where(crf.start_mask, crf.start_transitions, torch.tensor(DISALLOWED))
    end = torch.where(crf.end_mask, crf.end_transitions, torch.tensor(DISALLOWED))
    scores = {}
    for path in itertools.product(range(crf.num_tags), repeat=emissions.size(0)):
        s = start[path[0]] + end[path[-1]] + sum(emissions[t, tag] for t, tag in enumerate(path))
        s = s + sum(trans[a, b] for a, b in zip(path, path[1:]))
        scores[path] = float(s)
    return scores


def _batch(seed: int, lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    emissions = torch.randn(len(lengths), max(lengths), K, generator=g) * 2
    mask = torch.arange(max(lengths)).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    return emissions, mask


CASES = [
    (seed, lengths) for seed, lengths in enumerate([[1], [4], [4, 2, 1, 3], [3, 3], [2, 4, 4, 1]])
]


@pytest.mark.parametrize(("seed", "lengths"), CASES)
def test_log_partition_and_likelihood_match_brute_force(seed: int, lengths: list[int]) -> None:
    crf = _randomised(ConditionalRandomField(K), seed)
    emissions, mask = _batch(seed, lengths)
    g = torch.Generator().manual_seed(100 + seed)
    tags = torch.randint(0, K, mask.shape, generator=g).masked_fill(~mask, -100)  # padding ignored
    log_z = crf.log_partition(emissions, mask).detach()
    log_likelihood = crf.log_likelihood(emissions, tags, mask).detach()
    for b, length in enumerate(lengths):
        scores = _path_scores(crf, emissions[b, :length].detach())
        expected_z = torch.logsumexp(torch.tensor(list(scores.values()), dtype=torch.float64), 0)
        assert float(log_z[b]) == pytest.approx(float(expected_z), abs=1e-4)
        gold = tuple(tags[b, :length].tolist())
        assert float(log_likelihood[b]) == pytest.approx(scores[gold] - float(expected_z), abs=1e-4)


@pytest.mark.parametrize(("seed", "lengths"), CASES)
def test_viterbi_matches_brute_force(seed: int, lengths: list[int]) -> None:
    crf = _randomised(ConditionalRandomField(K), seed)
    emissions, mask = _batch(seed, lengths)
    paths = crf.viterbi_decode(emissions, mask)
    assert [len(p) for p in paths] == lengths
    for b, length in enumerate(lengths):
        scores = _path_scores(crf, emissions[b, :length])
        assert tuple(paths[b]) == max(scores, key=scores.get)


def test_constrained_partition_matches_brute_force() -> None:
    allowed = [(0, 0), (0, 1), (1, 2), (2, 0), (2, 2)]
    crf = _randomised(
        ConditionalRandomField(K, allowed, start_allowed=[0, 1], end_allowed=[0, 2]), 7
    )
    emissions, mask = _batch(7, [4, 3, 1])
    log_z = crf.log_partition(emissions, mask).detach()
    for b, length in enumerate([4, 3, 1]):
        scores = _path_scores(crf, emissions[b, :length])
        expected = torch.logsumexp(torch.tensor(list(scores.values()), dtype=torch.float64), 0)
        assert float(log_z[b]) == pytest.approx(float(expected), abs=1e-4)


BIO_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def test_constrained_viterbi_never_breaks_bio() -> None:
    constraints = crf_constraints(BIO_LABELS, "BIO")
    pairs = set(constraints["allowed_transitions"])
    crf = _randomised(ConditionalRandomField(len(BIO_LABELS), **constraints), 3)
    g = torch.Generator().manual_seed(3)
    emissions = torch.randn(64, 12, len(BIO_LABELS), generator=g) * 5
    emissions[..., 2] += 3.0  # push hard towards I-PER, which is only valid after B-PER/I-PER
    emissions[..., 4] += 3.0
    lengths = torch.randint(1, 13, (64,), generator=g)
    mask = torch.arange(12).unsqueeze(0) < lengths.unsqueeze(1)
    paths = crf.viterbi_decode(emissions, mask)
    unconstrained = _randomised(ConditionalRandomField(len(BIO_LABELS)), 3).viterbi_decode(
        emissions, mask
    )
    assert any(p[0] in (2, 4) for p in unconstrained), (
        "test emissions should tempt an invalid start"
    )
    for path, length in zip(paths, lengths.tolist()):
        assert len(path) == length
        assert path[0] in constraints["start_allowed"]
        assert all((a, b) in pairs for a, b in zip(path, path[1:]))


def test_gradients_flow_except_into_forbidden_scores() -> None:
    crf = ConditionalRandomField(K, allowed_transitions=[(0, 0), (0, 1), (1, 1), (1, 2), (2, 0)])
    emissions, mask = _batch(11, [4, 2])
    emissions.requires_grad_(True)
    tags = torch.tensor([[0, 1, 2, 0], [0, 0, 0, 0]])
    loss = -crf.log_likelihood(emissions, tags, mask).sum()
    loss.backward()
    assert emissions.grad is not None and emissions.grad[0].abs().sum() > 0
    assert torch.all(emissions.grad[1, 2:] == 0), "padded steps must not get gradient"
    for p in (crf.transitions, crf.start_transitions, crf.end_transitions):
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    assert torch.all(crf.transitions.grad[~crf.transition_mask] == 0)


def test_batch_equals_one_sequence_at_a_time() -> None:
    lengths = [5, 1, 3, 5, 2]
    crf = _randomised(ConditionalRandomField(4), 5)
    g = torch.Generator().manual_seed(5)
    emissions = torch.randn(len(lengths), 5, 4, generator=g)
    mask = torch.arange(5).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    tags = torch.randint(0, 4, (len(lengths), 5), generator=g)
    batch_ll = crf.log_likelihood(emissions, tags, mask)
    batch_z = crf.log_partition(emissions, mask)
    batch_paths = crf.viterbi_decode(emissions, mask)
    for b, n in enumerate(lengths):
        one = (emissions[b : b + 1, :n], tags[b : b + 1, :n])
        assert torch.allclose(batch_ll[b], crf.log_likelihood(*one)[0], atol=1e-5)
        assert torch.allclose(batch_z[b], crf.log_partition(one[0])[0], atol=1e-5)
        assert batch_paths[b] == crf.viterbi_decode(one[0])[0]


def test_bad_inputs_raise() -> None:
    crf = ConditionalRandomField(K)
    emissions = torch.zeros(2, 3, K)
    with pytest.raises(ValueError, match="emissions must be"):
        crf.log_partition(torch.zeros(2, 3, K + 1))
    with pytest.raises(ValueError, match="first step"):
        crf.log_partition(emissions, torch.tensor([[True, True, True], [False, False, False]]))
    with pytest.raises(ValueError, match="prefix"):
        crf.viterbi_decode(emissions, torch.tensor([[True, False, True], [True, True, True]]))
    with pytest.raises(ValueError, match="tags: values"):
        crf.log_likelihood(emissions, torch.full((2, 3), K))
    with pytest.raises(ValueError, match="outside"):
        ConditionalRandomField(K, allowed_transitions=[(0, K)])
    with pytest.raises(ValueError, match="start_allowed: no tag"):
        ConditionalRandomField(K, start_allowed=[])
