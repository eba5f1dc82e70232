"""Posterior probabilities of a linear-chain tag model, by the forward-backward algorithm.

Both taggers define a distribution over the tag sequences of a sentence of the form
``p(y) ∝ exp(start[y_0] + Σ_t emit[t, y_t] + Σ_t trans[y_{t-1}, y_t] + end[y_last])``: the
CRF with its learned scores, the softmax tagger with its log-probabilities as emissions and
all other scores zero (its tokens are independent). From the forward (``alpha``) and
backward (``beta``) log-masses this module gives, exactly:

* the marginal ``p(y_t = k)`` of every token and tag;
* the probability of an entity: that the tokens ``start..end-1`` carry exactly the given
  tags *and* the next tag does not continue the entity (it is not one of ``stop_not``, e.g.
  ``I-PER``, or the sentence ends). With well-formed sequences only (the CRF's constraints)
  this is the probability that the sentence has exactly this entity.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


class ChainPosteriors:
    """Forward-backward over a batch: ``emissions (B, T, K)``, ``mask (B, T)`` (a prefix of each
    row True), ``transitions (K, K)``, ``start (K,)`` and ``end (K,)`` log-scores."""

    def __init__(
        self,
        emissions: torch.Tensor,
        mask: torch.Tensor,
        transitions: torch.Tensor,
        start: torch.Tensor,
        end: torch.Tensor,
    ) -> None:
        self.emissions = emissions.detach().double()
        self.transitions = transitions.detach().double()
        self.lengths = mask.bool().sum(dim=1).tolist()
        start, end = start.detach().double(), end.detach().double()
        mask = mask.bool()
        batch, steps, _ = self.emissions.shape
        # alpha[b, t, k]: log-mass of the paths over 0..t that end in k (emission at t included).
        alpha = [start + self.emissions[:, 0]]
        for t in range(1, steps):
            step = (
                torch.logsumexp(alpha[-1].unsqueeze(2) + self.transitions, dim=1)
                + self.emissions[:, t]
            )
            alpha.append(torch.where(mask[:, t].unsqueeze(1), step, alpha[-1]))
        # beta[b, t, k]: log-mass of the continuations after step t from tag k (end score included).
        beta = [end.expand(batch, -1).clone() for _ in range(steps)]
        for t in range(steps - 2, -1, -1):
            step = torch.logsumexp(
                self.transitions + (self.emissions[:, t + 1] + beta[t + 1]).unsqueeze(1), dim=2
            )
            # Steps at or past a row's last token keep the end scores.
            beta[t] = torch.where(mask[:, t + 1].unsqueeze(1), step, end.expand(batch, -1))
        self.alpha = torch.stack(alpha, dim=1)
        self.beta = torch.stack(beta, dim=1)
        last = torch.tensor([length - 1 for length in self.lengths], device=self.alpha.device)
        final = self.alpha[torch.arange(batch, device=self.alpha.device), last]
        self.log_z = torch.logsumexp(final + end, dim=1)

    def token_marginals(self) -> torch.Tensor:
        """``p(y_t = k)``, ``(B, T, K)`` (rows past a sentence's end are meaningless)."""
        return torch.exp(self.alpha + self.beta - self.log_z[:, None, None]).float()

    def span_probability(
        self, row: int, start: int, tags: Sequence[int], stop_not: Sequence[int] = ()
    ) -> float:
        """``p(y[start:start+len(tags)] = tags and y[start+len(tags)] not in stop_not)`` for
        sentence ``row`` (the condition on the next tag is dropped at the sentence end)."""
        length, end = self.lengths[row], start + len(tags)
        if not tags or start < 0 or end > length:
            raise ValueError(f"span {start}..{end} is not inside sentence {row} of {length} tokens")
        emissions = self.emissions[row]
        score = self.alpha[row, start, tags[0]]
        for t in range(1, len(tags)):
            score = score + self.transitions[tags[t - 1], tags[t]] + emissions[start + t, tags[t]]
        if end == length or not stop_not:
            tail = self.beta[row, end - 1, tags[-1]]
        else:
            following = self.transitions[tags[-1]] + emissions[end] + self.beta[row, end]
            allowed = torch.ones_like(following, dtype=torch.bool)
            allowed[list(stop_not)] = False
            tail = torch.logsumexp(following[allowed], dim=0)
        return float(torch.exp(score + tail - self.log_z[row]))
