"""The character CNN as table lookups (char_windows.py) against the convolutions it replaces."""

from __future__ import annotations

import pytest
import torch

from elmo_tasks.elmo import modules
from elmo_tasks.elmo.char_windows import tap_tables, window_max
from elmo_tasks.elmo.characters import PADDING_CHARACTER
from elmo_tasks.elmo.options import ElmoOptions
from elmo_tasks.elmo.random_weights import random_bilm


def options() -> ElmoOptions:
    return ElmoOptions.from_dict(
        {
            "char_cnn": {
                "embedding": {"dim": 4},
                "filters": [[1, 3], [2, 4], [3, 5], [5, 6]],
                "n_highway": 1,
                "activation": "relu",
                "n_characters": 262,
                "max_characters_per_token": 50,
            },
            "lstm": {"dim": 8, "projection_dim": 4, "n_layers": 1, "use_skip_connections": False},
        }
    )


def ragged_char_ids(count: int, seed: int = 0) -> torch.Tensor:
    """Tokens of 1..12 characters padded as batch_to_ids pads them, plus all-zero padding tokens."""
    generator = torch.Generator().manual_seed(seed)
    char_ids = torch.randint(1, 262, (count, 50), generator=generator)
    lengths = torch.randint(1, 13, (count,), generator=generator)
    char_ids[torch.arange(50) >= lengths.unsqueeze(1)] = PADDING_CHARACTER + 1
    char_ids[:3] = 0
    return char_ids


def encoder_gradients(encoder, char_ids, tables_on: bool):
    encoder.zero_grad(set_to_none=True)
    tables = encoder._tap_tables() if tables_on else None
    pooled = encoder._max_over_positions(char_ids, tables)
    weights = torch.linspace(-1, 1, pooled.numel(), dtype=pooled.dtype).view_as(pooled)
    (pooled * weights).sum().backward()
    return pooled.detach(), {
        name: p.grad.clone() for name, p in encoder.named_parameters() if p.grad is not None
    }


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_tables_match_convolutions_forward_and_backward(activation):
    encoder = random_bilm(options(), seed=2).char_encoder.double()
    encoder.activation = torch.relu if activation == "relu" else torch.tanh
    char_ids = ragged_char_ids(40)
    by_tables, table_grads = encoder_gradients(encoder, char_ids, tables_on=True)
    by_convolution, conv_grads = encoder_gradients(encoder, char_ids, tables_on=False)
    torch.testing.assert_close(by_tables, by_convolution, rtol=0, atol=1e-12)
    assert table_grads.keys() == conv_grads.keys() and "char_embedding.weight" in table_grads
    for name in conv_grads:
        torch.testing.assert_close(
            table_grads[name], conv_grads[name], rtol=0, atol=1e-10, msg=name
        )
    assert not table_grads["char_embedding.weight"][
        0
    ].any()  # the padding row, as padding_idx keeps it


def test_gradient_goes_to_the_first_of_equal_windows():
    """Two different characters with the same response: the max is reached twice and, as
    with ``torch.max``, only the first window receives the gradient."""
    tables = torch.zeros(1, 262, 1)
    tables[0, 7, 0] = tables[0, 9, 0] = 1.5
    tables.requires_grad_(True)
    best = window_max(torch.tensor([[9, 7, 3], [3, 7, 9]]), tables)
    assert best.tolist() == [[1.5], [1.5]]
    (best * torch.tensor([[2.0], [5.0]])).sum().backward()
    assert tables.grad[0, 9, 0] == 2.0 and tables.grad[0, 7, 0] == 5.0
    assert tables.grad.abs().sum() == 7.0


def test_wide_filter_gradient_reaches_every_tap():
    embedding = torch.randn(262, 3, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(1, 3, 3, 2, dtype=torch.float64, requires_grad=True)
    char_ids = torch.randint(1, 262, (5, 9))

    def by_convolution(embedding, weight):
        x = embedding[char_ids].transpose(1, 2)
        return torch.nn.functional.conv1d(x, weight[0].permute(2, 1, 0)).max(dim=-1).values

    torch.autograd.gradcheck(
        lambda e, w: window_max(char_ids, tap_tables(e, w)), (embedding, weight)
    )
    torch.testing.assert_close(
        window_max(char_ids, tap_tables(embedding, weight)), by_convolution(embedding, weight)
    )


def test_nothing_is_kept_without_gradients():
    tables = torch.randn(2, 262, 3, requires_grad=True)
    char_ids = torch.randint(1, 262, (4, 6))
    with torch.no_grad():
        assert window_max(char_ids, tables).grad_fn is None
    assert window_max(char_ids, tables.detach()).grad_fn is None


def test_cpu_runs_tables_and_other_devices_run_convolutions(monkeypatch):
    encoder = random_bilm(options(), seed=3).char_encoder
    char_ids = ragged_char_ids(300)  # more than one chunk
    calls = []
    monkeypatch.setattr(modules, "window_max", lambda *args: calls.append(1) or window_max(*args))
    with torch.no_grad():
        by_tables = encoder(char_ids)
        assert calls
        calls.clear()
        monkeypatch.setattr(modules, "CHAR_TABLE_DEVICES", ())
        by_convolution = encoder(char_ids)
        assert not calls
    torch.testing.assert_close(by_tables, by_convolution, rtol=0, atol=1e-5)


def test_tables_stay_float32_under_bf16_autocast():
    encoder = random_bilm(options(), seed=5).char_encoder
    char_ids = ragged_char_ids(20)
    with torch.no_grad():
        exact = encoder._max_over_positions(char_ids, encoder._tap_tables())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            tables = encoder._tap_tables()
            under_autocast = encoder._max_over_positions(char_ids, tables)
    assert all(t.dtype == torch.float32 for t in tables)
    assert under_autocast.dtype == torch.float32
    torch.testing.assert_close(under_autocast, exact, rtol=0, atol=0)
