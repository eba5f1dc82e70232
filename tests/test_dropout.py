"""The CPU dropout: same distribution and scaling as torch's, identity outside training."""

from __future__ import annotations

import pytest
import torch

from elmo_tasks.elmo.dropout import Dropout


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_drops_a_fraction_p_and_scales_the_rest(p):
    torch.manual_seed(0)
    x = torch.ones(200_000)
    out = Dropout(p)(x)
    dropped = (out == 0).float().mean().item()
    assert abs(dropped - p) < 0.005  # binomial std is about 0.001
    assert torch.allclose(out[out != 0], torch.full_like(out[out != 0], 1 / (1 - p)))
    assert abs(out.mean().item() - 1.0) < 0.02  # expected value kept


def test_gradient_flows_through_kept_units_only():
    torch.manual_seed(1)
    x = torch.randn(64, 32, requires_grad=True)
    out = Dropout(0.5)(x)
    out.sum().backward()
    kept = out.detach() != 0
    assert torch.equal(x.grad[kept], torch.full_like(x.grad[kept], 2.0))
    assert torch.all(x.grad[~kept] == 0)


def test_eval_mode_p0_and_p1():
    x = torch.randn(10, 7)
    assert torch.equal(Dropout(0.5).eval()(x), x)
    assert torch.equal(Dropout(0.0)(x), x)
    assert torch.all(Dropout(1.0)(x) == 0)


def test_same_seed_same_mask():
    x = torch.randn(100)
    torch.manual_seed(3)
    a = Dropout(0.3)(x)
    torch.manual_seed(3)
    assert torch.equal(a, Dropout(0.3)(x))
