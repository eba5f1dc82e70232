"""Where the documentation is, for messages to point at.

The checkout's ``docs/`` is linked into the package as ``elmo_tasks/docs`` (as ``conf/`` is)
and shipped in the wheel, so a message names a file that exists wherever the package is:
the checkout's ``docs/`` in a checkout or an editable install, the installed copy otherwise.
Messages cite documentation through :func:`doc` only (``tests/test_docs_cited.py`` checks it).
"""

from __future__ import annotations

from pathlib import Path

DOCS_DIR = Path(__file__).resolve().parents[1] / "docs"


def doc(name: str, section: str | None = None) -> str:
    """The path of the documentation file ``name`` (e.g. ``data.md``), with ``section`` (a
    heading in it) when given: ``/…/docs/data.md, section "Layout"``."""
    path = (DOCS_DIR / name).resolve()
    return f'{path}, section "{section}"' if section else str(path)
