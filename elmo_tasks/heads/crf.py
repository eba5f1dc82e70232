"""Linear-chain conditional random field over tag sequences, with optional hard constraints.

A CRF scores whole tag sequences, so a tagger can learn that ``I-PER`` follows ``B-PER``;
constraints (see ``elmo_tasks.data.tags.crf_constraints``) make ill-formed sequences such as
``O I-PER`` effectively impossible, both in training and in decoding.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from elmo_tasks.heads.posteriors import ChainPosteriors

DISALLOWED = -10000.0
"""Score given to forbidden transitions: finite, so logsumexp never sees ``-inf - -inf``, yet
low enough that a forbidden path carries ``exp(-10000) = 0`` probability mass."""


def _index_mask(num_tags: int, allowed: Iterable[int] | None, name: str) -> torch.Tensor:
    mask = torch.ones(num_tags, dtype=torch.bool)
    if allowed is None:
        return mask
    mask.zero_()
    for index in allowed:
        if not 0 <= int(index) < num_tags:
            raise ValueError(f"{name}: tag index {index} is outside 0..{num_tags - 1}")
        mask[int(index)] = True
    if not mask.any():
        raise ValueError(f"{name}: no tag is allowed")
    return mask


def _pair_mask(num_tags: int, allowed: Iterable[tuple[int, int]] | None) -> torch.Tensor:
    if allowed is None:
        return torch.ones(num_tags, num_tags, dtype=torch.bool)
    mask = torch.zeros(num_tags, num_tags, dtype=torch.bool)
    for pair in allowed:
        i, j = (int(x) for x in pair)
        if not (0 <= i < num_tags and 0 <= j < num_tags):
            raise ValueError(
                f"allowed_transitions: pair {tuple(pair)} is outside 0..{num_tags - 1}"
            )
        mask[i, j] = True
    return mask


class ConditionalRandomField(nn.Module):
    """Linear-chain CRF with learned transition, start and end scores.

    ``allowed_transitions`` lists the permitted ``(from, to)`` tag pairs, ``start_allowed`` and
    ``end_allowed`` the tags a sequence may start and end with; ``None`` allows everything.
    Forbidden scores are fixed at ``DISALLOWED`` and get no gradient. Masks are ``(B, T)``
    booleans that are True on a prefix of each row, with at least the first step True.
    """

    transition_mask: torch.Tensor
    start_mask: torch.Tensor
    end_mask: torch.Tensor

    def __init__(
        self,
        num_tags: int,
        allowed_transitions: Iterable[tuple[int, int]] | None = None,
        start_allowed: Iterable[int] | None = None,
        end_allowed: Iterable[int] | None = None,
    ) -> None:
        super().__init__()
        if num_tags < 1:
            raise ValueError(f"num_tags must be positive, got {num_tags}")
        self.num_tags = num_tags
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags).uniform_(-0.1, 0.1))
        self.start_transitions = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        self.end_transitions = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        self.register_buffer("transition_mask", _pair_mask(num_tags, allowed_transitions))
        self.register_buffer("start_mask", _index_mask(num_tags, start_allowed, "start_allowed"))
        self.register_buffer("end_mask", _index_mask(num_tags, end_allowed, "end_allowed"))

    def extra_repr(self) -> str:
        return f"num_tags={self.num_tags}"

    def _scores(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Transition, start and end scores with the forbidden ones set to ``DISALLOWED``."""
        return (
            self.transitions.masked_fill(~self.transition_mask, DISALLOWED),
            self.start_transitions.masked_fill(~self.start_mask, DISALLOWED),
            self.end_transitions.masked_fill(~self.end_mask, DISALLOWED),
        )

    def _check(self, emissions: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Validate shapes and the mask; return the mask as bool (all True if None)."""
        if emissions.dim() != 3 or emissions.size(2) != self.num_tags:
            raise ValueError(
                f"emissions must be (batch, time, {self.num_tags}), got {tuple(emissions.shape)}"
            )
        batch, time, _ = emissions.shape
        if time == 0:
            raise ValueError("emissions have no time steps")
        if mask is None:
            return torch.ones(batch, time, dtype=torch.bool, device=emissions.device)
        if mask.shape != (batch, time):
            raise ValueError(f"mask must be {(batch, time)}, got {tuple(mask.shape)}")
        mask = mask.bool()
        if not bool(mask[:, 0].all()):
            raise ValueError("mask: every sequence must have its first step unmasked (length >= 1)")
        if time > 1 and bool((mask[:, 1:] & ~mask[:, :-1]).any()):
            raise ValueError(
                "mask: each row must be True on a prefix and False after it (right padding)"
            )
        return mask

    def log_partition(
        self, emissions: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``log Z`` of each sequence, ``(B,)``: logsumexp of the scores of all tag paths."""
        mask = self._check(emissions, mask)
        transitions, start, end = self._scores()
        alpha = start + emissions[:, 0]  # (B, K): best-so-far log mass ending in each tag
        for t in range(1, emissions.size(1)):
            step = torch.logsumexp(alpha.unsqueeze(2) + transitions, dim=1) + emissions[:, t]
            alpha = torch.where(mask[:, t].unsqueeze(1), step, alpha)
        return torch.logsumexp(alpha + end, dim=1)

    def path_score(
        self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Unnormalised score of the given tag paths, ``(B,)``; tags at padded steps are ignored."""
        mask = self._check(emissions, mask)
        if tags.shape != mask.shape:
            raise ValueError(f"tags must be {tuple(mask.shape)}, got {tuple(tags.shape)}")
        tags = tags.long().masked_fill(~mask, 0)
        if bool(((tags < 0) | (tags >= self.num_tags)).any()):
            raise ValueError(f"tags: values must lie in 0..{self.num_tags - 1} at unmasked steps")
        transitions, start, end = self._scores()
        zero = emissions.new_zeros(())
        emitted = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)
        score = torch.where(mask, emitted, zero).sum(1) + start[tags[:, 0]]
        if tags.size(1) > 1:
            moved = transitions[tags[:, :-1], tags[:, 1:]]
            score = score + torch.where(mask[:, 1:], moved, zero).sum(1)
        last = tags.gather(1, (mask.sum(1) - 1).unsqueeze(1)).squeeze(1)
        return score + end[last]

    def log_likelihood(
        self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``log p(tags | emissions)`` per sequence, ``(B,)``; train by minimising its negative."""
        return self.path_score(emissions, tags, mask) - self.log_partition(emissions, mask)

    def forward(
        self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Same as ``log_likelihood``."""
        return self.log_likelihood(emissions, tags, mask)

    @torch.no_grad()
    def posteriors(
        self, emissions: torch.Tensor, mask: torch.Tensor | None = None
    ) -> ChainPosteriors:
        """Forward-backward over ``emissions``: token marginals and span probabilities."""
        mask = self._check(emissions, mask)
        return ChainPosteriors(emissions, mask, *self._scores())

    @torch.no_grad()
    def viterbi_decode(
        self, emissions: torch.Tensor, mask: torch.Tensor | None = None
    ) -> list[list[int]]:
        """Highest-scoring tag path of each sequence, each as long as its unmasked prefix."""
        mask = self._check(emissions, mask)
        transitions, start, end = self._scores()
        score = start + emissions[:, 0]
        backpointers = []
        for t in range(1, emissions.size(1)):
            best, index = (score.unsqueeze(2) + transitions).max(dim=1)
            score = torch.where(mask[:, t].unsqueeze(1), best + emissions[:, t], score)
            backpointers.append(index)
        last = (score + end).argmax(dim=1).tolist()
        lengths = mask.sum(1).tolist()
        history = torch.stack(backpointers, dim=1).tolist() if backpointers else []
        paths = []
        for b, (length, tag) in enumerate(zip(lengths, last)):
            path = [tag]
            for t in range(length - 2, -1, -1):
                tag = history[b][t][tag]
                path.append(tag)
            paths.append(path[::-1])
        return paths
