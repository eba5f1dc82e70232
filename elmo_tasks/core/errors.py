"""Errors a user can fix from the command line, and how ``train.py`` shows them.

Every class here derives from :class:`ElmoTasksError` and from the built-in exception a
caller would expect (``FileNotFoundError``, ``ConnectionError``, ``RuntimeError``,
``ValueError``), so library code can keep catching the built-in one. Their messages say
what was looked for, which config key set it and how to fix it;
:func:`elmo_tasks.core.reporting.readable_errors` prints such a message as it is (no
traceback) and exits with status 1 (2 for a config mistake: ``exit_status`` of the class).
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

DATA_ENV = "ELMO_TASKS_DATA"
PROBE_TIMEOUT_S = 3.0


class ElmoTasksError(Exception):
    """A problem with the configuration or the machine that the message explains."""


class DataNotFoundError(ElmoTasksError, FileNotFoundError):
    """A data file or folder named by the config does not exist."""


class WeightsNotFoundError(ElmoTasksError, FileNotFoundError):
    """ELMo options/weights or a word-vector file named by the config cannot be found or fetched."""


class HubUnavailableError(ElmoTasksError, ConnectionError):
    """A hub dataset cannot be reached (offline mode or no connection) and is not cached."""


class CudaUnavailableError(ElmoTasksError, RuntimeError):
    """The trainer asks for CUDA GPUs that this machine does not have."""


class MissingValueError(ElmoTasksError, ValueError):
    """A config value marked ``???`` (mandatory) was not given (a config mistake: exit status 2)."""

    exit_status = 2


class DataFormatError(ElmoTasksError, ValueError):
    """A data file holds something its reader cannot use: a malformed line, a missing column, a
    label or tag unseen in training, bytes that are not in the file's encoding. The message
    names the file, the line (or row) and the field, and how to fix it."""


class TooFewClassesError(DataFormatError):
    """The training data has a single label (or tag): nothing to tell apart. A mistake in the
    data or in the columns the config names (exit status 2, before any training)."""

    exit_status = 2


# --------------------------------------------------------------------------- data hints


def data_env_value() -> str:
    """``ELMO_TASKS_DATA=<value>``, or that it is unset."""
    value = os.environ.get(DATA_ENV)
    return f"{DATA_ENV}={value}" if value else f"{DATA_ENV} is not set"


def data_dir_note(data_dir: str | os.PathLike[str] | None, from_env: bool = True) -> str:
    """One sentence on where ``paths.data_dir`` points, what sets it, and what it holds."""
    env = data_env_value()
    if data_dir is None:
        return f"({env}.)"
    folder = Path(os.path.normpath(Path(data_dir).expanduser()))
    if not from_env:
        value = os.environ.get(DATA_ENV)
        source = f"given as paths.data_dir; {f'{DATA_ENV}={value}' if value else f'{DATA_ENV}, not set,'} is ignored"
    elif os.environ.get(DATA_ENV):
        source = f"from {env}"
    else:
        source = f"the default, as {env}"
    if not folder.is_dir():
        state = "that folder does not exist"
    else:
        entries = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
        shown = ", ".join(entries[:12]) + (", ..." if len(entries) > 12 else "")
        state = f"it holds: {shown}" if entries else "it is empty"
    return f"paths.data_dir is {folder} ({source}); {state}."


def shown_path(path: str | os.PathLike[str]) -> str:
    """``path``, made absolute, with a note when it was relative (to the current directory)."""
    expanded = Path(str(path)).expanduser()
    if expanded.is_absolute():
        return os.path.normpath(expanded)
    return f"{os.path.normpath(Path.cwd() / expanded)} (relative to the current directory)"


def train_command(*overrides: str) -> str:
    """``python train.py [experiment=none] OVERRIDES``: a fresh command that runs just the groups
    given (``experiment=none`` when the default experiment would pick its own, as the quickstart does)."""
    from elmo_tasks.core.paths import config_dir

    by_hand = ["experiment=none"] if (config_dir() / "experiment" / "none.yaml").is_file() else []
    return " ".join(["python train.py", *by_hand, *overrides])


# --------------------------------------------------------------------------- network


def reachable(host: str, port: int, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when a TCP connection to ``host:port`` opens within ``timeout`` seconds, else why not.

    Name resolution runs in a daemon thread so that a resolver that hangs cannot stall the
    caller longer than ``timeout`` either.
    """
    outcome: list[BaseException | None] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(None)
        except OSError as error:
            outcome.append(error)

    worker = threading.Thread(target=connect, daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    if not outcome:
        return f"no answer from {host}:{port} within {timeout:.0f} s"
    error = outcome[0]
    return None if error is None else f"{host}:{port} is not reachable ({error})"
