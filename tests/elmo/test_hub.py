"""hub.download / hub.resolve against a local HTTP server (no outside network)."""

from __future__ import annotations

import hashlib
import http.server
import shutil
import threading
import time
from collections import Counter
from functools import partial
from pathlib import Path

import pytest
import torch

from elmo_tasks.elmo import ElmoBiLm, batch_to_ids, hub
from elmo_tasks.elmo.hub import PRESETS, DownloadError, download, resolve

SMALL_CONTENT = bytes(range(256)) * 64  # 16 KiB


class CountingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a directory; counts GETs per path; a few paths misbehave on purpose."""

    def log_message(self, *args) -> None:  # keep the test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        with self.server.lock:
            self.server.requests[self.path] += 1
        if self.path == "/truncated.bin":
            self._send(SMALL_CONTENT[:1000], content_length=len(SMALL_CONTENT))
        elif self.path == "/bad-etag.bin":
            wrong = hashlib.md5(b"something else").hexdigest()
            self._send(SMALL_CONTENT, headers={"ETag": f'"{wrong}"'})
        elif self.path == "/good-etag.bin":
            self._send(
                SMALL_CONTENT, headers={"ETag": f'"{hashlib.md5(SMALL_CONTENT).hexdigest()}"'}
            )
        elif self.path == "/truncated-chunked.bin":
            # Chunked transfer: a chunk announced as 1000 bytes (0x3e8), then the connection ends.
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"3e8\r\n" + SMALL_CONTENT[:10])
            self.wfile.flush()
        elif self.path == "/slow.bin":
            self._send(SMALL_CONTENT, chunks=8, pause=0.05)
        else:
            super().do_GET()

    def _send(
        self,
        body: bytes,
        content_length: int | None = None,
        headers: dict | None = None,
        chunks: int = 1,
        pause: float = 0.0,
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header(
            "Content-Length", str(len(body) if content_length is None else content_length)
        )
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        step = max(1, len(body) // chunks)
        for start in range(0, len(body), step):
            self.wfile.write(body[start : start + step])
            self.wfile.flush()
            time.sleep(pause)


class LocalServer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), partial(CountingHandler, directory=str(directory))
        )
        self.httpd.requests = Counter()
        self.httpd.lock = threading.Lock()
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=partial(self.httpd.serve_forever, poll_interval=0.05), daemon=True
        )

    @property
    def requests(self) -> Counter:
        return self.httpd.requests

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("ELMO_TASKS_CACHE", str(directory))
    for name in (
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return directory


@pytest.fixture()
def server(tmp_path, data_dir) -> LocalServer:
    """Serves small.bin and, when the ELMo fixture is there, its options.json and lm_weights.hdf5."""
    served = tmp_path / "served"
    served.mkdir()
    for name in ("options.json", "lm_weights.hdf5"):
        source = data_dir / "elmo_fixture" / name
        if source.is_file():
            shutil.copyfile(source, served / name)
    (served / "small.bin").write_bytes(SMALL_CONTENT)
    local = LocalServer(served)
    local.thread.start()
    yield local
    local.httpd.shutdown()
    local.httpd.server_close()
    local.thread.join(timeout=5)


def cached_files(cache: Path) -> list[Path]:
    """Files in the cache other than lock files."""
    if not cache.exists():
        return []
    return sorted(p for p in cache.iterdir() if not p.name.endswith(".lock"))


# --------------------------------------------------------------------------- downloads


def test_download_once_then_from_cache(cache, server):
    url = server.url("small.bin")
    path = download(url, progress=False)
    assert path.parent == cache
    assert path.read_bytes() == SMALL_CONTENT
    assert server.requests["/small.bin"] == 1
    again = download(url, progress=False)
    assert again == path
    assert server.requests["/small.bin"] == 1, "the second call must not make a request"
    assert resolve(url, "options") == path
    assert server.requests["/small.bin"] == 1


def test_sha256_fragment_checked(cache, server):
    url = server.url("small.bin")
    with pytest.raises(DownloadError, match="SHA-256"):
        download(f"{url}#sha256={'0' * 64}", progress=False)
    assert cached_files(cache) == []
    good = download(f"{url}#sha256={hashlib.sha256(SMALL_CONTENT).hexdigest()}", progress=False)
    assert good.read_bytes() == SMALL_CONTENT


def test_truncated_response_raises_and_caches_nothing(cache, server):
    with pytest.raises(DownloadError, match=r"got 1000 bytes"):
        download(server.url("truncated.bin"), progress=False)
    assert cached_files(cache) == []


def test_truncated_chunked_response_raises_and_caches_nothing(cache, server):
    with pytest.raises(DownloadError, match="truncated-chunked.bin"):
        download(server.url("truncated-chunked.bin"), progress=False)
    assert cached_files(cache) == []


def test_wrong_md5_etag_raises(cache, server):
    with pytest.raises(DownloadError, match="ETag"):
        download(server.url("bad-etag.bin"), progress=False)
    assert cached_files(cache) == []


def test_matching_md5_etag_accepted(cache, server):
    path = download(server.url("good-etag.bin"), progress=False)
    assert path.read_bytes() == SMALL_CONTENT


def test_http_error_raises_download_error(cache, server):
    with pytest.raises(DownloadError, match="missing.bin"):
        download(server.url("missing.bin"), progress=False)
    assert cached_files(cache) == []


def test_corrupted_cache_file_is_downloaded_again(cache, server):
    url = server.url("small.bin")
    path = download(url, progress=False)
    corrupted = bytearray(path.read_bytes())
    corrupted[100:110] = b"\xff" * 10
    path.write_bytes(bytes(corrupted))
    assert path.read_bytes() != SMALL_CONTENT
    again = download(url, progress=False)
    assert again == path
    assert again.read_bytes() == SMALL_CONTENT
    assert server.requests["/small.bin"] == 2


def test_concurrent_downloads_of_the_same_url(cache, server):
    url = server.url("slow.bin")
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def worker(index: int) -> None:
        barrier.wait()
        try:
            results[index] = download(url, progress=False)
        except Exception as error:  # reported below
            results[index] = error

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert all(isinstance(r, Path) for r in results), results
    assert results[0] == results[1]
    assert results[0].read_bytes() == SMALL_CONTENT
    assert server.requests["/slow.bin"] == 1
    assert [p.name for p in cached_files(cache)] == [results[0].name, results[0].name + ".sha256"]


def test_elmo_bilm_from_urls(cache, server, elmo_fixture_dir):
    model = ElmoBiLm(server.url("options.json"), server.url("lm_weights.hdf5"))
    assert server.requests["/options.json"] == 1 and server.requests["/lm_weights.hdf5"] == 1
    local = ElmoBiLm(elmo_fixture_dir / "options.json", elmo_fixture_dir / "lm_weights.hdf5")
    ids = batch_to_ids([["Loaded", "over", "HTTP", "."]])
    for a, b in zip(model(ids)["activations"], local(ids)["activations"]):
        assert torch.equal(a, b)
    # A second model comes from the cache.
    ElmoBiLm(server.url("options.json"), server.url("lm_weights.hdf5"))
    assert server.requests["/options.json"] == 1 and server.requests["/lm_weights.hdf5"] == 1


# --------------------------------------------------------------------------- presets and paths

PUBLISHED = {
    "small": "2x1024_128_2048cnn_1xhighway",
    "medium": "2x2048_256_2048cnn_1xhighway",
    "original": "2x4096_512_2048cnn_2xhighway",
    "original_5.5B": "2x4096_512_2048cnn_2xhighway_5.5B",
}


def test_preset_urls():
    assert PRESETS["small"].url("options") == (
        "https://allennlp.s3.amazonaws.com/models/elmo/2x1024_128_2048cnn_1xhighway/"
        "elmo_2x1024_128_2048cnn_1xhighway_options.json"
    )
    assert PRESETS["small"].url("weights") == (
        "https://allennlp.s3.amazonaws.com/models/elmo/2x1024_128_2048cnn_1xhighway/"
        "elmo_2x1024_128_2048cnn_1xhighway_weights.hdf5"
    )
    for name, directory in PUBLISHED.items():
        base = f"https://allennlp.s3.amazonaws.com/models/elmo/{directory}/elmo_{directory}"
        assert PRESETS[name].url("options") == f"{base}_options.json"
        assert PRESETS[name].url("weights") == f"{base}_weights.hdf5"


def test_resolve_maps_preset_names_to_urls(monkeypatch, tmp_path):
    requested = []

    def fake_download(url, *args, **kwargs):
        requested.append(url)
        return tmp_path / "fake"

    monkeypatch.setattr(hub, "download", fake_download)
    assert resolve("medium", "options") == tmp_path / "fake"
    assert resolve("original_5.5B", "weights") == tmp_path / "fake"
    assert requested == [
        "https://allennlp.s3.amazonaws.com/models/elmo/2x2048_256_2048cnn_1xhighway/"
        "elmo_2x2048_256_2048cnn_1xhighway_options.json",
        "https://allennlp.s3.amazonaws.com/models/elmo/2x4096_512_2048cnn_2xhighway_5.5B/"
        "elmo_2x4096_512_2048cnn_2xhighway_5.5B_weights.hdf5",
    ]


def test_resolve_missing_local_path(tmp_path):
    missing = tmp_path / "no_such_options.json"
    with pytest.raises(FileNotFoundError) as error:
        resolve(missing, "options")
    assert str(missing) in str(error.value)


def test_resolve_local_and_home_paths(tmp_path, monkeypatch):
    target = tmp_path / "options.json"
    target.write_text("{}")
    assert resolve(target, "options") == target
    assert resolve(str(target), "options") == target
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve("~/options.json", "options") == target


# --------------------------------------------------------------------------- pinned presets

ORIGINAL_OPTIONS = "elmo_2x4096_512_2048cnn_2xhighway_options.json"


def test_a_preset_file_of_another_size_is_refused_without_etag_or_sha256(cache, server):
    """The published `original` options file has 336 bytes: a copy of another size, served
    with neither an ETag nor a #sha256 (all the checks there were), is refused."""
    tampered = b'{"lstm": {"dim": 4096}, "evil": true}'
    (Path(server.directory) / ORIGINAL_OPTIONS).write_bytes(tampered)
    with pytest.raises(DownloadError, match=r"not the published one \(it announces 37 bytes, "):
        download(server.url(ORIGINAL_OPTIONS), progress=False)
    assert cached_files(cache) == []


def test_pins_checked_after_the_download_and_on_reuse(cache, server, monkeypatch):
    """A pinned size and SHA-256 (here of the served file): a same-size copy with one byte
    changed is refused after download, the real one accepted, and a cached copy that no
    longer matches the pin is fetched again."""
    good = SMALL_CONTENT
    bad = bytes([good[0] ^ 1]) + good[1:]
    monkeypatch.setitem(
        hub.PINS, "pinned.bin", hub.Pin(size=len(good), sha256=hashlib.sha256(good).hexdigest())
    )
    served = Path(server.directory) / "pinned.bin"
    served.write_bytes(bad)
    with pytest.raises(DownloadError, match=r"not the published file: its SHA-256 is "):
        download(server.url("pinned.bin"), progress=False)
    assert cached_files(cache) == []
    served.write_bytes(good)
    path = download(server.url("pinned.bin"), progress=False)
    assert path.read_bytes() == good
    monkeypatch.setitem(hub.PINS, "pinned.bin", hub.Pin(size=len(good) + 1))
    with pytest.raises(DownloadError, match=r"it announces 16384 bytes, the published file 16385"):
        download(server.url("pinned.bin"), progress=False)  # the cached copy is not reused


def test_the_original_preset_is_pinned_to_its_published_sizes():
    assert hub.pin_for(PRESETS["original"].url("options")) == hub.Pin(size=336)
    assert hub.pin_for(PRESETS["original"].url("weights")) == hub.Pin(size=374_434_792)
    assert hub.pin_for("https://example.org/weights.hdf5") is None
