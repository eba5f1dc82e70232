"""The LSTM recurrence of one biLM layer, with a hand-written backward pass.

Per direction and step (feature-major: states are (P, rows) and (C, rows)):

    gates = pre_gates[t] + bias + W_rec^T h               (order: input, candidate, forget, output)
    c = clip(sigmoid(f) * c + sigmoid(i) * tanh(j), cell_clip)
    h = clip(W_P^T (sigmoid(o) * tanh(c)), proj_clip)

``pre_gates`` (the input products of every step) is computed by the caller as one large
matrix product; this module runs only what must run step by step. The bias is added at
each step, where the step's pre-gates are read anyway (added to the whole buffer it would
cost a pass over it, as large as the input product's output, and another for its gradient).

Why a hand-written backward: autograd would form each step's weight gradient as a
separate (4C x P) outer product and add it to a running sum, a pass over the whole weight
matrix per step. Here the backward loop keeps only the two per-step products the chain rule
needs (``W_rec dgates`` and ``W_P dh``); the gate gradients of every step are written into
one buffer, and the weight gradients come from one large product over all steps at the end:
``dW_rec^T = dgates @ h_prev^T``, ``dW_P^T = dh @ m^T``. The gradient of ``pre_gates`` is that
same buffer; the bias's is summed step by step, while each step's gate gradients are in
cache. Tests compare every gradient with autograd on a step-by-step loop, in float64.

Rows are sorted by length, longest first; ``active_rows[t]`` rows take part in step t, so
padded steps cost nothing. Large layers run one direction after the other so that one
direction's per-step weights stay in the CPU's cache (see ``recurrence``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.autograd.function import once_differentiable

# On a CPU both directions advance in one batched product while their per-step weights
# (w_rec_t and w_proj_t of both directions) fit in about this many bytes; above it each
# direction runs on its own, which keeps its weights in cache between steps (`original`:
# 80 MB for both, a layer 1.25x faster one direction at a time on a 2-core Xeon; `small`:
# 5 MB, both at once). A GPU always runs both at once.
SHARED_STEP_BYTES = 24 * 2**20


def recurrence(
    pre_gates: torch.Tensor,
    w_rec_t: torch.Tensor,
    w_proj_t: torch.Tensor,
    h0: torch.Tensor,
    c0: torch.Tensor,
    active_rows: Sequence[int],
    cell_clip: float | None,
    proj_clip: float | None,
    bias: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run the recurrence of both directions.

    pre_gates: (2, 4C, T * B) float32, time-major columns; bias: (2, 4C) float32 or None
    (zero); w_rec_t: (2, 4C, P); w_proj_t: (2, P, C), in float32 or, under autocast, in the
    low-precision dtype the per-step products run in; h0: (2, P, B), c0: (2, C, B) float32.
    Returns outputs (2, P, T, B) (zero at padded steps), final h (2, P, B) and c (2, C, B).
    """
    clips = (float(cell_clip or 0.0), float(proj_clip or 0.0))
    rows = tuple(int(n) for n in active_rows)
    if bias is None:
        bias = pre_gates.new_zeros(2, pre_gates.size(1))
    inputs = (pre_gates, bias, w_rec_t, w_proj_t, h0, c0)
    # What the backward pass needs is kept only when autograd will ask for it (inside the
    # Function, ``needs_input_grad`` is set even under ``torch.no_grad``).
    keep = torch.is_grad_enabled() and any(t.requires_grad for t in inputs)
    return _Recurrence.apply(*inputs, rows, *clips, keep)


def _direction_groups(w_rec_t: torch.Tensor, w_proj_t: torch.Tensor) -> list[slice]:
    """Both directions together, or (large layers on a CPU) one after the other."""
    on_cpu = w_rec_t.device.type == "cpu"
    shared = (
        not on_cpu
        or (w_rec_t.numel() + w_proj_t.numel()) * w_rec_t.element_size() <= SHARED_STEP_BYTES
    )
    return [slice(0, 2)] if shared else [slice(0, 1), slice(1, 2)]


class _Recurrence(torch.autograd.Function):
    """Forward as in the module docstring; backward by hand (see there)."""

    @staticmethod
    def forward(
        ctx, pre_gates, bias, w_rec_t, w_proj_t, h0, c0, active_rows, cell_clip, proj_clip, keep
    ):
        gate_dim = pre_gates.size(1)
        steps, batch = len(active_rows), h0.size(2)
        outputs = _padded_buffer(pre_gates, w_proj_t.size(1), active_rows, batch)
        # m = sigmoid(o) * tanh(c) of every step, kept in one buffer for the projection's gradient.
        cell_outputs = (
            _padded_buffer(pre_gates, gate_dim // 4, active_rows, batch) if keep else None
        )
        step_pre_gates = pre_gates.view(2, gate_dim, steps, batch)
        bias = bias.unsqueeze(2)
        finals, saved = [], []
        for g in _direction_groups(w_rec_t, w_proj_t):
            group = _forward_steps(
                step_pre_gates[g],
                bias[g],
                w_rec_t[g],
                w_proj_t[g],
                h0[g],
                c0[g],
                active_rows,
                cell_clip,
                proj_clip,
                outputs[g],
                None if cell_outputs is None else cell_outputs[g],
            )
            finals.append(group[:2])
            saved.append(group[2])
        final_h, final_c = (torch.cat(parts) for parts in zip(*finals))
        if keep:
            ctx.save_for_backward(w_rec_t, w_proj_t, h0, outputs)
            ctx.steps, ctx.cell_outputs = saved, cell_outputs
            ctx.active_rows = active_rows
        ctx.set_materialize_grads(False)
        return outputs, final_h, final_c

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_outputs, grad_final_h, grad_final_c):
        w_rec_t, w_proj_t, h0, outputs = ctx.saved_tensors
        active_rows, needs = ctx.active_rows, ctx.needs_input_grad
        _, proj_dim, steps, batch = outputs.shape
        cell_dim = ctx.cell_outputs.size(1)
        gate_grads = _padded_buffer(outputs, 4 * cell_dim, active_rows, batch)
        proj_grads = _padded_buffer(
            outputs, proj_dim, active_rows, batch
        )  # dL/d(h before clipping)
        state_grads, bias_grads = [], []
        for g, saved in zip(_direction_groups(w_rec_t, w_proj_t), ctx.steps):
            *states, bias_grad = _backward_steps(
                saved,
                w_rec_t[g],
                w_proj_t[g],
                None if grad_outputs is None else grad_outputs[g],
                None if grad_final_h is None else grad_final_h[g],
                None if grad_final_c is None else grad_final_c[g],
                active_rows,
                gate_grads[g],
                proj_grads[g],
                outputs,
            )
            state_grads.append(states)
            bias_grads.append(bias_grad)
        grad_h0, grad_c0 = (torch.cat(parts) for parts in zip(*state_grads))
        flat_gate_grads = gate_grads.view(2, 4 * cell_dim, steps * batch)
        grad_w_rec = grad_w_proj = None
        if needs[2]:
            h_prev = torch.cat([h0.unsqueeze(2), outputs[:, :, :-1]], dim=2).view(
                2, proj_dim, steps * batch
            )
            grad_w_rec = torch.bmm(flat_gate_grads, h_prev.transpose(1, 2)).to(w_rec_t.dtype)
        if needs[3]:
            flat_m = ctx.cell_outputs.view(2, cell_dim, steps * batch)
            grad_w_proj = torch.bmm(
                proj_grads.view(2, proj_dim, steps * batch), flat_m.transpose(1, 2)
            ).to(w_proj_t.dtype)
        return (
            flat_gate_grads if needs[0] else None,
            torch.cat(bias_grads) if needs[1] else None,
            grad_w_rec,
            grad_w_proj,
            grad_h0 if needs[4] else None,
            grad_c0 if needs[5] else None,
            None,
            None,
            None,
            None,
        )


def _padded_buffer(
    like: torch.Tensor, dim: int, active_rows: Sequence[int], batch: int
) -> torch.Tensor:
    """An uninitialised (2, dim, T, B) buffer whose padded positions (rows past
    ``active_rows[t]`` at step t) are zero; the steps fill the rest."""
    buffer = like.new_empty(2, dim, len(active_rows), batch)
    for t, n in enumerate(active_rows):
        if n < batch:
            buffer[:, :, t, n:] = 0.0
    return buffer


def _product(weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``weight @ x`` batched over directions, in the weight's dtype, returned as float32."""
    if weight.dtype == x.dtype:
        return torch.bmm(weight, x)
    return torch.bmm(weight, x.to(weight.dtype)).float()


def _transposed_product(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``weight^T @ x`` formed as ``(x^T @ weight)^T``: with a few dozen columns in x this reads
    the weight in its stored order, 1.5x faster than a transposed weight and without the
    cost of a transposed copy (longer than the whole backward loop of a layer)."""
    if weight.dtype == x.dtype:
        return torch.bmm(x.transpose(1, 2), weight).transpose(1, 2)
    return torch.bmm(x.transpose(1, 2).to(weight.dtype), weight).float().transpose(1, 2)


def _forward_steps(
    step_pre_gates,
    bias,
    w_rec_t,
    w_proj_t,
    h0,
    c0,
    active_rows,
    cell_clip,
    proj_clip,
    outputs,
    cell_outputs,
):
    """One group of directions; writes ``outputs`` (and ``cell_outputs`` when training) and
    returns the final h, c and what the backward pass reads."""
    keep = cell_outputs is not None
    saved: list[tuple[torch.Tensor, ...]] = []
    finished_h, finished_c = [], []
    h, c = h0, c0
    for t, n in enumerate(active_rows):
        if n < h.size(2):  # rows n.. ended at the previous step: keep their final state
            finished_h.append(h[:, :, n:])
            finished_c.append(c[:, :, n:])
            h, c = h[:, :, :n], c[:, :, :n]
        gates = torch.add(step_pre_gates[:, :, t, :n], bias)  # contiguous
        if w_rec_t.dtype == gates.dtype:
            gates.baddbmm_(w_rec_t, h)
        else:
            gates.add_(_product(w_rec_t, h))
        i, j, f, o = gates.chunk(4, dim=1)
        i.sigmoid_()
        j.tanh_()
        f.sigmoid_()
        o.sigmoid_()
        c_prev = c
        c = torch.addcmul(i * j, f, c_prev)
        cell_mask = None
        if cell_clip:
            if keep:
                cell_mask = (c >= -cell_clip) & (c <= cell_clip)
            c.clamp_(-cell_clip, cell_clip)
        tanh_c = torch.tanh(c)
        m = o * tanh_c
        h = _product(w_proj_t, m)
        proj_mask = None
        if proj_clip:
            if keep:
                proj_mask = (h >= -proj_clip) & (h <= proj_clip)
            h.clamp_(-proj_clip, proj_clip)
        # Per-step values are computed contiguous and then copied into the strided buffers:
        # pointwise ops writing straight into a strided view run several times slower.
        outputs[:, :, t, :n] = h
        if keep:
            cell_outputs[:, :, t, :n] = m
            saved.append((gates, c_prev, tanh_c, cell_mask, proj_mask))
    finished_h.append(h)
    finished_c.append(c)
    return torch.cat(finished_h[::-1], dim=2), torch.cat(finished_c[::-1], dim=2), saved


def _backward_steps(
    saved,
    w_rec_t,
    w_proj_t,
    grad_outputs,
    grad_final_h,
    grad_final_c,
    active_rows,
    gate_grads,
    proj_grads,
    like,
):
    """Walk one group of directions back in time, filling ``gate_grads`` and ``proj_grads``;
    returns the gradients of its initial h and c and of its bias."""
    k, proj_dim, cell_dim = w_proj_t.shape
    batch = gate_grads.size(3)
    dh = like.new_zeros(k, proj_dim, 0)
    dc = like.new_zeros(k, cell_dim, 0)
    bias_grad = like.new_zeros(k, 4 * cell_dim)
    ends = [*active_rows[1:], 0]
    for t in range(len(active_rows) - 1, -1, -1):
        n, later = active_rows[t], ends[t]
        if n > later:  # rows later..n end at this step: their final-state gradients enter here
            dh = torch.cat([dh, _rows(grad_final_h, k, proj_dim, later, n, like)], dim=2)
            dc = torch.cat([dc, _rows(grad_final_c, k, cell_dim, later, n, like)], dim=2)
        gates, c_prev, tanh_c, cell_mask, proj_mask = saved[t]
        if grad_outputs is not None:
            dh = dh + grad_outputs[:, :, t, :n]
        if proj_mask is not None:
            dh = dh * proj_mask
        proj_grads[:, :, t, :n] = dh
        dm = _transposed_product(dh, w_proj_t).contiguous()
        i, j, f, o = gates.chunk(4, dim=1)
        dc = dc + torch.ops.aten.tanh_backward(dm * o, tanh_c)
        if cell_mask is not None:
            dc.mul_(cell_mask)
        step_gate_grads = torch.empty_like(gates)
        di, dj, df, do = step_gate_grads.chunk(4, dim=1)
        _sigmoid_backward(dc * j, i, grad_input=di)
        _tanh_backward(dc * i, j, grad_input=dj)
        _sigmoid_backward(dc * c_prev, f, grad_input=df)
        _sigmoid_backward(dm * tanh_c, o, grad_input=do)
        gate_grads[:, :, t, :n] = step_gate_grads
        bias_grad += step_gate_grads.sum(dim=2)
        dc = dc * f
        dh = _transposed_product(step_gate_grads, w_rec_t)
    if dh.size(2) < batch:  # rows without any step: their initial state is their final state
        dh = torch.cat([dh, _rows(grad_final_h, k, proj_dim, dh.size(2), batch, like)], dim=2)
        dc = torch.cat([dc, _rows(grad_final_c, k, cell_dim, dc.size(2), batch, like)], dim=2)
    return dh, dc, bias_grad


# ATen's fused derivative kernels: grad * s * (1 - s) and grad * (1 - t^2) in one pass each;
# the ``.grad_input`` forms write into the gate-gradient blocks.
_sigmoid_backward = torch.ops.aten.sigmoid_backward.grad_input
_tanh_backward = torch.ops.aten.tanh_backward.grad_input


def _rows(
    grad: torch.Tensor | None, k: int, dim: int, start: int, stop: int, like: torch.Tensor
) -> torch.Tensor:
    """Rows ``start:stop`` of a final-state gradient (zeros when the final state was unused)."""
    if grad is None:
        return like.new_zeros(k, dim, stop - start)
    return grad[:, :, start:stop]
