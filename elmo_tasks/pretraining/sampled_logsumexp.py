"""The log-sum-exp over a sampled softmax's logits, computed in one (rows x samples) buffer.

``torch.logsumexp`` over ``addmm`` output allocates and passes over the rows x samples
matrix several times: the logits, the shifted logits, their exponentials, and in the
backward pass the shifted logits and exponentials again and their product with the
gradient. Here the logits are shifted and exponentiated in place, kept for the backward
pass, and scaled once into their gradient (the softmax times the incoming gradient).
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable


def sampled_logsumexp(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    hit_rows: torch.Tensor,
    hit_columns: torch.Tensor,
) -> torch.Tensor:
    """``logsumexp(hidden @ weight.T + bias, dim=1)`` with the entries ``(hit_rows,
    hit_columns)`` (accidental hits) left out: (rows, dim), (samples, dim), (samples,) give (rows,).

    A row whose every entry is left out gets the lowest finite value, not -inf, so that
    its gradient stays finite (zero)."""
    return _SampledLogSumExp.apply(hidden, weight, bias, hit_rows, hit_columns)


class _SampledLogSumExp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, bias, hit_rows, hit_columns):
        logits = torch.addmm(bias, hidden, weight.t())
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
        logits[hit_rows, hit_columns] = torch.finfo(logits.dtype).min
        shift = logits.amax(dim=1, keepdim=True)
        exp_shifted = logits.sub_(shift).exp_()
        total = exp_shifted.sum(dim=1, keepdim=True)
        ctx.save_for_backward(hidden, weight, exp_shifted, total)
        ctx.bias_dtype = bias.dtype
        return (total.log() + shift).squeeze(1)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        hidden, weight, exp_shifted, total = ctx.saved_tensors
        grad_logits = exp_shifted * (
            grad.unsqueeze(1) / total
        )  # softmax x incoming gradient; hits get 0
        dtype = grad_logits.dtype
        grad_hidden = (grad_logits @ weight.to(dtype)).to(hidden.dtype)
        grad_weight = (grad_logits.t() @ hidden.to(dtype)).to(weight.dtype)
        return grad_hidden, grad_weight, grad_logits.sum(dim=0).to(ctx.bias_dtype), None, None
