"""``options.json`` of a published biLM as a validated dataclass, and back."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elmo_tasks.core.errors import ElmoTasksError
from elmo_tasks.elmo.characters import MAX_CHARACTERS_PER_TOKEN, N_CHARACTERS


class ElmoOptionsError(ElmoTasksError, ValueError):
    """An options file is missing a field or has a value of the wrong kind (exit status 1)."""


@dataclass
class ElmoOptions:
    """The architecture of a biLM, as stored in ``options.json``.

    ``extra`` keeps keys this package does not use (training settings of bilm-tf, such as
    ``n_tokens_vocab`` or ``unroll_steps``) so that a load/save round trip preserves them.
    """

    char_embedding_dim: int
    filters: list[tuple[int, int]]
    n_highway: int
    lstm_dim: int
    projection_dim: int
    n_layers: int = 2
    cell_clip: float | None = 3.0
    proj_clip: float | None = 3.0
    use_skip_connections: bool = True
    activation: str = "relu"
    n_characters: int = N_CHARACTERS
    max_characters_per_token: int = MAX_CHARACTERS_PER_TOKEN
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.filters = [(int(w), int(n)) for w, n in self.filters]
        self.validate()

    @property
    def n_filters(self) -> int:
        return sum(n for _, n in self.filters)

    @property
    def output_dim(self) -> int:
        """Width of every ELMo layer: forward and backward projections side by side."""
        return 2 * self.projection_dim

    def validate(self, source: str = "options") -> None:
        def fail(message: str) -> None:
            raise ElmoOptionsError(f"{source}: {message}")

        for name in (
            "char_embedding_dim",
            "lstm_dim",
            "projection_dim",
            "n_layers",
            "max_characters_per_token",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                fail(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.n_highway, int) or self.n_highway < 0:
            fail(f"char_cnn.n_highway must be a non-negative integer, got {self.n_highway!r}")
        if not self.filters:
            fail("char_cnn.filters must list at least one [width, number] pair")
        for width, number in self.filters:
            if width <= 0 or number <= 0:
                fail(f"char_cnn.filters has a non-positive [width, number]: {[width, number]}")
            if width > self.max_characters_per_token:
                fail(
                    f"filter width {width} exceeds max_characters_per_token {self.max_characters_per_token}"
                )
        if self.activation not in ("relu", "tanh"):
            fail(f"char_cnn.activation must be 'relu' or 'tanh', got {self.activation!r}")
        if self.n_characters not in (N_CHARACTERS - 1, N_CHARACTERS):
            fail(
                f"char_cnn.n_characters must be 261 (training) or 262 (inference), got {self.n_characters!r}"
            )
        for name in ("cell_clip", "proj_clip"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (int, float)) or value <= 0):
                fail(f"lstm.{name} must be a positive number or null, got {value!r}")

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "options") -> ElmoOptions:
        """Build from the nested ``options.json`` layout; errors name ``source`` and the field."""
        try:
            char_cnn = dict(raw["char_cnn"])
            lstm = dict(raw["lstm"])
            options = cls(
                char_embedding_dim=char_cnn.pop("embedding")["dim"],
                filters=char_cnn.pop("filters"),
                n_highway=char_cnn.pop("n_highway"),
                activation=char_cnn.pop("activation", "relu"),
                # bilm-tf trains with 261 characters and the published files say 262;
                # both describe the same table (262 = 261 + the all-zero padding row).
                n_characters=char_cnn.pop("n_characters", N_CHARACTERS),
                max_characters_per_token=char_cnn.pop(
                    "max_characters_per_token", MAX_CHARACTERS_PER_TOKEN
                ),
                lstm_dim=lstm.pop("dim"),
                projection_dim=lstm.pop("projection_dim"),
                n_layers=lstm.pop("n_layers", 2),
                cell_clip=lstm.pop("cell_clip", None),
                proj_clip=lstm.pop("proj_clip", None),
                use_skip_connections=lstm.pop("use_skip_connections", False),
            )
        except KeyError as missing:
            raise ElmoOptionsError(f"{source}: missing field {missing}") from None
        except (TypeError, ValueError) as bad:
            if isinstance(bad, ElmoOptionsError):
                raise ElmoOptionsError(str(bad).replace("options:", f"{source}:", 1)) from None
            raise ElmoOptionsError(f"{source}: malformed value ({bad})") from None
        options.extra = {k: v for k, v in raw.items() if k not in ("char_cnn", "lstm")}
        if char_cnn:
            options.extra["char_cnn"] = char_cnn
        if lstm:
            options.extra["lstm"] = lstm
        return options

    def to_dict(self) -> dict[str, Any]:
        """The nested ``options.json`` layout (inference convention: ``n_characters`` 262)."""
        extra = copy.deepcopy(self.extra)
        char_cnn = {
            **extra.pop("char_cnn", {}),
            "embedding": {"dim": self.char_embedding_dim},
            "filters": [[w, n] for w, n in self.filters],
            "n_highway": self.n_highway,
            "n_characters": N_CHARACTERS,
            "max_characters_per_token": self.max_characters_per_token,
            "activation": self.activation,
        }
        lstm = {
            **extra.pop("lstm", {}),
            "dim": self.lstm_dim,
            "projection_dim": self.projection_dim,
            "n_layers": self.n_layers,
            "cell_clip": self.cell_clip,
            "proj_clip": self.proj_clip,
            "use_skip_connections": self.use_skip_connections,
        }
        return {**extra, "lstm": lstm, "char_cnn": char_cnn}


def load_options(path: str | Path) -> ElmoOptions:
    """Read and validate an ``options.json`` (a local path; see ``hub.resolve`` for URLs)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"ELMo options file not found: {path}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ElmoOptionsError(
            f"{path}: not valid JSON (line {error.lineno}: {error.msg})"
        ) from None
    if not isinstance(raw, dict):
        raise ElmoOptionsError(f"{path}: expected a JSON object with 'char_cnn' and 'lstm'")
    return ElmoOptions.from_dict(raw, source=str(path))


def write_options(options: ElmoOptions, path: str | Path) -> None:
    Path(path).write_text(json.dumps(options.to_dict(), indent=2) + "\n", encoding="utf-8")
