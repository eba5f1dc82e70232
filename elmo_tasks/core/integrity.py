"""SHA-256 sidecars: ``NAME.sha256`` beside a file, checked before the file is used.

Checkpoints, exported biLM weights and options, embed files and activation caches get one,
written with them; predict, resume, embed, export and every command that reads ELMo
weights verify it before use and refuse a mismatch with an :class:`IntegrityError` naming
the file. A sidecar holds ``sha256sum`` lines (``HEX  NAME``; a bare ``HEX`` is read too), so
``sha256sum -c NAME.sha256`` checks it by hand.

A file is replaced in three steps, so that a crash at any moment leaves a file that matches
its sidecar: the sidecar first lists the new digest and the old one, then the file is
renamed into place, then the sidecar keeps the new digest alone.

A file without a sidecar (made elsewhere, or by an older version) is used as it is, with a
note in the log; :func:`set_verification` (``verify_checksums=false``, ``verify=false``)
skips the check for files whose sidecar no longer applies.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from elmo_tasks.core.errors import ElmoTasksError

log = logging.getLogger(__name__)

SUFFIX = ".sha256"
_VERIFY = True
_memo: dict[tuple[str, int, int], str] = {}


class IntegrityError(ElmoTasksError, RuntimeError):
    """A file does not match its recorded SHA-256, or holds non-finite weights."""


def set_verification(enabled: bool) -> None:
    """Turn the sidecar checks of this process on or off."""
    global _VERIFY
    _VERIFY = bool(enabled)


def verification_enabled() -> bool:
    return _VERIFY


def sidecar(path: str | os.PathLike) -> Path:
    """``path`` + ``.sha256``."""
    path = Path(path)
    return path.with_name(path.name + SUFFIX)


def _key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, remembered per (path, size, mtime) within the process."""
    path = Path(path)
    key = _key(path)
    if key not in _memo:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _memo[key] = digest.hexdigest()
    return _memo[key]


def remember(path: str | os.PathLike, digest: str) -> None:
    """Record ``digest`` as the SHA-256 of ``path`` as it is now (it was just written)."""
    _memo[_key(Path(path))] = digest


def read_sidecar(path: str | os.PathLike) -> list[str] | None:
    """The digests the sidecar of ``path`` lists, or None when there is none."""
    try:
        text = sidecar(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return [line.split()[0].lower() for line in text.splitlines() if line.strip()]


def write_sidecar(path: str | os.PathLike, digests: Iterable[str]) -> None:
    """Write the sidecar of ``path`` atomically, one ``HEX  NAME`` line per digest."""
    from elmo_tasks.core.atomic import atomic_write_text

    name = Path(path).name
    atomic_write_text(
        sidecar(path), "".join(f"{digest}  {name}\n" for digest in dict.fromkeys(digests))
    )


def replace_with_sidecar(
    tmp: str | os.PathLike, path: str | os.PathLike, digest: str | None = None
) -> str:
    """Rename the complete file ``tmp`` to ``path`` and record its SHA-256 beside it (see the
    module docstring for the order). Returns the digest."""
    tmp, path = Path(tmp), Path(path)
    digest = digest or file_sha256(tmp)
    previous = (read_sidecar(path) or [])[:1] if path.exists() else []
    write_sidecar(path, [digest, *previous])
    os.replace(tmp, path)
    write_sidecar(path, [digest])
    remember(path, digest)
    return digest


def seal(path: str | os.PathLike) -> str:
    """Write the sidecar of an existing, complete file. Returns the digest."""
    digest = file_sha256(path)
    write_sidecar(path, [digest])
    return digest


def verify(path: str | os.PathLike, what: str = "file", skip: str = "") -> bool:
    """Check ``path`` against its sidecar: True when it matches, False when there is no
    sidecar (or checks are off); :class:`IntegrityError` on a mismatch. ``skip`` names the
    flag that skips the check, for the message."""
    path = Path(path)
    if not _VERIFY:
        return False
    expected = read_sidecar(path)
    if expected is None:
        log.debug("%s has no %s file: not verified", path, SUFFIX)
        return False
    actual = file_sha256(path)
    if actual not in expected:
        hint = f"; if the file was changed on purpose, {skip} skips this check" if skip else ""
        raise IntegrityError(
            f"{what} {path} does not match the SHA-256 recorded in {sidecar(path)} when it was written "
            f"(it is {actual[:16]}..., expected {expected[0][:16]}...): the file was damaged or changed since. "
            f"Use another copy{hint}."
        )
    return True


def check_finite(
    tensors: Mapping[str, object], source: str | os.PathLike, what: str = "weights"
) -> None:
    """:class:`IntegrityError` naming the tensors of ``tensors`` that hold NaN or infinity."""
    import torch

    bad = [
        name
        for name, value in tensors.items()
        if isinstance(value, torch.Tensor)
        and value.is_floating_point()
        and not torch.isfinite(value).all()
    ]
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise IntegrityError(
            f"{source}: {what} hold NaN or infinite values ({shown}); the file is damaged or the training "
            "diverged. Use another checkpoint or copy of the file."
        )
