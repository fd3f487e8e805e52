"""The README's examples run as written: every ``netsim`` command line and every Python block.

Commands run in a scratch folder holding a copy of topologies/ and tests/golden/, so results and goldens they
write land there.  A command may answer no (exit 1: unreachable, a changed cell) but never fail
to be asked (exit 2) or crash.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from netsim.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, re.S)
COMMANDS = [line.split("  #")[0].strip() for lang, body in BLOCKS if lang == "bash"
            for line in body.splitlines() if line.startswith("netsim ")]
PYTHON = [body for lang, body in BLOCKS if lang == "python"]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "topologies", folder / "topologies")
    shutil.copytree(ROOT / "tests" / "golden", folder / "tests" / "golden")
    return folder


def test_the_readme_has_examples() -> None:
    assert len(COMMANDS) >= 10 and PYTHON


@pytest.mark.parametrize("command", COMMANDS, ids=range(len(COMMANDS)))
def test_readme_command_runs_as_written(command: str, scratch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(scratch)
    result = CliRunner().invoke(main, shlex.split(command)[1:], prog_name="netsim")
    assert result.exit_code in (0, 1), f"{command}\n{result.output}"
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "error:" not in result.stderr, result.stderr


@pytest.mark.parametrize("block", PYTHON, ids=range(len(PYTHON)))
def test_readme_python_runs_as_written(block: str, scratch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(scratch)
    exec(compile(block, "README.md", "exec"), {})  # noqa: S102 - the README is the project's own
