"""Embed any number of sentences within a memory budget.

Long inputs are what runs users out of memory: ``embed_sentences`` sorts sentences by
length and packs them into batches of at most ``max_tokens`` padded token positions
(batch size x longest sentence), runs each batch without autograd, and returns the
vectors in the input order.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from elmo_tasks.elmo.characters import batch_to_ids


def batches_by_tokens(lengths: Sequence[int], max_tokens: int) -> list[list[int]]:
    """Indices grouped so that ``len(batch) * max(length in batch) <= max_tokens``.

    Sentences are taken shortest first. A sentence longer than ``max_tokens`` on its own
    gets a batch of its own (it cannot be split without changing its vectors).
    """
    if max_tokens <= 0:
        raise ValueError(f"max_tokens must be positive, got {max_tokens}")
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        # Sorted ascending, so this sentence is the longest of the batch so far.
        if current and (len(current) + 1) * lengths[index] > max_tokens:
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


def embed_sentences(
    module: torch.nn.Module,
    sentences: Sequence[Sequence[str]],
    max_tokens: int = 4096,
    output: str = "elmo_representations",
) -> list:
    """Run ``module`` (an ``Elmo`` or ``ElmoBiLm``) over ``sentences`` in token-bounded batches.

    Returns, per sentence in input order: for ``Elmo`` a list of (n_tokens, dim) tensors (one
    per output representation); for ``ElmoBiLm`` (``output="activations"``) a tensor
    (n_layers, n_tokens + 2, dim) including the sentence boundaries.
    """
    if len(sentences) == 0:
        return []
    device = next(module.parameters()).device
    results: list = [None] * len(sentences)
    with torch.inference_mode():
        for batch in batches_by_tokens([len(s) for s in sentences], max_tokens):
            out = module(batch_to_ids([sentences[i] for i in batch]).to(device))
            for row, index in enumerate(batch):
                n = len(sentences[index])
                if output == "activations" or "activations" in out:
                    results[index] = torch.stack(
                        [layer[row, : n + 2] for layer in out["activations"]]
                    ).cpu()
                else:
                    results[index] = [rep[row, :n].cpu() for rep in out[output]]
    return results
