"""Find ELMo files: local paths, ``~`` paths, http(s) URLs and named presets.

``mini`` is the package's own small biLM, shipped in ``elmo_tasks/resources/elmo_mini/``
(no download); the other presets are the published AllenNLP models.

URLs are downloaded once into a cache directory (``$ELMO_TASKS_CACHE``, default
``~/.cache/elmo_tasks``) with a progress bar. A download goes to a temporary file and is
renamed only after its size matches ``Content-Length`` and, when the server's ETag is a
plain MD5 (as S3 gives for the published files) or the URL ends in ``#sha256=<hex>``, its
digest matches. Files of the published presets are also held to what is known of them
(:data:`PINS`: their published byte size, their SHA-256 where one is known), so a download
without an ETag or ``#sha256`` (a mirror, a proxy, a tampered copy) is refused when it differs.
A file lock keeps concurrent downloads of the same URL from colliding.
Each cached file keeps a ``.sha256`` beside it that is re-checked when it is reused. Local
files and the packaged ``mini`` are checked against the ``.sha256`` beside them, when there is
one (``elmo_tasks.core.integrity``; exports and the package's own files have one).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock
from tqdm.auto import tqdm

from elmo_tasks.core.errors import ElmoTasksError, WeightsNotFoundError, shown_path

ELMO_BASE_URL = "https://allennlp.s3.amazonaws.com/models/elmo"


@dataclass(frozen=True)
class Preset:
    directory: str
    parameters: str
    output_dim: int

    def url(self, kind: str) -> str:
        suffix = {"options": "options.json", "weights": "weights.hdf5"}[kind]
        return f"{ELMO_BASE_URL}/{self.directory}/elmo_{self.directory}_{suffix}"


@dataclass(frozen=True)
class Pin:
    """What is known of a published file: its size in bytes, and its SHA-256 when known."""

    size: int | None = None
    sha256: str | None = None


# The published preset files, by file name (the same file from a mirror or another S3
# address keeps its name), with what a public record gives of them. The sizes of the
# `original` files are those AllenNLP's own downloader reported while fetching
# allennlp.s3.amazonaws.com/models/elmo/2x4096_512_2048cnn_2xhighway/ (a public 2019
# notebook: "336/336" and "374434792/374434792" bytes). No size or digest of the `small`,
# `medium` and `original_5.5B` files was found in a public source, so none is pinned for
# them: they are checked by Content-Length and S3's MD5 ETag alone (docs/elmo.md).
PINS: dict[str, Pin] = {
    "elmo_2x4096_512_2048cnn_2xhighway_options.json": Pin(size=336),
    "elmo_2x4096_512_2048cnn_2xhighway_weights.hdf5": Pin(size=374_434_792),
}


def pin_for(url: str) -> Pin | None:
    """The :class:`Pin` of the published file ``url`` names, None for any other file."""
    return PINS.get(url.split("#", 1)[0].rsplit("/", 1)[-1])


def pin_problem(pin: Pin | None, size: int, sha256: str | None = None) -> str | None:
    """Why a file of ``size`` bytes (and ``sha256``) is not the published one, else None."""
    if pin is None:
        return None
    if pin.size is not None and size != pin.size:
        return f"it has {size} bytes, the published file {pin.size}"
    if pin.sha256 is not None and sha256 is not None and sha256 != pin.sha256:
        return f"its SHA-256 is {sha256}, the published file's {pin.sha256}"
    return None


PRESETS: dict[str, Preset] = {
    "small": Preset("2x1024_128_2048cnn_1xhighway", "13.6M", 256),
    "medium": Preset("2x2048_256_2048cnn_1xhighway", "28.0M", 512),
    "original": Preset("2x4096_512_2048cnn_2xhighway", "93.6M", 1024),
    "original_5.5B": Preset("2x4096_512_2048cnn_2xhighway_5.5B", "93.6M", 1024),
}


# Presets shipped inside the package: name -> folder with options.json and weights.hdf5.
PACKAGED_DIR = Path(__file__).resolve().parents[1] / "resources"
PACKAGED: dict[str, Path] = {"mini": PACKAGED_DIR / "elmo_mini"}
PACKAGED_FILES = {"options": "options.json", "weights": "weights.hdf5"}


def packaged_files(name: str) -> dict[str, Path]:
    """The ``options`` and ``weights`` paths of the packaged preset ``name`` (they may be missing)."""
    return {kind: PACKAGED[name] / filename for kind, filename in PACKAGED_FILES.items()}


def packaged_available(name: str) -> bool:
    """Whether this installation holds both files of the packaged preset ``name``."""
    return all(path.is_file() for path in packaged_files(name).values())


def packaged_file_missing(name: str, kind: str) -> str | None:
    """What is wrong when the ``kind`` file of the packaged preset ``name`` is not installed, else None."""
    path = packaged_files(name)[kind]
    return (
        None
        if path.is_file()
        else f"ELMo preset {name!r} is not in this installation: {path} is missing"
    )


class DownloadError(ElmoTasksError, RuntimeError):
    """A download failed or its content did not pass the integrity checks."""


def cache_dir() -> Path:
    return Path(
        os.environ.get("ELMO_TASKS_CACHE", Path.home() / ".cache" / "elmo_tasks")
    ).expanduser()


def resolve(name_or_path: str | os.PathLike, kind: str) -> Path:
    """A local path to the ``kind`` file ('options' or 'weights') named by ``name_or_path``:
    a preset name, an http(s) URL (downloaded and cached) or a local path."""
    text = str(name_or_path)
    if text in PACKAGED:
        problem = packaged_file_missing(text, kind)
        if problem:
            raise WeightsNotFoundError(
                f"{problem} (the package ships it in {PACKAGED[text]}; reinstall the package or pass a local "
                "path, URL or another preset)"
            )
        return _verified(packaged_files(text)[kind], kind)
    if text in PRESETS:
        return download(PRESETS[text].url(kind))
    if text.startswith(("http://", "https://")):
        return download(text)
    path = Path(text).expanduser()
    if not path.exists():
        presets = ", ".join([*PACKAGED, *PRESETS])
        raise WeightsNotFoundError(
            f"ELMo {kind} file not found: {shown_path(path)} (looked for a local file; the config keys "
            f"encoder.options_file / encoder.weight_file take a local path, an http(s) URL or a preset name: {presets})"
        )
    return _verified(path, kind)


SKIP_HINT = (
    "verify_checksums=false (train.py, pretrain) or verify=false (embed, predict, pretrain_export)"
)


def _verified(path: Path, kind: str) -> Path:
    """``path``, after checking it against the ``.sha256`` beside it (if any)."""
    from elmo_tasks.core.integrity import verify

    if path.is_file():
        verify(path, f"ELMo {kind} file", skip=SKIP_HINT)
    return path


def _cache_path(url: str) -> Path:
    plain_url = url.split("#", 1)[0]
    digest = hashlib.sha256(plain_url.encode()).hexdigest()[:16]
    filename = re.sub(r"[^A-Za-z0-9._-]", "_", plain_url.rsplit("/", 1)[-1]) or "download"
    return cache_dir() / f"{digest}-{filename}"


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _checksum_file(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def is_downloaded(url: str) -> bool:
    """Whether ``url`` has a finished download in the cache (file and recorded checksum);
    ``download`` still verifies it before use."""
    target = _cache_path(url)
    return target.is_file() and _checksum_file(target).is_file()


def download(url: str, progress: bool = True, timeout: float = 30.0) -> Path:
    """Download ``url`` into the cache (once) and return the local path."""
    target = _cache_path(url)
    checksum_file = _checksum_file(target)
    expected_sha256 = url.split("#sha256=", 1)[1].lower() if "#sha256=" in url else None
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if is_downloaded(url):
            recorded = checksum_file.read_text().strip()
            if (
                file_sha256(target) == recorded
                and expected_sha256 in (None, recorded)
                and pin_problem(pin_for(url), target.stat().st_size, recorded) is None
            ):
                return target
        _fetch(url.split("#", 1)[0], target, expected_sha256, progress, timeout)
        checksum_file.write_text(file_sha256(target) + "\n")
    return target


def _fetch(
    url: str, target: Path, expected_sha256: str | None, progress: bool, timeout: float
) -> None:
    tmp = target.with_name(target.name + ".part")
    sha256, md5 = hashlib.sha256(), hashlib.md5()
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, tmp.open("wb") as out:
            size = response.headers.get("Content-Length")
            size = int(size) if size is not None else None
            etag = (response.headers.get("ETag") or "").strip('"')
            pinned = pin_problem(pin_for(url), size) if size is not None else None
            if pinned:  # refused before the body is read
                raise DownloadError(
                    f"download of {url} refused: the server announces a file that is not the "
                    f"published one ({pinned.replace('it has', 'it announces')})"
                )
            with tqdm(
                total=size,
                unit="B",
                unit_scale=True,
                desc=url.rsplit("/", 1)[-1],
                disable=not progress,
            ) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    sha256.update(block)
                    md5.update(block)
                    received += len(block)
                    bar.update(len(block))
    except DownloadError:
        tmp.unlink(missing_ok=True)
        raise
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        tmp.unlink(missing_ok=True)
        raise DownloadError(
            f"could not download {url}: {error}. Without network access, download the file elsewhere "
            "and pass its local path instead."
        ) from None
    problems = []
    pinned = pin_problem(pin_for(url), received, sha256.hexdigest())
    if pinned:
        problems.append(f"not the published file: {pinned}")
    if size is not None and received != size:
        problems.append(f"got {received} bytes, server announced {size}")
    if re.fullmatch(r"[0-9a-f]{32}", etag) and md5.hexdigest() != etag:
        problems.append(f"MD5 {md5.hexdigest()} does not match the server's ETag {etag}")
    if expected_sha256 is not None and sha256.hexdigest() != expected_sha256:
        problems.append(
            f"SHA-256 {sha256.hexdigest()} does not match the expected {expected_sha256}"
        )
    if problems:
        tmp.unlink(missing_ok=True)
        raise DownloadError(f"download of {url} failed its integrity check: " + "; ".join(problems))
    tmp.replace(target)
