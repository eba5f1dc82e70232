"""The hand-written LSTM backward against autograd on a plain step-by-step loop (float64)."""

from __future__ import annotations

import pytest
import torch

from elmo_tasks.elmo import recurrence as recurrence_module
from elmo_tasks.elmo.recurrence import recurrence


def autograd_recurrence(
    pre_gates, w_rec_t, w_proj_t, h0, c0, active_rows, cell_clip, proj_clip, bias
):
    """The same recurrence written the obvious way, one row set per step, for autograd."""
    k, gate_dim, _ = pre_gates.shape
    steps, batch = len(active_rows), h0.size(2)
    per_step = pre_gates.view(k, gate_dim, steps, batch)
    h, c = h0, c0
    outputs, final_h, final_c = [], [None] * batch, [None] * batch
    for t, n in enumerate(active_rows):
        for row in range(n, h.size(2)):
            final_h[row], final_c[row] = h[:, :, row], c[:, :, row]
        h, c = h[:, :, :n], c[:, :, :n]
        gates = per_step[:, :, t, :n] + bias.unsqueeze(2) + w_rec_t @ h
        i, j, f, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(i) * torch.tanh(j) + torch.sigmoid(f) * c
        if cell_clip:
            c = c.clamp(-cell_clip, cell_clip)
        h = w_proj_t @ (torch.sigmoid(o) * torch.tanh(c))
        if proj_clip:
            h = h.clamp(-proj_clip, proj_clip)
        outputs.append(torch.nn.functional.pad(h, (0, batch - n)))
    for row in range(h.size(2)):
        final_h[row], final_c[row] = h[:, :, row], c[:, :, row]
    return torch.stack(outputs, dim=2), torch.stack(final_h, dim=2), torch.stack(final_c, dim=2)


def random_inputs(active_rows, batch, cell_dim=3, proj_dim=2, seed=0):
    generator = torch.Generator().manual_seed(seed)

    def rand(*shape, scale=1.0):
        return (
            torch.randn(*shape, generator=generator, dtype=torch.float64) * scale
        ).requires_grad_()

    steps = len(active_rows)
    return (
        rand(2, 4 * cell_dim, steps * batch),
        rand(2, 4 * cell_dim, proj_dim, scale=0.8),
        rand(2, proj_dim, cell_dim, scale=1.5),
        rand(2, proj_dim, batch, scale=0.5),
        rand(2, cell_dim, batch),
    )


CASES = {
    "equal lengths, no clipping": ([4, 4, 4], 4, None, None),
    "ragged lengths, both clips active": ([5, 5, 3, 2, 2, 1], 5, 0.6, 0.4),
    "one row, one step": ([1], 1, 0.5, None),
}


@pytest.mark.parametrize(
    "shared", [True, False], ids=["directions batched", "one direction at a time"]
)
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_outputs_and_every_gradient_match_autograd(case, shared, monkeypatch):
    active_rows, batch, cell_clip, proj_clip = CASES[case]
    monkeypatch.setattr(recurrence_module, "SHARED_STEP_BYTES", 2**40 if shared else 0)
    inputs = random_inputs(active_rows, batch)
    bias = torch.randn(
        2, inputs[0].size(1), dtype=torch.float64, generator=torch.Generator().manual_seed(9)
    ).requires_grad_()
    expected = autograd_recurrence(*inputs, active_rows, cell_clip, proj_clip, bias)
    got = recurrence(*inputs, active_rows, cell_clip, proj_clip, bias)
    if cell_clip and proj_clip:  # the clips must really cut, or their masks go untested
        assert (got[2].abs() == cell_clip).any() and (got[0].abs() == proj_clip).any()
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=0, atol=1e-12)

    # A loss touching the outputs and both final states, with unequal weights per element.
    weights = [
        torch.randn(t.shape, generator=torch.Generator().manual_seed(i), dtype=torch.float64)
        for i, t in enumerate(got)
    ]
    expected_grads = torch.autograd.grad(
        sum((w * e).sum() for w, e in zip(weights, expected)), [*inputs, bias]
    )
    got_grads = torch.autograd.grad(
        sum((w * g).sum() for w, g in zip(weights, got)), [*inputs, bias]
    )
    for name, g, e in zip(
        ["pre_gates", "w_rec_t", "w_proj_t", "h0", "c0", "bias"], got_grads, expected_grads
    ):
        torch.testing.assert_close(
            g, e, rtol=0, atol=1e-12, msg=lambda m, name=name: f"{name}: {m}"
        )


def test_gradients_pass_a_finite_difference_check():
    active_rows, batch = [3, 2, 1], 3
    inputs = random_inputs(active_rows, batch, cell_dim=2, proj_dim=2, seed=3)
    bias = torch.randn(2, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda *x: recurrence(*x[:-1], active_rows, 2.0, 2.0, x[-1]),
        (*inputs, bias),
        eps=1e-6,
        atol=1e-6,
    )


def test_only_requested_gradients_are_formed_and_inference_keeps_nothing(monkeypatch):
    active_rows, batch = [2, 2], 2
    pre_gates, w_rec_t, w_proj_t, h0, c0 = (t.detach() for t in random_inputs(active_rows, batch))
    w_rec_t.requires_grad_()
    outputs, _, _ = recurrence(pre_gates, w_rec_t, w_proj_t, h0, c0, active_rows, None, None)
    (grad,) = torch.autograd.grad(outputs.sum(), [w_rec_t])
    assert grad.shape == w_rec_t.shape and grad.abs().sum() > 0
    kept = []
    forward_steps = recurrence_module._forward_steps
    monkeypatch.setattr(
        recurrence_module,
        "_forward_steps",
        lambda *args: kept.append(args[-1] is not None) or forward_steps(*args),
    )
    for no_grad in (torch.no_grad, torch.inference_mode):  # e.g. validating a fine-tuned model
        with no_grad():
            outputs, _, _ = recurrence(
                pre_gates, w_rec_t, w_proj_t, h0, c0, active_rows, None, None
            )
        assert outputs.grad_fn is None
    assert kept == [False, False]


def test_low_precision_weights_run_the_products_in_their_dtype():
    """Under autocast the layer passes bf16 per-step weights; gate sums stay float32."""
    active_rows, batch = [3, 3, 2], 3
    pre_gates, w_rec_t, w_proj_t, h0, c0 = (
        t.detach().float() for t in random_inputs(active_rows, batch)
    )
    w_rec_low, w_proj_low = (
        w_rec_t.bfloat16().requires_grad_(),
        w_proj_t.bfloat16().requires_grad_(),
    )
    outputs, final_h, _ = recurrence(
        pre_gates, w_rec_low, w_proj_low, h0, c0, active_rows, 3.0, 3.0
    )
    exact, _, _ = recurrence(
        pre_gates, w_rec_low.float(), w_proj_low.float(), h0, c0, active_rows, 3.0, 3.0
    )
    assert outputs.dtype == torch.float32
    torch.testing.assert_close(outputs, exact, rtol=0, atol=0.05)
    grads = torch.autograd.grad(outputs.sum() + final_h.sum(), [w_rec_low, w_proj_low])
    assert [g.dtype for g in grads] == [torch.bfloat16, torch.bfloat16]


@pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device to compare GPU and CPU gradients"
)
def test_gpu_gradients_match_the_cpu():
    active_rows, batch = [4, 4, 3, 1], 4
    bias = torch.randn(2, 32, dtype=torch.float64, requires_grad=True)
    cpu_inputs = (*random_inputs(active_rows, batch, cell_dim=8, proj_dim=4, seed=5), bias)
    gpu_inputs = [t.detach().cuda().requires_grad_() for t in cpu_inputs]
    results = []
    for inputs in (cpu_inputs, gpu_inputs):
        outputs, final_h, final_c = recurrence(*inputs[:-1], active_rows, 0.8, 0.6, inputs[-1])
        grads = torch.autograd.grad(outputs.sum() + final_h.sum() + final_c.sum(), inputs)
        results.append([t.cpu() for t in (outputs, *grads)])
    for cpu, gpu in zip(*results):
        torch.testing.assert_close(gpu, cpu, rtol=0, atol=1e-9)
