"""Print one of README.md's set-up commands, as written, for .ci/run to execute.

The first two fenced bash blocks of README.md's "## Set up" section are the set-up commands:
the first installs the package and runs the quickstart, the second runs the test suite. CI runs them verbatim so
that a command a newcomer copies is the command that was tested.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


def setup_commands(readme: str) -> list[str]:
    section = re.search(r"^## Set up\n(.*?)(?=^## )", readme, flags=re.S | re.M)
    if section is None:
        raise SystemExit("README.md has no '## Set up' section")
    blocks = re.findall(r"^```bash\n(.*?)^```", section.group(1), flags=re.S | re.M)
    if len(blocks) < 2:
        raise SystemExit(f"README.md's '## Set up' has {len(blocks)} bash blocks; expected 2")
    return [block.strip() for block in blocks[:2]]


if __name__ == "__main__":
    index = int(sys.argv[1])
    print(setup_commands(Path("README.md").read_text(encoding="utf-8"))[index])
