"""A baseline that follows the reference implementation's algorithm step for step.

AllenNLP's ELMo no longer installs beside current PyTorch, so the benchmark measures this
re-statement of its algorithm instead (written here from its description): the character
CNN over all 50 characters of every token occurrence, highway layers as one Linear(d, 2d)
each, and per direction and per time step both the input-to-gate and the state-to-gate
products, on the rows still active at that step. Its weights are its own copies of ours,
held as the reference holds them (``nn.Linear`` / ``Conv1d`` layouts, one cell per
direction), so its speed does not depend on how our modules lay out their parameters.
Outputs equal ours to float tolerance; only the amount and shape of the work differ.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from elmo_tasks.elmo.modules import BiLm


def _copy(tensor: torch.Tensor, requires_grad: bool) -> nn.Parameter:
    return nn.Parameter(tensor.detach().clone().contiguous(), requires_grad=requires_grad)


class _Cell(nn.Module):
    """One direction of one layer: ``input_linearity``, ``state_linearity`` (with the
    bias, forget bias included) and ``state_projection``, each (out, in)."""

    def __init__(self, layer, d: int, requires_grad: bool) -> None:
        super().__init__()
        self.cell_dim, self.projection_dim = layer.cell_dim, layer.projection_dim
        self.cell_clip, self.proj_clip = layer.cell_clip, layer.proj_clip
        self.w_in = _copy(layer.w_in[d].t(), requires_grad)
        self.w_rec = _copy(layer.w_rec[d].t(), requires_grad)
        self.bias = _copy(layer.bias[d] + layer.forget_bias, requires_grad)
        self.w_proj = _copy(layer.w_proj[d].t(), requires_grad)


class ReferenceStyleBiLm(nn.Module):
    def __init__(self, bilm: BiLm, requires_grad: bool = False) -> None:
        super().__init__()
        self.options = bilm.options
        enc = bilm.char_encoder
        self.activation = enc.activation
        self.char_embedding = _copy(enc.char_embedding.weight, requires_grad)
        self.conv_weights = nn.ParameterList(
            [_copy(w[0].permute(2, 1, 0), requires_grad) for w in enc.conv_weights]
        )
        self.conv_biases = nn.ParameterList([_copy(b, requires_grad) for b in enc.conv_biases])
        self.highway_weights = nn.ParameterList(
            [_copy(w.t(), requires_grad) for w in enc.highway.weights]
        )
        self.highway_biases = nn.ParameterList(
            [_copy(b, requires_grad) for b in enc.highway.biases]
        )
        self.w_proj = _copy(enc.w_proj.t(), requires_grad)
        self.b_proj = _copy(enc.b_proj, requires_grad)
        self.cells = nn.ModuleList(
            [
                nn.ModuleList([_Cell(layer, d, requires_grad) for d in (0, 1)])
                for layer in bilm.lstm.layers
            ]
        )
        self.register_buffer("bos_chars", bilm.bos_chars.clone(), persistent=False)
        self.register_buffer("eos_chars", bilm.eos_chars.clone(), persistent=False)

    def _tokens(self, char_ids: torch.Tensor) -> torch.Tensor:
        batch, steps, chars = char_ids.shape
        x = F.embedding(char_ids.view(-1, chars), self.char_embedding).transpose(1, 2)
        pooled = []
        for weight, bias in zip(self.conv_weights, self.conv_biases):
            pooled.append(self.activation(F.conv1d(x, weight, bias).max(dim=-1)[0]))
        tokens = torch.cat(pooled, dim=-1)
        for weight, bias in zip(self.highway_weights, self.highway_biases):
            transform, carry = F.linear(tokens, weight, bias).chunk(2, dim=-1)
            gate = torch.sigmoid(carry)
            tokens = gate * F.relu(transform) + (1 - gate) * tokens
        tokens = F.linear(tokens, self.w_proj, self.b_proj)
        return tokens.view(batch, steps, -1)

    @staticmethod
    def _direction(
        cell: _Cell, inputs: torch.Tensor, lengths: list[int], forward: bool
    ) -> torch.Tensor:
        batch, steps, _ = inputs.shape
        out = inputs.new_zeros(batch, steps, cell.projection_dim)
        h = inputs.new_zeros(batch, cell.projection_dim)
        c = inputs.new_zeros(batch, cell.cell_dim)
        for t in range(steps):
            index = t if forward else steps - 1 - t
            n = sum(1 for length in lengths if length > index)
            gates = F.linear(inputs[:n, index], cell.w_in) + F.linear(
                h[:n].clone(), cell.w_rec, cell.bias
            )
            i, j, f, o = gates.chunk(4, dim=-1)
            new_c = (torch.sigmoid(i) * torch.tanh(j) + torch.sigmoid(f) * c[:n]).clamp(
                -cell.cell_clip, cell.cell_clip
            )
            new_h = F.linear(torch.sigmoid(o) * torch.tanh(new_c), cell.w_proj).clamp(
                -cell.proj_clip, cell.proj_clip
            )
            c = c.clone()
            h = h.clone()
            c[:n] = new_c
            h[:n] = new_h
            out[:n, index] = new_h
        return out

    def forward(self, char_ids: torch.Tensor) -> list[torch.Tensor]:
        mask = (char_ids > 0).any(dim=-1)
        lengths = mask.sum(dim=1)
        batch, steps, chars = char_ids.shape
        ids = char_ids.new_zeros(batch, steps + 2, chars)
        ids[:, 1:-1] = char_ids
        ids[:, 0] = self.bos_chars
        ids[torch.arange(batch), lengths + 1] = self.eos_chars
        lengths = lengths + 2
        order = torch.argsort(lengths, descending=True)
        tokens = self._tokens(ids)[order]
        lengths_sorted = lengths[order].tolist()
        forward_in = backward_in = tokens
        outputs = []
        for k, (forward_cell, backward_cell) in enumerate(self.cells):
            forward_out = self._direction(forward_cell, forward_in, lengths_sorted, True)
            backward_out = self._direction(backward_cell, backward_in, lengths_sorted, False)
            if k > 0:
                forward_out = forward_out + forward_in
                backward_out = backward_out + backward_in
            forward_in, backward_in = forward_out, backward_out
            outputs.append(torch.cat([forward_out, backward_out], dim=-1)[torch.argsort(order)])
        return outputs
