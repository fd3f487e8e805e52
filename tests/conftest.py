"""Shared fixtures: bundled topologies, golden files, and the --update-golden switch."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

# Property tests explore the same examples on every run: a red CI run can be reproduced.
settings.register_profile("netsim", derandomize=True, deadline=None)
settings.load_profile("netsim")

ROOT = Path(__file__).resolve().parent.parent
TOPOLOGIES = sorted((ROOT / "topologies").glob("*.yaml"))
GOLDEN = Path(__file__).resolve().parent / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite tests/golden/* from the current simulator instead of comparing")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))
