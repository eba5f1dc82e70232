"""The biLM's softmax layers: hidden (N, P) and targets (N,) -> negative log-likelihood per token (N,).

``full`` is exact (small vocabularies); ``sampled`` draws log-uniform negatives with the logQ
correction in training and is exact at evaluation; ``adaptive`` is
``torch.nn.AdaptiveLogSoftmaxWithLoss``, exact in both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from elmo_tasks.pretraining.sampled_logsumexp import sampled_logsumexp

SOFTMAX_KINDS = ("full", "sampled", "adaptive")


class FullSoftmax(nn.Module):
    """Exact softmax over the whole vocabulary."""

    def __init__(self, dim: int, vocab_size: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(vocab_size, dim) / math.sqrt(dim))
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def full_nll(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(F.linear(hidden, self.weight, self.bias), targets, reduction="none")

    def forward(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.full_nll(hidden, targets)


class LogUniformSampler:
    """Zipfian candidates for a frequency-sorted vocabulary (TensorFlow's log-uniform sampler):
    ``P(k) = log((k + 2) / (k + 1)) / log(V + 1)``.

    ``sample(n)`` draws ``n`` ids with replacement and keeps the distinct ones; each comes
    with ``log Q(k) = log(1 - (1 - P(k))^n)``, its chance of being in the sample, which the
    sampled softmax subtracts from the logits (the logQ correction).
    """

    def __init__(self, vocab_size: int) -> None:
        self.vocab_size = vocab_size
        self.log_range = math.log(vocab_size + 1)

    def probability(self, ids: torch.Tensor) -> torch.Tensor:
        ids = ids.double()
        return (torch.log1p(1.0 / (ids + 1.0)) / self.log_range).clamp(max=1.0)

    def log_q(self, ids: torch.Tensor, n_draws: int) -> torch.Tensor:
        p = self.probability(ids)
        return torch.log(-torch.expm1(n_draws * torch.log1p(-p.clamp(max=1 - 1e-12)))).float()

    def sample(self, n_draws: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        u = torch.rand(n_draws, device=device, dtype=torch.float64)
        ids = (torch.exp(u * self.log_range).floor().long() - 1).clamp(0, self.vocab_size - 1)
        ids = torch.unique(ids)
        return ids, self.log_q(ids, n_draws)


class SampledSoftmax(FullSoftmax):
    """Sampled softmax in training (Jean et al., 2015, as in the ELMo paper), exact otherwise.

    One set of ``num_samples`` log-uniform draws is shared by the batch. The true word and
    the sampled words have ``log Q`` subtracted from their logits; a sampled word that
    equals a row's target is removed from that row (accidental hit). With a sample that
    covers the vocabulary the loss equals the full softmax.
    """

    def __init__(self, dim: int, vocab_size: int, num_samples: int = 8192) -> None:
        super().__init__(dim, vocab_size)
        if num_samples <= 0:
            raise ValueError(f"model.num_samples must be positive, got {num_samples}")
        self.num_samples = num_samples
        self.sampler = LogUniformSampler(vocab_size)

    def forward(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return self.full_nll(hidden, targets)
        return self.sampled_nll(
            hidden, targets, *self.sampler.sample(self.num_samples, hidden.device)
        )

    def sampled_nll(
        self,
        hidden: torch.Tensor,
        targets: torch.Tensor,
        sampled: torch.Tensor,
        log_q: torch.Tensor,
    ) -> torch.Tensor:
        """Per-row loss against the true word and the distinct ``sampled`` words."""
        true_logits = (hidden * self.weight[targets]).sum(-1) + self.bias[targets]
        true_logits = true_logits - self.sampler.log_q(targets, self.num_samples).to(hidden.dtype)
        sampled, order = torch.sort(sampled)
        sample_bias = self.bias[sampled] - log_q[order].to(hidden.dtype)
        # Accidental hits (a sample equal to the row's target) drop out of the row's sum.
        column = torch.searchsorted(sampled, targets).clamp_(max=len(sampled) - 1)
        hit = sampled[column] == targets
        sample_lse = sampled_logsumexp(
            hidden, self.weight[sampled], sample_bias, hit.nonzero().squeeze(1), column[hit]
        )
        return torch.logaddexp(true_logits, sample_lse) - true_logits


class AdaptiveSoftmax(nn.Module):
    """``nn.AdaptiveLogSoftmaxWithLoss`` (Grave et al., 2017): frequent words in a small
    head, rare ones in smaller clusters. ``cutoffs`` at or above the vocabulary size are
    dropped."""

    def __init__(
        self,
        dim: int,
        vocab_size: int,
        cutoffs: Sequence[int] = (2000, 10000),
        div_value: float = 4.0,
    ) -> None:
        super().__init__()
        usable = sorted({int(c) for c in cutoffs if 0 < int(c) < vocab_size})
        if not usable:
            raise ValueError(
                f"model.cutoffs={list(cutoffs)}: adaptive softmax needs a cutoff between 1 and {vocab_size - 1} "
                f"(the vocabulary has {vocab_size} words)"
            )
        tail_dim = int(dim // div_value ** len(usable))
        if tail_dim < 1:
            raise ValueError(
                f"model.div_value={div_value} with {len(usable)} cutoffs leaves the last cluster 0 dimensions "
                f"(projection_dim {dim}); use a smaller div_value or fewer cutoffs"
            )
        self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(dim, vocab_size, usable, div_value=div_value)

    def forward(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return -self.adaptive(hidden, targets).output


def build_softmax(
    kind: str,
    dim: int,
    vocab_size: int,
    num_samples: int = 8192,
    cutoffs: Sequence[int] = (2000, 10000),
    div_value: float = 4.0,
) -> nn.Module:
    if kind == "full":
        return FullSoftmax(dim, vocab_size)
    if kind == "sampled":
        return SampledSoftmax(dim, vocab_size, num_samples)
    if kind == "adaptive":
        return AdaptiveSoftmax(dim, vocab_size, cutoffs, div_value)
    raise ValueError(f"model.softmax={kind!r}; choose one of {', '.join(SOFTMAX_KINDS)}")
