"""Docs are tests: every ```bash and ```python block of README.md and docs/*.md runs, as written,
at small sizes (see tests/doc_pages.py for how, and for the doc-test markers).

One test per page runs its blocks in order; the pages run side by side (one per core, up to
four), each in its own folder. A block marked ``<!-- doc-test: skip REASON -->`` is a skipped
test of its own, with the reason. docs/api.md's python blocks run in tests/test_docs_api.py and
docs/extending.md's in tests/test_extending_doc.py;
:func:`test_every_block_is_run_by_exactly_one_test` keeps them in step.
"""

from __future__ import annotations

import os
import runpy
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from tests import doc_pages
from tests.doc_pages import OWNED, PAGES, PROJECT_ROOT, Block, parse
from tests.test_docs_api import blocks as api_blocks
from tests.test_extending_doc import commands_of, files_of

BLOCKS = {page: parse(page) for page in PAGES}
RUN_PAGES = [page for page in PAGES if any(b.owner == "run" for b in BLOCKS[page])]
MARKED = [b for page in PAGES for b in BLOCKS[page] if b.owner == "skip"]


def test_every_block_is_run_by_exactly_one_test():
    """bash and python blocks: marked skip, run here, written as a file (``# file: PATH``), or
    run by the test that owns them (docs/api.md's python blocks, docs/extending.md's blocks:
    :data:`tests.doc_pages.OWNED`), which sees exactly those blocks; every fence says its
    language; markers sit right before a fence; no command hides in an output block."""
    problems = []
    for page, blocks in BLOCKS.items():
        problems += [
            f"{page}:{line}: a doc-test marker not right before a fence"
            for line in doc_pages.stray_markers(page)
        ]
        owned = OWNED.get(page, ("", ()))[1]
        for block in blocks:
            if not block.lang:
                problems.append(f"{block.where}: a fence without a language (bash, text ...)")
            elif block.lang in ("sh", "shell", "console", "shell-session", "py"):
                problems.append(f"{block.where}: write bash or python (text for output)")
            if block.lang not in doc_pages.RUN and any(
                line.startswith("$ ") for line in block.code.splitlines()
            ):
                problems.append(f"{block.where}: a '$ ' command outside a bash block")
            if block.skip is not None and block.lang in owned:
                problems.append(f"{block.where}: its page's own test runs it; no skip marker")
    problems += [
        f"{page}: no '<!-- doc-test: covered-by {test}: ... -->' line saying who runs its blocks"
        for page, (test, _) in OWNED.items()
        if doc_pages.covered_by(page) != test
    ]
    assert not problems, "\n".join(problems)
    api = [b for b in BLOCKS["docs/api.md"] if b.owner == "tests/test_docs_api.py"]
    found = api_blocks((PROJECT_ROOT / "docs" / "api.md").read_text(encoding="utf-8"))
    assert [code.split("\n")[0] for code, _ in found] == [b.code.split("\n")[0] for b in api]
    extending = BLOCKS["docs/extending.md"]
    commands = [
        line.strip()
        for b in extending
        if b.lang == "bash"
        for line in b.code.replace("\\\n", " ").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert commands == commands_of(), (
        "test_extending_doc.py and this test see its commands differently"
    )
    python = [b for b in extending if b.lang == "python"]
    assert all(b.file in files_of() for b in python), "extending.md: python blocks are files"


def test_the_skipped_setup_commands_are_the_ones_ci_runs():
    """README's two set-up commands are marked skip because .ci/run runs them verbatim."""
    setup = runpy.run_path(str(PROJECT_ROOT / ".ci" / "setup_commands.py"))["setup_commands"]
    commands = setup((PROJECT_ROOT / "README.md").read_text(encoding="utf-8"))
    by_code = {b.code.strip(): b for b in BLOCKS["README.md"]}
    for command in commands:
        assert command in by_code and ".ci/run" in (by_code[command].skip or ""), command


def test_parsing_markers_and_a_failing_block_fails(tmp_path):
    text = (
        "# t\n<!-- doc-test: skip needs the network: downloads x -->\n```bash\ncurl x\n```\n"
        "```yaml\n# file: conf/a.yaml\na: 1\n```\n```bash\ntest -f conf/a.yaml\nfalse\n```\n"
    )
    skipped, written, failing = parse("t.md", text)
    assert skipped.owner == "skip" and skipped.skip == "needs the network: downloads x"
    assert written.owner == "file" and written.file == "conf/a.yaml" and written.code == "a: 1\n"
    assert failing.owner == "run"
    data = tmp_path / "data"
    data.mkdir()
    result = doc_pages.run_page("t.md", tmp_path / "root", data, [skipped, written, failing])
    assert len(result.failures) == 1 and "t.md:10 (bash) exited with status 1" in result.failures[0]
    named = Block("t.md", 1, "bash", "python train.py experiment=sst2_baseline\n")
    assert doc_pages.data_sets_named(named.code) == ["sst2"]
    stopped = doc_pages.run_page("t.md", tmp_path / "root2", data, [named])
    assert stopped.stopped and "need sst2, absent from the data folder" in stopped.stopped


@pytest.fixture(scope="module")
def page_runs(request, tmp_path_factory, data_dir: Path) -> dict[str, Future]:
    """The selected pages, started side by side (most blocks first)."""
    selected = {
        item.callspec.params["page"]
        for item in request.session.items
        if item.originalname == "test_doc_page_runs" and hasattr(item, "callspec")
    }
    pages = sorted(selected, key=lambda p: -sum(b.owner == "run" for b in BLOCKS[p]))
    workers = max(1, min(4, os.cpu_count() or 1, len(pages)))
    with ThreadPoolExecutor(workers) as pool:
        futures = {
            page: pool.submit(
                doc_pages.run_page,
                page,
                tmp_path_factory.mktemp(page.replace("/", "_").replace(".", "_")) / "checkout",
                data_dir,
                BLOCKS[page],
            )
            for page in pages
        }
        yield futures
        for future in futures.values():
            future.cancel()


@pytest.mark.slow
@pytest.mark.parametrize("page", RUN_PAGES)
def test_doc_page_runs(page: str, page_runs: dict[str, Future]) -> None:
    result = page_runs[page].result()
    for where, status, seconds in result.ran:
        print(f"{where:28} {status:6} {seconds:6.1f} s")
    assert not result.failures, "\n\n".join(result.failures)
    if result.stopped:
        pytest.skip(result.stopped)


@pytest.mark.parametrize("block", MARKED, ids=[b.where for b in MARKED])
def test_marked_block(block: Block) -> None:
    pytest.skip(f"{block.where}: {block.skip}")
