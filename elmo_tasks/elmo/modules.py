"""The ELMo biLM in plain PyTorch, read top to bottom.

    char ids (batch, T, 50)
      -> CharacterEncoder: char embedding -> CNN (max over positions) -> highway -> projection
      -> token vectors (batch, T + 2, P)            (sentence boundaries <S>, </S> added)
      -> BiLstm: n_layers of LstmLayer (steps in recurrence.py), skip connections
      -> activations: [token layer, lstm layer 1, ..., lstm layer n], each (batch, T + 2, 2P)

Parameters follow the published weights (gate order input / candidate / forget / output,
forget bias added at run time); the LSTM kernels are kept transposed in memory and read and
written through TensorFlow-layout views, so that saving writes the very bits that were
loaded. Speed comes from removing work, not from approximations: the character CNN runs
once per distinct token and only over the characters in use (on CPUs as table lookups,
char_windows.py), input projections of all time steps are one matrix multiply, and padded
positions are never computed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from elmo_tasks.elmo.char_windows import tap_tables, window_max
from elmo_tasks.elmo.characters import (
    PADDING_CHARACTER,
    bos_char_ids,
    eos_char_ids,
    unique_rows,
)
from elmo_tasks.elmo.layout import TRANSPOSED
from elmo_tasks.elmo.options import ElmoOptions
from elmo_tasks.elmo.recurrence import recurrence
from elmo_tasks.elmo.scalar_mix import ScalarMix  # noqa: F401  (defined here before; same object)

# TensorFlow's BasicLSTMCell adds this to the forget gate; bilm-tf stores biases without it.
FORGET_BIAS = 1.0
FORWARD, BACKWARD = 0, 1
# Tokens per batch of character convolutions (see CharacterEncoder.forward).
CONV_TOKEN_CHUNK = 256
# Devices on which the character CNN runs as table lookups (char_windows.py); others
# (GPUs) run the convolutions.
CHAR_TABLE_DEVICES = ("cpu",)


class Highway(nn.Module):
    """Highway layers, bilm-tf convention: ``g = sigmoid(x W_carry + b_carry)``,
    ``x <- g * relu(x W_transform + b_transform) + (1 - g) * x``.

    Each layer keeps ``[W_transform | W_carry]`` side by side, (d, 2d), so one matmul
    computes both halves.
    """

    def __init__(self, dim: int, n_layers: int) -> None:
        super().__init__()
        self.dim = dim
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.zeros(dim, 2 * dim)) for _ in range(n_layers)]
        )
        self.biases = nn.ParameterList(
            [nn.Parameter(torch.zeros(2 * dim)) for _ in range(n_layers)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for weight, bias in zip(self.weights, self.biases):
            transform, carry = torch.addmm(bias, x, weight).chunk(2, dim=-1)
            gate = torch.sigmoid(carry)
            x = gate * F.relu(transform) + (1.0 - gate) * x
        return x


class CharacterEncoder(nn.Module):
    """Context-independent token vectors from character ids: (N, 50) -> (N, P)."""

    def __init__(self, options: ElmoOptions) -> None:
        super().__init__()
        self.options = options
        # Row 0 is the all-zero embedding of padding tokens; rows 1..261 come from the file.
        self.char_embedding = nn.Embedding(262, options.char_embedding_dim, padding_idx=0)
        # TensorFlow layout (1, width, in, out); converted to Conv1d's (out, in, width) on use.
        self.conv_weights = nn.ParameterList(
            [
                nn.Parameter(torch.zeros(1, w, options.char_embedding_dim, n))
                for w, n in options.filters
            ]
        )
        self.conv_biases = nn.ParameterList(
            [nn.Parameter(torch.zeros(n)) for _, n in options.filters]
        )
        self.highway = Highway(options.n_filters, options.n_highway)
        self.w_proj = nn.Parameter(torch.zeros(options.n_filters, options.projection_dim))
        self.b_proj = nn.Parameter(torch.zeros(options.projection_dim))
        self.activation = torch.relu if options.activation == "relu" else torch.tanh
        self.max_width = max(w for w, _ in options.filters)

    def forward(self, char_ids: torch.Tensor) -> torch.Tensor:
        # A few hundred tokens at a time, sorted by length: each chunk's windows (tokens x
        # filters x positions, hundreds of MB for thousands of tokens) then stay in cache
        # until their max is taken (1.4x faster forward and backward on CPUs), and each chunk
        # is trimmed to its own longest token.
        tables = self._tap_tables() if char_ids.device.type in CHAR_TABLE_DEVICES else None
        if len(char_ids) <= CONV_TOKEN_CHUNK:
            pooled = self._max_over_positions(char_ids, tables)
        else:
            order = torch.argsort((char_ids != PADDING_CHARACTER + 1).sum(dim=1), stable=True)
            chunks = char_ids[order].split(CONV_TOKEN_CHUNK)
            pooled = torch.cat([self._max_over_positions(chunk, tables) for chunk in chunks])[
                torch.argsort(order)
            ]
        tokens = self.highway(pooled)
        return torch.addmm(self.b_proj, tokens, self.w_proj)

    def _tap_tables(self) -> list[torch.Tensor]:
        """Per filter width, every tap's responses to every character (char_windows.py), in
        float32 or wider. The padding row's gradient is zero, as ``padding_idx`` makes it in a
        lookup."""
        weight = self.char_embedding.weight
        dtype = torch.promote_types(weight.dtype, torch.float32)
        with torch.autocast(weight.device.type, enabled=False):
            embedding = torch.cat([weight[:1].detach(), weight[1:]]).to(dtype)
            return [tap_tables(embedding, w.to(dtype)) for w in self.conv_weights]

    def _max_over_positions(
        self, char_ids: torch.Tensor, tables: list[torch.Tensor] | None
    ) -> torch.Tensor:
        """Every filter's activated max over character positions: (N, chars) -> (N, n_filters),
        by table lookups when ``tables`` are given, else by convolutions."""
        char_ids = self._trim_trailing_padding(char_ids)
        if tables is not None:
            with torch.autocast(char_ids.device.type, enabled=False):
                pooled = [
                    window_max(char_ids, t) + b.to(t.dtype)
                    for t, b in zip(tables, self.conv_biases)
                ]
                return self.activation(torch.cat(pooled, dim=-1))
        x = self.char_embedding(char_ids).transpose(1, 2)  # (N, char_dim, chars)
        pooled = []
        for weight, bias in zip(self.conv_weights, self.conv_biases):
            conv = F.conv1d(x, weight[0].permute(2, 1, 0), bias)  # (N, n_filters_w, positions)
            # max, not amax: its backward scatters to one position per filter (the reference's
            # choice among equal windows) instead of comparing every position with the max.
            pooled.append(self.activation(conv.max(dim=-1).values))
        return torch.cat(pooled, dim=-1)

    def _trim_trailing_padding(self, char_ids: torch.Tensor) -> torch.Tensor:
        """Drop character positions that are padding in every token, keeping enough of them
        that each token still has the windows of padding-only characters it had before.

        Exact: a window lying wholly in the padding has the same value for every token,
        so the max over positions is unchanged as long as one such window remains.
        """
        width = char_ids.size(1)
        in_use = (char_ids != PADDING_CHARACTER + 1).any(dim=0).nonzero()
        last_used = int(in_use.max()) if in_use.numel() else 0
        keep = min(width, last_used + self.max_width + 1)
        return char_ids[:, :keep] if keep < width else char_ids


class LstmLayer(nn.Module):
    """One biLSTM layer with cell clipping, a projection and projection clipping.

    Parameters are stacked over the two directions (index 0 forward, 1 backward) so one
    ``bmm`` advances both. Per direction, with TensorFlow names:
        gates = x W_in + h W_rec + B            (order: input, candidate, forget, output)
        c = clip(sigmoid(f + 1) * c + sigmoid(i) * tanh(j), cell_clip)
        h = clip((sigmoid(o) * tanh(c)) W_P, proj_clip)

    ``bias`` keeps the TensorFlow layout; the three weights are kept transposed, ``w_in_t``
    (2, 4C, D), ``w_rec_t`` (2, 4C, P) and ``w_proj_t`` (2, P, C), for the products the
    recurrence runs (see ``forward``) and so that their gradients come out in the same
    layout (a transposed gradient costs a slow transposing copy per weight and batch).
    ``w_in``, ``w_rec`` and ``w_proj`` are their TensorFlow-layout views, through which the
    published files are read and written; state dicts written with the earlier layout (keys
    ``w_in``, ``w_rec``, ``w_proj``) are converted when loaded.
    """

    def __init__(
        self,
        input_dim: int,
        cell_dim: int,
        projection_dim: int,
        cell_clip: float | None,
        proj_clip: float | None,
    ) -> None:
        super().__init__()
        self.cell_dim, self.projection_dim = cell_dim, projection_dim
        self.cell_clip, self.proj_clip = cell_clip, proj_clip
        self.w_in_t = nn.Parameter(torch.zeros(2, 4 * cell_dim, input_dim))
        self.w_rec_t = nn.Parameter(torch.zeros(2, 4 * cell_dim, projection_dim))
        self.bias = nn.Parameter(torch.zeros(2, 4 * cell_dim))
        self.w_proj_t = nn.Parameter(torch.zeros(2, projection_dim, cell_dim))
        forget = torch.zeros(4 * cell_dim)
        forget[2 * cell_dim : 3 * cell_dim] = FORGET_BIAS
        self.register_buffer("forget_bias", forget, persistent=False)

    @property
    def w_in(self) -> torch.Tensor:
        """The input kernel in TensorFlow layout, (2, D, 4C): a view of ``w_in_t``."""
        return self.w_in_t.transpose(1, 2)

    @property
    def w_rec(self) -> torch.Tensor:
        """The recurrent kernel in TensorFlow layout, (2, P, 4C): a view of ``w_rec_t``."""
        return self.w_rec_t.transpose(1, 2)

    @property
    def w_proj(self) -> torch.Tensor:
        """The projection in TensorFlow layout, (2, C, P): a view of ``w_proj_t``."""
        return self.w_proj_t.transpose(1, 2)

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        for old, new in TRANSPOSED.items():
            if prefix + old in state_dict and prefix + new not in state_dict:
                state_dict[prefix + new] = state_dict.pop(prefix + old).transpose(1, 2).contiguous()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(
        self,
        inputs: torch.Tensor,
        active_rows: Sequence[int],
        state: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Run both directions over time-major inputs.

        inputs: (2, T, B, D) with rows sorted by length (longest first) and the backward
            direction already reversed within each sequence, so step t of both directions
            touches the same rows ``[:active_rows[t]]``.
        state: optional initial (h, c), each (2, B, P) / (2, B, C).
        Returns outputs (2, T, B, P) (zero at padded steps) and the final (h, c) per row.

        The recurrence runs feature-major: states are (2, P, rows) and (2, C, rows), and each
        step computes ``W_rec^T h^T`` and ``W_P^T m^T`` from the transposed weights. With a
        few dozen rows, this product (tall weight, narrow state) runs up to twice as fast
        on CPUs as ``h W_rec``.
        """
        _, steps, batch, _ = inputs.shape
        bias = self.bias + self.forget_bias  # the same float32 sum TensorFlow computes
        # Input-to-gate products of every step at once: (2, 4C, D) @ (2, D, T*B).
        flat_inputs = inputs.reshape(2, steps * batch, -1).transpose(1, 2)
        pre_gates = torch.bmm(self.w_in_t, flat_inputs).float()  # the bias is added per step
        w_rec_t, w_proj_t = self.w_rec_t, self.w_proj_t
        device_type = inputs.device.type
        if torch.is_autocast_enabled(device_type):
            # Cast the per-step weights once, not at every step; gate sums stay float32.
            low = torch.get_autocast_dtype(device_type)
            w_rec_t, w_proj_t = w_rec_t.to(low), w_proj_t.to(low)
        if state is None:
            h = inputs.new_zeros(2, self.projection_dim, batch, dtype=torch.float32)
            c = inputs.new_zeros(2, self.cell_dim, batch, dtype=torch.float32)
        else:
            h, c = state[0].float().transpose(1, 2), state[1].float().transpose(1, 2)
        outputs, final_h, final_c = recurrence(
            pre_gates,
            w_rec_t,
            w_proj_t,
            h,
            c,
            active_rows[:steps],
            self.cell_clip,
            self.proj_clip,
            bias,
        )
        return outputs.permute(0, 2, 3, 1), (final_h.transpose(1, 2), final_c.transpose(1, 2))


class BiLstm(nn.Module):
    """Stacked ``LstmLayer``s with skip connections between layers (not into the first)."""

    def __init__(self, options: ElmoOptions) -> None:
        super().__init__()
        p, c = options.projection_dim, options.lstm_dim
        self.layers = nn.ModuleList(
            [
                LstmLayer(p, c, p, options.cell_clip, options.proj_clip)
                for _ in range(options.n_layers)
            ]
        )
        self.use_skip_connections = options.use_skip_connections

    def forward(
        self,
        tokens: torch.Tensor,
        lengths: torch.Tensor,
        states: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> tuple[list[torch.Tensor], list[tuple[torch.Tensor, torch.Tensor]]]:
        """tokens: (B, T, P); lengths: (B,) with every length >= 1.
        states: per layer (h, c) of shape (2, B, ·) in the batch's row order, or None.
        Returns per layer (B, T, 2P) outputs [forward | backward] and final states (row order kept).
        """
        steps = tokens.size(1)
        lengths, order = torch.sort(lengths, descending=True, stable=True)
        restore = torch.argsort(order)
        lengths_list = lengths.tolist()
        active_rows = [sum(1 for n in lengths_list if n > t) for t in range(steps)]
        steps = lengths_list[0]
        active_rows = active_rows[:steps]

        # Time-major, rows sorted; the backward direction reversed within each sequence.
        time_index = torch.arange(steps, device=tokens.device)
        reverse = (lengths.unsqueeze(1) - 1 - time_index).where(
            time_index < lengths.unsqueeze(1), time_index
        )
        reverse = reverse.t()  # (T, B): position read by step t of the backward direction
        x = tokens[order, :steps].transpose(0, 1)  # (T, B, P)
        x = torch.stack([x, x.gather(0, reverse.unsqueeze(-1).expand_as(x))])  # (2, T, B, P)

        outputs, finals = [], []
        for k, layer in enumerate(self.layers):
            state = None if states is None else tuple(s[:, order] for s in states[k])
            out, final = layer(x, active_rows, state)
            if k > 0 and self.use_skip_connections:
                out = out + x
            x = out
            backward = out[BACKWARD].gather(0, reverse.unsqueeze(-1).expand_as(out[BACKWARD]))
            both = torch.cat([out[FORWARD], backward], dim=-1).transpose(0, 1)[
                restore
            ]  # (B, steps, 2P)
            if both.size(1) < tokens.size(1):
                both = F.pad(both, (0, 0, 0, tokens.size(1) - both.size(1)))
            outputs.append(both)
            finals.append((final[0][:, restore], final[1][:, restore]))
        return outputs, finals


class BiLm(nn.Module):
    """Character encoder + biLSTM: char ids -> the 1 + n_layers ELMo activations.

    ``forward(char_ids, states=None, cached_vectors=None, cached_mask=None)`` returns
    ``(activations, mask, final_states)``; activations and mask include the sentence-boundary
    positions it adds. ``states`` are initial LSTM states per layer (stateful use);
    ``cached_vectors`` (batch, T, P) are precomputed token vectors used where
    ``cached_mask`` is True instead of running the character encoder.
    """

    def __init__(self, options: ElmoOptions) -> None:
        super().__init__()
        self.options = options
        self.char_encoder = CharacterEncoder(options)
        self.lstm = BiLstm(options)
        max_chars = options.max_characters_per_token
        self.register_buffer("bos_chars", torch.tensor(bos_char_ids(max_chars)), persistent=False)
        self.register_buffer("eos_chars", torch.tensor(eos_char_ids(max_chars)), persistent=False)
        self.token_cache = TokenCache()

    def encode_tokens(self, char_ids: torch.Tensor) -> torch.Tensor:
        """Token vectors for (N, 50) char ids, computing each distinct token once."""
        unique, inverse = unique_rows(char_ids)
        if self.token_cache.enabled(self.char_encoder):
            vectors = self.token_cache.encode(unique, self.char_encoder)
        else:
            vectors = self.char_encoder(unique)
        return vectors[inverse]

    def forward(
        self,
        char_ids: torch.Tensor,
        states: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
        cached_vectors: torch.Tensor | None = None,
        cached_mask: torch.Tensor | None = None,
    ) -> tuple[list[torch.Tensor], torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        char_ids = char_ids.long()
        batch, steps, _ = char_ids.shape
        mask = (char_ids > 0).any(dim=-1)  # (B, T)
        lengths = mask.sum(dim=1)
        # Sentences are left-aligned: add <S> before and </S> after each one.
        with_boundaries = char_ids.new_zeros(batch, steps + 2, char_ids.size(-1))
        with_boundaries[:, 1:-1] = char_ids
        rows = torch.arange(batch, device=char_ids.device)
        with_boundaries[:, 0] = self.bos_chars
        with_boundaries[rows, lengths + 1] = self.eos_chars
        full_mask = (with_boundaries > 0).any(dim=-1)

        dim = self.options.projection_dim
        tokens = torch.zeros(
            batch, steps + 2, dim, dtype=self.char_encoder.w_proj.dtype, device=char_ids.device
        )
        to_encode = full_mask.clone()
        if cached_vectors is not None:
            use_cache = F.pad(cached_mask & mask, (1, 1))
            tokens[use_cache] = cached_vectors[cached_mask & mask].to(tokens.dtype)
            to_encode &= ~use_cache
        tokens = tokens.index_put(
            (to_encode,), self.encode_tokens(with_boundaries[to_encode]).to(tokens.dtype)
        )

        layer_outputs, finals = self.lstm(tokens, lengths + 2, states)
        token_layer = torch.cat([tokens, tokens], dim=-1) * full_mask.unsqueeze(-1)
        return [token_layer, *layer_outputs], full_mask, finals


class TokenCache:
    """Token vectors remembered across calls while the character encoder is frozen.

    Used only for a frozen encoder (no parameter requires grad) in eval mode, so results
    are the ones the encoder would compute again; a trainable encoder never uses it (some
    optimisers, such as fused Adam, update weights without bumping their version). The cache
    empties itself when any encoder weight is replaced or changed in place (data pointer or
    version), and is bounded by ``max_size`` tokens (0 turns it off); when full it is
    cleared and refilled.
    """

    def __init__(self, max_size: int = 100_000) -> None:
        self.max_size = max_size
        self._vectors: dict[bytes, torch.Tensor] = {}
        self._fingerprint: tuple | None = None

    def clear(self) -> None:
        self._vectors.clear()

    def enabled(self, encoder: nn.Module) -> bool:
        if self.max_size <= 0 or encoder.training:
            return False
        return not any(p.requires_grad for p in encoder.parameters())

    def encode(self, unique_char_ids: torch.Tensor, encoder: nn.Module) -> torch.Tensor:
        fingerprint = tuple(
            (p.data_ptr(), p._version, p.device, p.dtype) for p in encoder.parameters()
        )
        if fingerprint != self._fingerprint:
            self._vectors.clear()
            self._fingerprint = fingerprint
        keys = [row.tobytes() for row in unique_char_ids.cpu().numpy()]
        missing = [i for i, key in enumerate(keys) if key not in self._vectors]
        if missing:
            if len(self._vectors) + len(missing) > self.max_size:
                self._vectors.clear()
            fresh = encoder(unique_char_ids[missing])
            for i, vector in zip(missing, fresh):
                self._vectors[keys[i]] = vector
        return torch.stack([self._vectors[key] for key in keys])
