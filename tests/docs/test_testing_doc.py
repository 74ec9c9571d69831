"""docs/testing.md promises a complete example that the test suite runs: this runs it.

Every ```python block of the page is written to a fresh directory as its own test module and
run by a separate pytest, which loads `ektp_sync.testing` through its entry point exactly as a
user's project would (no conftest, none of this repository's pytest settings: the settings the
page recommends instead).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
SETTINGS = re.compile(r"^```toml\n(\[tool\.pytest\.ini_options\].*?)^```", re.MULTILINE | re.DOTALL)
PASSED = re.compile(r"(\d+) passed")

pytestmark = pytest.mark.integration


def python_blocks(markdown: str) -> list[str]:
    return BLOCK.findall(markdown)


def test_block_extraction_finds_fenced_python_only() -> None:
    page = "text\n```python\nx = 1\n```\n```sh\nls\n```\n```python\ny = 2\n```\n"
    assert python_blocks(page) == ["x = 1\n", "y = 2\n"]


def test_the_documented_example_runs_and_passes(tmp_path: Path) -> None:
    blocks = python_blocks(DOC.read_text(encoding="utf-8"))
    assert blocks, f"no python block in {DOC}"
    for number, code in enumerate(blocks):
        (tmp_path / f"test_doc_block_{number}.py").write_text(code, encoding="utf-8")
    # the settings the page recommends, as a project of its own: that also stops pytest from
    # finding this repository's settings upwards
    settings = SETTINGS.findall(DOC.read_text(encoding="utf-8"))
    assert len(settings) == 1, f"no single [tool.pytest.ini_options] block in {DOC}"
    (tmp_path / "pyproject.toml").write_text(settings[0], encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    # the inner run gets its own temp root: pytest prunes old numbered dirs under a shared one
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA"]
    command += [f"--basetemp={tmp_path / 'basetemp'}", str(tmp_path)]
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=280
    )
    report = done.stdout[-6000:] + done.stderr[-2000:]
    assert done.returncode == 0, report
    passed = PASSED.search(done.stdout)
    assert passed and int(passed.group(1)) == len(blocks), report
