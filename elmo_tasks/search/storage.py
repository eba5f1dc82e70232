"""Where a study lives, so that every worker and every trial process can reach it.

``hydra.sweeper.storage`` is

- ``null``: a journal file ``optuna.journal`` in the sweep folder;
- ``journal:PATH`` (or a path ending in ``.journal``): a journal file, for the workers of one
  machine or of a shared filesystem (Optuna locks it for every write);
- an RDB URL: ``sqlite:///optuna.db``, ``postgresql://user@host/db``, ``mysql+pymysql://...``.

Either way the study outlives the sweep: the same storage and ``study_name`` resume it.
"""

from __future__ import annotations

import time
from pathlib import Path

from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend

from elmo_tasks.core.config_values import ConfigValueError

JOURNAL_PREFIX = "journal:"
DEFAULT_JOURNAL = "optuna.journal"
ATTEMPTS = 5


def storage_url(storage: str | None, sweep_dir: str | Path) -> str:
    """The storage as one string that any process can open (``journal:PATH`` or a URL)."""
    if storage is None or str(storage).strip() == "":
        return JOURNAL_PREFIX + str(Path(sweep_dir).resolve() / DEFAULT_JOURNAL)
    text = str(storage)
    if text.startswith(JOURNAL_PREFIX):
        return JOURNAL_PREFIX + str(Path(text[len(JOURNAL_PREFIX) :]).expanduser().resolve())
    if "://" not in text:
        if text.endswith(".journal"):
            return JOURNAL_PREFIX + str(Path(text).expanduser().resolve())
        raise ConfigValueError(
            f"hydra.sweeper.storage={text}: expected null, journal:PATH, a .journal file or a "
            "database URL such as sqlite:///optuna.db or postgresql://user@host/db"
        )
    return text


def open_storage(url: str) -> BaseStorage:
    """The Optuna storage behind :func:`storage_url`'s string."""
    if url.startswith(JOURNAL_PREFIX):
        path = Path(url[len(JOURNAL_PREFIX) :])
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    engine_kwargs = {}
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1]
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # Several workers write one sqlite file: wait for its lock instead of failing at once.
        engine_kwargs = {"connect_args": {"timeout": 60}}
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    for attempt in range(ATTEMPTS):
        try:
            return RDBStorage(url, engine_kwargs=engine_kwargs)
        except ImportError as error:
            raise ConfigValueError(
                f"hydra.sweeper.storage={describe(url)}: its database driver is not installed "
                f"({error}); for PostgreSQL: pip install 'elmo-tasks[postgresql]'"
            ) from error
        except (IntegrityError, ProgrammingError):
            # Workers started together on an empty database all create Optuna's tables; all
            # but one fail, and find the tables made when they try again.
            if attempt == ATTEMPTS - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
        except OperationalError as error:
            reason = str(error.orig or error).strip().splitlines()[0]
            raise ConfigValueError(
                f"hydra.sweeper.storage={describe(url)}: cannot open the database: {reason}"
            ) from error
    raise AssertionError("unreachable")


def describe(url: str) -> str:
    """The storage for messages, without a password."""
    if "://" in url and "@" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':', 1)[0]}@{host}"
    return url
