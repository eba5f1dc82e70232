"""A baseline that follows the reference implementation's algorithm step for step.

AllenNLP's ELMo no longer installs beside current PyTorch, so the benchmark measures this
re-statement of its algorithm instead (written here from its description, sharing our
weights): the character CNN over all 50 characters of every token occurrence, highway
layers as one Linear(d, 2d) each, and per direction and per time step both the
input-to-gate and the state-to-gate products, on the rows still active at that step.
Outputs equal ours to float tolerance; only the amount and shape of the work differ.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from elmo_tasks.elmo.modules import FORGET_BIAS, BiLm


class ReferenceStyleBiLm:
    def __init__(self, bilm: BiLm) -> None:
        self.bilm = bilm
        self.options = bilm.options

    def _tokens(self, char_ids: torch.Tensor) -> torch.Tensor:
        enc = self.bilm.char_encoder
        batch, steps, chars = char_ids.shape
        x = F.embedding(char_ids.view(-1, chars), enc.char_embedding.weight).transpose(1, 2)
        pooled = []
        for weight, bias in zip(enc.conv_weights, enc.conv_biases):
            pooled.append(enc.activation(F.conv1d(x, weight[0].permute(2, 1, 0), bias).max(dim=-1)[0]))
        tokens = torch.cat(pooled, dim=-1)
        for weight, bias in zip(enc.highway.weights, enc.highway.biases):
            transform, carry = F.linear(tokens, weight.t(), bias).chunk(2, dim=-1)
            gate = torch.sigmoid(carry)
            tokens = gate * F.relu(transform) + (1 - gate) * tokens
        tokens = F.linear(tokens, enc.w_proj.t(), enc.b_proj)
        return tokens.view(batch, steps, -1)

    def _direction(self, layer, d: int, inputs: torch.Tensor, lengths: list[int], forward: bool) -> torch.Tensor:
        batch, steps, _ = inputs.shape
        cell, proj = layer.cell_dim, layer.projection_dim
        w_in, w_rec, w_proj = layer.w_in[d].t(), layer.w_rec[d].t(), layer.w_proj[d].t()
        bias = layer.bias[d] + layer.forget_bias
        out = inputs.new_zeros(batch, steps, proj)
        h = inputs.new_zeros(batch, proj)
        c = inputs.new_zeros(batch, cell)
        for t in range(steps):
            index = t if forward else steps - 1 - t
            n = sum(1 for length in lengths if length > index)
            gates = F.linear(inputs[:n, index], w_in) + F.linear(h[:n].clone(), w_rec, bias)
            i, j, f, o = gates.chunk(4, dim=-1)
            new_c = (torch.sigmoid(i) * torch.tanh(j) + torch.sigmoid(f) * c[:n]).clamp(-layer.cell_clip, layer.cell_clip)
            new_h = F.linear(torch.sigmoid(o) * torch.tanh(new_c), w_proj).clamp(-layer.proj_clip, layer.proj_clip)
            c = c.clone()
            h = h.clone()
            c[:n] = new_c
            h[:n] = new_h
            out[:n, index] = new_h
        return out

    def __call__(self, char_ids: torch.Tensor) -> list[torch.Tensor]:
        mask = (char_ids > 0).any(dim=-1)
        lengths = mask.sum(dim=1)
        batch, steps, chars = char_ids.shape
        ids = char_ids.new_zeros(batch, steps + 2, chars)
        ids[:, 1:-1] = char_ids
        ids[:, 0] = self.bilm.bos_chars
        ids[torch.arange(batch), lengths + 1] = self.bilm.eos_chars
        lengths = lengths + 2
        order = torch.argsort(lengths, descending=True)
        tokens = self._tokens(ids)[order]
        lengths_sorted = lengths[order].tolist()
        forward_in = backward_in = tokens
        outputs = []
        for k, layer in enumerate(self.bilm.lstm.layers):
            forward_out = self._direction(layer, 0, forward_in, lengths_sorted, True)
            backward_out = self._direction(layer, 1, backward_in, lengths_sorted, False)
            if k > 0:
                forward_out = forward_out + forward_in
                backward_out = backward_out + backward_in
            forward_in, backward_out_kept = forward_out, backward_out
            backward_in = backward_out
            outputs.append(torch.cat([forward_out, backward_out_kept], dim=-1)[torch.argsort(order)])
        return outputs
